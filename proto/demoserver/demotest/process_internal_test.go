package demotest

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
	assert.Contains(t, tb.msg, `-fleet "canary=1:errors=0,latency=-1ms,tail=0,taillatency=0s,price=0,extra=0,failafter=0": fault "latency=-1ms": latency -1ms is negative`,
		"demofleet's own error, from its standard error")
}
