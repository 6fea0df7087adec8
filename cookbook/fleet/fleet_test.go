package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/cookbook/internal/fleetdemo"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runRecipe runs the recipe on a virtual clock: each tick's calls are made
// as fast as they can be, so the assertions are on counts and outcomes.
// edit, if set, changes the options first.
func runRecipe(t *testing.T, reg demo.Regression, kill bool, edit ...func(*fleetdemo.Options)) (*fleetdemo.Result, string) {
	t.Helper()
	var out bytes.Buffer
	opts := fleetdemo.Options{
		Replicas:   5,
		Regression: reg,
		Rate:       100,
		Interval:   time.Second,
		// Long enough that a busy machine's late keep-alives never let a
		// live sentinel's lease expire; a killed one's still does.
		TTL:        3 * time.Second,
		KillLeader: kill,
		Duration:   90 * time.Second,
		Virtual:    true,
		Seed:       7,
		Out:        &out,
		// Far above the demo's 2 s: on a machine at a load of 15 under
		// -race, healthy calls were seen to take more than 2 s.
		CallTimeout: 10 * time.Second,
	}
	for _, e := range edit {
		e(&opts)
	}
	res, err := Run(context.Background(), opts)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	return res, out.String()
}

func TestRegressionIsRolledBackFleetWide(t *testing.T) {
	res, out := runRecipe(t, demo.RegressionErrors, true)
	require.Equal(t, sentinel.PhaseRolledBack, res.Phase, out)

	var rollbacks int
	for _, d := range res.Decisions {
		if d.Event.Action == sentinel.ActionRollback {
			rollbacks++
			if res.LostLeases == 0 { // else a busy machine moved the leadership once more
				assert.Equal(t, "sentinel-b", d.Sentinel, "the standby, leading since the failover, rolled back")
			}
		}
	}
	assert.Equal(t, 1, rollbacks, "one rollback decision for the fleet")
	assert.Equal(t, []int{0, 0, 0, 0, 0}, res.FinalWeights, "every replica at 0 % canary")
	for _, seq := range res.Applied {
		assert.Equal(t, res.Applied[0], seq, "every replica applied the same last state")
	}
	assert.Zero(t, res.TailCanaryCalls, "no canary call after the rollback")
	assert.Positive(t, res.Failed, "the canary's faults failed some calls")
	assert.Positive(t, res.RegressionTick)
	assert.Greater(t, res.RollbackTick, res.RegressionTick)
	assert.LessOrEqual(t, res.RollbackTick-res.RegressionTick, 5, "caught within five ticks of 500 fleet calls")

	// The failover: the standby resumed the step the leader died in.
	assert.Positive(t, res.KilledAt)
	assert.Equal(t, 1, res.StepAtKill)
	assert.Equal(t, res.StepAtKill, res.TakeoverStep)
	assert.Equal(t, 1000, res.TakeoverWeight, "the weights did not jump")
	actions := []sentinel.Action{}
	for _, d := range res.Decisions {
		actions = append(actions, d.Event.Action)
	}
	assert.Equal(t, []sentinel.Action{sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionRollback}, actions,
		"10 %%, 25 %%, rolled back: the rollout did not restart at the failover")

	// Load on etcd: one write per replica per tick, one watch per replica.
	assert.InDelta(t, 1.0, res.WritesPerReplicaTick, 0.15, "a tick without a leader still reports")
	assert.Equal(t, 1.0, res.WatchesPerReplica)
	assert.Zero(t, res.Rejected)
	assert.Contains(t, out, "took over after")
	assert.Contains(t, out, "every replica at 0 % canary")
}

func TestHealthyCanaryIsPromotedFleetWide(t *testing.T) {
	res, out := runRecipe(t, demo.RegressionNone, false)
	require.Equal(t, sentinel.PhasePromoted, res.Phase, out)
	assert.Equal(t, []int{10000, 10000, 10000, 10000, 10000}, res.FinalWeights)
	assert.Zero(t, res.Failed)
	assert.Zero(t, res.KilledAt)
	var actions []sentinel.Action
	for _, d := range res.Decisions {
		actions = append(actions, d.Event.Action)
		if res.LostLeases == 0 { // else a busy machine moved the leadership
			assert.Equal(t, "sentinel-a", d.Sentinel, "no failover without a kill")
		}
	}
	assert.Equal(t, []sentinel.Action{sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionAdvance, sentinel.ActionPromote}, actions)
}

// TestSecondRunAgainstTheSameEtcdStartsAfresh runs the recipe twice
// against one etcd, as `-etcd` does: the second run must not find the
// first one's promoted rollout (it would be promoted at its first tick,
// with every replica at 100 % canary from the start).
func TestSecondRunAgainstTheSameEtcdStartsAfresh(t *testing.T) {
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	defer srv.Stop()
	withEtcd := func(o *fleetdemo.Options) { o.Endpoints = []string{srv.Endpoint()} }

	want := []sentinel.Action{sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionAdvance, sentinel.ActionPromote}
	var prefixes []string
	for run := 1; run <= 2; run++ {
		res, out := runRecipe(t, demo.RegressionNone, false, withEtcd)
		require.Equal(t, sentinel.PhasePromoted, res.Phase, out)
		var actions []sentinel.Action
		for _, d := range res.Decisions {
			actions = append(actions, d.Event.Action)
		}
		assert.Equal(t, want, actions, "run %d goes through every step", run)
		require.NotEmpty(t, res.Decisions)
		assert.Equal(t, 1, res.Decisions[0].Tick, "run %d starts at its first tick", run)
		assert.Equal(t, 1, res.Decisions[0].Event.Step, "run %d starts at step 1", run)
		assert.Contains(t, res.Decisions[0].Event.Weights, balancer.Weight{Version: "canary", Weight: 1000}, "run %d starts at 10 %%", run)
		assert.True(t, strings.HasPrefix(res.Prefix, fleetdemo.BasePrefix+"/"), res.Prefix)
		assert.Contains(t, out, "keys under "+res.Prefix, "the run prints its prefix")
		prefixes = append(prefixes, res.Prefix)
	}
	assert.NotEqual(t, prefixes[0], prefixes[1], "each run has a prefix of its own")

	// A prefix that holds a rollout already is refused, before anything runs.
	_, err = Run(context.Background(), fleetdemo.Options{Endpoints: []string{srv.Endpoint()}, Prefix: prefixes[0],
		Replicas: 1, Rate: 100, Interval: time.Second, TTL: time.Second, Duration: time.Minute, Virtual: true})
	assert.ErrorContains(t, err, "etcd already holds")
	assert.ErrorContains(t, err, "under "+prefixes[0])
}

func TestBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-regression oops": `-regression "oops": want one of none, errors, latency, hang`,
		"-regression diff": `-regression "diff": want one of none, errors, latency, hang (the fleet's replicas make no shadow calls`,
		"-replicas 0":      "-replicas 0, want 1..50",
		"-rate 1":          "-rate 1, want 10..5000",
		"-ttl 1500ms":      "-ttl 1.5s, want whole seconds",
	} {
		err := run(strings.Fields(args), &bytes.Buffer{})
		assert.ErrorContains(t, err, want, args)
	}
}

// cancelOn is the live view of a run that cancels the run's context when
// it prints a line containing what.
type cancelOn struct {
	bytes.Buffer
	what   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.what)) {
		c.cancel()
	}
	return c.Buffer.Write(p)
}

// TestAnInterruptedRunSaysSo cancels the run's context at the first
// decision, as Ctrl-C does: the run stops there, says it was interrupted,
// and the program's error is the shared one.
func TestAnInterruptedRunSaysSo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{what: "START:", cancel: cancel}
	res, err := Run(ctx, fleetdemo.Options{Replicas: 2, Regression: demo.RegressionNone, Rate: 100, Interval: time.Second,
		TTL: 3 * time.Second, Duration: 90 * time.Second, Virtual: true, Seed: 7, Out: out})
	require.NoError(t, err, out.String())
	assert.True(t, res.Interrupted)
	assert.Equal(t, 1, res.Ticks, out.String())
	assert.Equal(t, time.Second, res.Elapsed)
	assert.Equal(t, sentinel.PhaseProgressing, res.Phase)
	assert.Contains(t, out.String(), "The run was interrupted after 1s.")
	assert.EqualError(t, res.Err(), "ninelives: the run was interrupted after 1s, before the rollout finished (phase progressing)")
}
