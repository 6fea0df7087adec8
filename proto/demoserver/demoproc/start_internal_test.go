package demoproc

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartBoundsTheWaitForTheTarget gives start children that would exit
// by themselves, successfully, 30 s later: the errors say they were killed
// by a signal, which only the kill can do.
func TestStartBoundsTheWaitForTheTarget(t *testing.T) {
	_, err := start("sh", []string{"-c", "exec sleep 30"}, 200*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ninelives: demofleet printed no target within 200ms; killed it (signal: killed);")
	assert.Contains(t, err.Error(), "it wrote nothing on its standard error")

	_, err = start("sh", []string{"-c", "echo hello; exec sleep 30"}, TargetTimeout)
	assert.ErrorContains(t, err, `printed "hello\n", want "target: …"; killed it (signal: killed);`)

	_, err = start("sh", []string{"-c", "echo oops >&2; exit 3"}, TargetTimeout)
	assert.ErrorContains(t, err, "exited before it printed its target: sh -c echo oops >&2; exit 3 (exit status 3); its standard error:\noops")
}

// stopWithin runs p.Stop, failing the test (after killing p's process)
// if it has not returned within a minute: the stops tested here return at
// once or after a short grace.
func stopWithin(t *testing.T, p *Process) {
	t.Helper()
	stopped := make(chan struct{})
	go func() {
		p.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-stopped
		t.Fatal("Stop did not end the process")
	}
}

// TestStopKillsAFleetThatIgnoresItsStandardInput stops a fake demofleet
// that goes on after its standard input closes: Stop kills it once the
// grace is over, and reaps it.
func TestStopKillsAFleetThatIgnoresItsStandardInput(t *testing.T) {
	p, err := start("sh", []string{"-c", "echo target: fake; exec sleep 3600"}, TargetTimeout)
	require.NoError(t, err)
	require.Equal(t, "fake", p.Target())
	assert.Equal(t, StopGrace, p.grace)
	p.grace = 100 * time.Millisecond
	stopWithin(t, p)
	assertKilled(t, p)
	p.Kill() // again: nothing left to do
}

func assertKilled(t *testing.T, p *Process) {
	t.Helper()
	st := p.cmd.ProcessState
	require.NotNil(t, st, "the process was reaped")
	ws, ok := st.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed, not %v", st)
	assert.ErrorIs(t, syscall.Kill(st.Pid(), 0), syscall.ESRCH, "the process is gone")
}

// TestStopLetsAFleetEndByItself stops a fake demofleet that ends when its
// standard input closes, as demofleet does: it is not killed.
func TestStopLetsAFleetEndByItself(t *testing.T) {
	p, err := start("sh", []string{"-c", "echo target: fake; exec cat >/dev/null"}, TargetTimeout)
	require.NoError(t, err)
	stopWithin(t, p)
	require.NotNil(t, p.cmd.ProcessState, "Stop waited for the process")
	assert.True(t, p.cmd.ProcessState.Success(), "exited by itself: %v", p.cmd.ProcessState)
}

// TestSetFaultsReadsTheAnswer drives a fake demofleet that answers its
// first command with ok, its second with an error, and exits after reading
// its third.
func TestSetFaultsReadsTheAnswer(t *testing.T) {
	p, err := start("sh", []string{"-c", `echo target: fake; read a; echo ok; read b; echo "error: ninelives: demofleet: $b"; read c`}, TargetTimeout)
	require.NoError(t, err)
	defer p.Stop()
	require.NoError(t, p.SetFaults("canary", demoserver.Faults{ErrorRate: 0.05}))
	err = p.SetFaults("canary", demoserver.Faults{Hang: true})
	assert.EqualError(t, err, "ninelives: demofleet: faults canary errors=0,latency=0s,tail=0,taillatency=0s,price=0,extra=0,failafter=0,hang")
	assert.ErrorContains(t, p.SetFaults("canary", demoserver.Faults{}), "it exited before it answered")
}

func TestKillEndsTheProcessAtOnce(t *testing.T) {
	p, err := start("sh", []string{"-c", "echo target: fake; exec cat >/dev/null"}, TargetTimeout)
	require.NoError(t, err)
	p.Kill()
	assertKilled(t, p)
	p.Stop() // after a kill: returns at once
}

func TestArgs(t *testing.T) {
	assert.Equal(t, []string{"-fleet", "canary=2:errors=0.05,latency=5ms,tail=0.03,taillatency=500ms,price=3,extra=4,failafter=2,hang",
		"-fleet", "stable=2:errors=0,latency=0s,tail=0,taillatency=0s,price=0,extra=0,failafter=0@127.0.0.1:1,127.0.0.1:2"},
		Args([]demoserver.VersionSpec{{Version: "canary", Count: 2,
			Faults: demoserver.Faults{ErrorRate: 0.05, Latency: 5 * time.Millisecond, TailRate: 0.03, TailLatency: 500 * time.Millisecond,
				PriceDelta: 3, ExtraItems: 4, FailAfterItems: 2, Hang: true}},
			{Version: "stable", Count: 2, Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}}))
	assert.Equal(t, []string{"-seed", "7", "-fleet", "canary=1:errors=0,latency=0s,tail=0,taillatency=0s,price=0,extra=0,failafter=0"},
		Args([]demoserver.VersionSpec{{Version: "canary", Count: 1, Seed: 7}}))
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("def"))
	assert.Equal(t, "cdef", b.String())
}
