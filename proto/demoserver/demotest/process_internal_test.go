package demotest

import (
	"fmt"
	"runtime"
	"syscall"
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
	assert.Contains(t, tb.msg, `-fleet "canary=1:errors=0,latency=-1ms,price=0,extra=0,failafter=0": fault "latency=-1ms": latency -1ms is negative`,
		"demofleet's own error, from its standard error")
}

// TestFleetProcessBoundsTheWaitForTheTarget gives startFleetProcess
// children that would exit by themselves, successfully, 30 s later: the
// errors say they were killed by a signal, which only the kill can do.
func TestFleetProcessBoundsTheWaitForTheTarget(t *testing.T) {
	_, err := startFleetProcess("sh", []string{"-c", "exec sleep 30"}, 200*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ninelives: demofleet printed no target within 200ms; killed it (signal: killed);")
	assert.Contains(t, err.Error(), "it wrote nothing on its standard error")

	_, err = startFleetProcess("sh", []string{"-c", "echo hello; exec sleep 30"}, TargetTimeout)
	assert.ErrorContains(t, err, `printed "hello\n", want "target: …"; killed it (signal: killed);`)
}

// stopWithin runs p.stop, failing the test (after killing p's process)
// if it has not returned within a minute: the stops tested here return at
// once or after a short grace.
func stopWithin(t *testing.T, p *fleetProcess) {
	t.Helper()
	stopped := make(chan struct{})
	go func() {
		p.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-stopped
		t.Fatal("stop did not end the process")
	}
}

// TestStopKillsAFleetThatIgnoresItsStandardInput stops a fake demofleet
// that goes on after its standard input closes: stop kills it once the
// grace is over, and reaps it.
func TestStopKillsAFleetThatIgnoresItsStandardInput(t *testing.T) {
	p, err := startFleetProcess("sh", []string{"-c", "echo target: fake; exec sleep 3600"}, TargetTimeout)
	require.NoError(t, err)
	require.Equal(t, "fake", p.target)
	assert.Equal(t, StopGrace, p.grace)
	p.grace = 100 * time.Millisecond
	stopWithin(t, p)
	st := p.cmd.ProcessState
	require.NotNil(t, st, "stop waited for the process")
	ws, ok := st.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed, not %v", st)
	assert.ErrorIs(t, syscall.Kill(st.Pid(), 0), syscall.ESRCH, "the process is gone")
}

// TestStopLetsAFleetEndByItself stops a fake demofleet that ends when its
// standard input closes, as demofleet does: it is not killed.
func TestStopLetsAFleetEndByItself(t *testing.T) {
	p, err := startFleetProcess("sh", []string{"-c", "echo target: fake; exec cat >/dev/null"}, TargetTimeout)
	require.NoError(t, err)
	stopWithin(t, p)
	require.NotNil(t, p.cmd.ProcessState, "stop waited for the process")
	assert.True(t, p.cmd.ProcessState.Success(), "exited by itself: %v", p.cmd.ProcessState)
}

func TestFleetArgs(t *testing.T) {
	assert.Equal(t, []string{"-fleet", "canary=2:errors=0.05,latency=5ms,price=3,extra=4,failafter=2,hang"},
		fleetArgs([]demoserver.VersionSpec{{Version: "canary", Count: 2,
			Faults: demoserver.Faults{ErrorRate: 0.05, Latency: 5 * time.Millisecond, PriceDelta: 3, ExtraItems: 4, FailAfterItems: 2, Hang: true}}}))
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("def"))
	assert.Equal(t, "cdef", b.String())
}
