package demotest

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// fatalTB records the first Fatal of the code under test and ends its
// goroutine there, as testing.T does; everything else goes to the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestFleetProcessReportsABadSpecWithDemofleetsError(t *testing.T) {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		FleetProcess(tb, demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{Latency: -time.Millisecond}})
	}()
	<-done
	assert.Contains(t, tb.msg, "ninelives: demofleet exited before it printed its target")
	assert.Contains(t, tb.msg, "exit status 1")
	assert.Contains(t, tb.msg, `-fleet "canary=1:errors=0,latency=-1ms,price=0,extra=0": fault "latency=-1ms": latency -1ms is negative`,
		"demofleet's own error, from its standard error")
}

func TestFleetProcessBoundsTheWaitForTheTarget(t *testing.T) {
	_, err := startFleetProcess("sh", []string{"-c", "exec sleep 60"}, 200*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ninelives: demofleet printed no target within 200ms; killed it")
	assert.Contains(t, err.Error(), "it wrote nothing on its standard error")

	_, err = startFleetProcess("sh", []string{"-c", "echo hello; exec sleep 60"}, TargetTimeout)
	assert.ErrorContains(t, err, `printed "hello\n", want "target: …"; killed it`)
}

func TestFleetArgs(t *testing.T) {
	assert.Equal(t, []string{"-fleet", "canary=2:errors=0.05,latency=5ms,price=3,extra=4,hang"},
		fleetArgs([]demoserver.VersionSpec{{Version: "canary", Count: 2,
			Faults: demoserver.Faults{ErrorRate: 0.05, Latency: 5 * time.Millisecond, PriceDelta: 3, ExtraItems: 4, Hang: true}}}))
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("def"))
	assert.Equal(t, "cdef", b.String())
}
