package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
)

const prefix = "/ninelives/cli"

// fleetRig is five replicas (a Split each, following the rollout state and
// reporting figures) and a leader, on an embedded etcd; the test ticks.
type fleetRig struct {
	t        *testing.T
	endpoint string
	clock    *sentineltest.Clock
	splits   []*balancer.Split
	reps     []*fleet.Reporter
	srcs     []*sentineltest.Source
	leader   *fleet.Leader
}

func newFleetRig(t *testing.T) *fleetRig {
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	f := &fleetRig{t: t, endpoint: srv.Endpoint(), clock: sentineltest.NewClock(time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC))}
	opts := []fleet.Option{fleet.WithClock(f.clock), fleet.WithLogger(quiet)}
	initial := []balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary"}}
	for i := range 5 {
		c, err := fleettest.Client(srv.Endpoint())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		split := balancer.MustSplit(initial...)
		fo, err := fleet.NewFollower(c, prefix, split, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { fo.Close() })
		src := new(sentineltest.Source)
		rep, err := fleet.NewReporter(c, prefix, fmt.Sprintf("replica-%d", i), src, fo, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { rep.Close() })
		require.NoError(t, fo.Start(context.Background()))
		f.splits, f.reps, f.srcs = append(f.splits, split), append(f.reps, rep), append(f.srcs, src)
	}
	c, err := fleettest.Client(srv.Endpoint())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{100, 2500, 10000}, MinStepDuration: time.Hour})
	require.NoError(t, err)
	f.leader, err = fleet.NewLeader(c, prefix, "sentinel-a", initial, strategy, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { f.leader.Close() })
	require.NoError(t, f.leader.Campaign(context.Background()))
	return f
}

// tick is one round: every replica reports, the leader ticks, and the
// replicas apply what it published.
func (f *fleetRig) tick() {
	f.t.Helper()
	f.clock.Advance(time.Second)
	for i, r := range f.reps {
		f.srcs[i].Set(window(f.splits[i]), nil)
		require.NoError(f.t, r.Report(context.Background()))
	}
	_, err := f.leader.Tick(context.Background())
	require.NoError(f.t, err)
	want := f.leader.Status().State
	require.Eventually(f.t, func() bool {
		for _, s := range f.splits {
			if want != nil && !sameWeights(s.Weights(), want.Weights) {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

func sameWeights(a, b []balancer.Weight) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// control runs the command line while the leader ticks, until it returns.
func (f *fleetRig) control(args ...string) result {
	f.t.Helper()
	var out, errOut buffer
	done := make(chan int, 1)
	args = append(args, "--etcd", f.endpoint, "--prefix", prefix)
	go func() {
		done <- run(context.Background(), args, env{out: &out, errOut: &errOut, getenv: getenv()})
	}()
	for range 100 {
		select {
		case code := <-done:
			return result{code, out.String(), errOut.String()}
		case <-time.After(20 * time.Millisecond):
			f.tick()
		}
	}
	f.t.Fatal("the command did not return after 100 ticks")
	return result{}
}

func (f *fleetRig) canaryWeights() []int {
	var out []int
	for _, s := range f.splits {
		out = append(out, s.Weight("canary"))
	}
	return out
}

// The command drives a five-replica fleet in etcd through pause, resume,
// set-weight, promote and abort; each reaches every replica through the
// leader, and a refusal has its exit code.
func TestCLIDrivesAFleet(t *testing.T) {
	f := newFleetRig(t)
	f.tick()
	require.Equal(t, []int{100, 100, 100, 100, 100}, f.canaryWeights())
	etcd := []string{"--etcd", f.endpoint, "--prefix", prefix}

	res := cli(t, append([]string{"status"}, etcd...))
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Contains(t, res.out, "fleet     leader sentinel-a")
	assert.Contains(t, res.out, "5 replicas reporting")
	assert.Contains(t, res.out, "phase     progressing, step 1 of 3 (1%)")

	res = f.control("pause", "--who", "alice", "--reason", "freeze")
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Contains(t, res.out, "pause by alice: the rollout is paused")
	res = f.control("resume", "--who", "alice")
	require.Equal(t, exitOK, res.code, res.errOut)
	res = f.control("resume", "--who", "alice")
	assert.Equal(t, exitRefused, res.code, res.errOut)
	assert.Contains(t, res.errOut, "not paused")
	res = f.control("set-weight", "2500", "--who", "bob")
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, []int{2500, 2500, 2500, 2500, 2500}, f.canaryWeights())
	res = f.control("promote", "--who", "carol")
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, []int{10000, 10000, 10000, 10000, 10000}, f.canaryWeights())
	res = f.control("abort", "--who", "dave")
	assert.Equal(t, exitRefused, res.code, "promoted is final: %s", res.errOut)

	res = cli(t, append([]string{"history", "--limit", "50"}, etcd...))
	require.Equal(t, exitOK, res.code, res.errOut)
	for _, want := range []string{"pause        alice      freeze", "resume       alice", "set_weights  bob", "promote      carol"} {
		assert.Contains(t, res.out, want)
	}
	assert.NotContains(t, res.out, "dave")

	// Another fleet's rollout, aborted on every replica.
	g := newFleetRig(t)
	g.tick()
	res = g.control("abort", "--who", "erin", "--reason", "customer reports")
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, []int{0, 0, 0, 0, 0}, g.canaryWeights())
	assert.Contains(t, res.out, "abort by erin: the rollout is aborted")
}

// A fleet whose leader is gone: the command is withdrawn with its own exit
// code; a fleet that never had one says so.
func TestCLIFleetWithoutLeader(t *testing.T) {
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	etcd := []string{"--etcd", srv.Endpoint(), "--prefix", prefix, "--timeout", "500ms"}
	res := cli(t, append([]string{"pause"}, etcd...))
	assert.Equal(t, exitNotApplied, res.code, res.errOut)
	assert.Contains(t, res.errOut, "withdrawn")
	res = cli(t, append([]string{"status"}, etcd...))
	assert.Equal(t, exitFailed, res.code)
	assert.Contains(t, res.errOut, "no sentinel has led")
}

// status --watch on a fleet shows a change at the tick that makes it:
// the leader commits the status with the change, and the watch redraws.
func TestCLIWatchFleetWithinOneTick(t *testing.T) {
	f := newFleetRig(t)
	f.tick()
	ctx, cancel := context.WithCancel(context.Background())
	var out buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"status", "--watch", "--interval", "1h", "--etcd", f.endpoint, "--prefix", prefix},
			env{out: &out, errOut: io.Discard, getenv: getenv()})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "phase     progressing") }, 10*time.Second, 5*time.Millisecond)
	_, err := f.leader.Controller().Issue(context.Background(), fleet.Command{Action: sentinel.ActionPause, Who: "frank"})
	require.NoError(t, err)
	f.tick() // one tick: the leader applies the pause and commits the status
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "phase     paused") }, 10*time.Second, 5*time.Millisecond,
		"the watch shows the pause before the next tick")
	cancel()
	assert.Equal(t, exitOK, <-done)
}
