package sentinel_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// roundTrip encodes v to JSON and decodes it into a fresh value, as a
// checkpoint stored elsewhere comes back.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// restored makes a sentinel with opts and restores cp into it.
func restored(t *testing.T, split *balancer.Split, src telemetry.MetricSource, st sentinel.Strategy, cp sentinel.Checkpoint, opts ...sentinel.Option) (*sentinel.Sentinel, error) {
	t.Helper()
	s, err := sentinel.New(split, src, st, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, s.Restore(cp)
}

// persistJudge is the judge of persistRig's sentinel.
var persistJudge = judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 100}, Latency: judge.LatencyConfig{MinStepCalls: 100}}

// persistRig runs a canary on hand-made windows: five ticks of a healthy
// candidate per step.
func persistRig(t *testing.T) (*rig, sentinel.Strategy) {
	t.Helper()
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000}, MinStepDuration: 3 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	return newRig(t, c, sentinel.WithJudge(persistJudge)), c
}

func TestRestoreCarriesOnTheSameStep(t *testing.T) {
	r, strategy := persistRig(t)
	healthy := window(900, 1, 100, 0, 0.002, 0.002)
	r.src.Set(healthy, nil)
	var ev sentinel.Event
	for range 3 {
		r.clock.Advance(time.Second)
		ev = r.s.Tick(context.Background())
	}
	require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	require.Equal(t, 1, r.s.Status().Step)

	cp := roundTrip(t, r.s.Checkpoint())
	assert.Equal(t, sentinel.PhaseProgressing, cp.Phase)
	assert.Equal(t, "10%", cp.StepName)
	assert.Equal(t, 1000, weightOf(cp.Weights, "canary"))
	require.NotNil(t, cp.Judge)
	assert.Equal(t, 3, cp.Judge.Errors.Looks, "one look a tick")

	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	s2, err := restored(t, split, r.src, strategy, cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet),
		sentinel.WithJudge(judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 100}, Latency: judge.LatencyConfig{MinStepCalls: 100}}))
	require.NoError(t, err)
	t.Cleanup(func() { s2.Close() })
	assert.Equal(t, 1000, split.Weight("canary"), "the weights are the checkpoint's: no jump")
	st := s2.Status()
	assert.Equal(t, cp.StepStart, st.StepStart)
	assert.Equal(t, r.s.Status().Verdict, st.Verdict)

	// Both go on alike, tick for tick.
	for range 6 {
		r.clock.Advance(time.Second)
		ev = r.s.Tick(context.Background())
		ev2 := s2.Tick(context.Background())
		require.Equal(t, ev.Action, ev2.Action, "%s | %s", ev.Reason, ev2.Reason)
		require.Equal(t, ev.Step, ev2.Step)
		require.Equal(t, ev.Weights, ev2.Weights)
	}
	assert.Equal(t, 2, s2.Status().Step, "the restored sentinel advanced from step 1 as the original did")
}

func TestRestoreRejectsABadCheckpoint(t *testing.T) {
	r, strategy := persistRig(t)
	r.src.Set(window(900, 1, 100, 0, 0.002, 0.002), nil)
	for range 2 {
		r.clock.Advance(time.Second)
		r.s.Tick(context.Background())
	}
	good := r.s.Checkpoint()
	require.NotNil(t, good.StepWindow.Versions["canary"])

	for name, tc := range map[string]struct {
		edit func(*sentinel.Checkpoint)
		want string
	}{
		"phase":    {func(c *sentinel.Checkpoint) { c.Phase = "sideways" }, `Checkpoint.Phase = "sideways"`},
		"step":     {func(c *sentinel.Checkpoint) { c.Step = -2 }, "Checkpoint.Step = -2"},
		"pending":  {func(c *sentinel.Checkpoint) { c.Phase, c.Step = sentinel.PhasePending, 3 }, "Checkpoint.Step = 3: want 0 in the pending phase"},
		"versions": {func(c *sentinel.Checkpoint) { c.Candidate = "green" }, `Checkpoint.Candidate = "green": the sentinel's candidate is "canary"`},
		"weights":  {func(c *sentinel.Checkpoint) { c.Weights = []balancer.Weight{{Version: "stable", Weight: 9000}} }, "Checkpoint.Weights"},
		"judge":    {func(c *sentinel.Checkpoint) { c.Judge.Errors.StepCalls = -1 }, "Checkpoint.Judge.Errors.StepCalls = -1"},
		"target":   {func(c *sentinel.Checkpoint) { c.TargetWeight = 10001 }, "Checkpoint.TargetWeight = 10001"},
		"strategy state": {func(c *sentinel.Checkpoint) { c.Strategy, c.StrategyState = "canary", json.RawMessage(`{}`) },
			`Checkpoint.StrategyState: it holds the state of strategy "canary", the sentinel's strategy "canary" keeps none`},
		"histogram": {func(c *sentinel.Checkpoint) {
			c.StepWindow.Versions["canary"].Roles[balancer.RolePrimary].Latency.Scale = 99
		}, "Checkpoint.StepWindow"},
	} {
		t.Run(name, func(t *testing.T) {
			cp := roundTrip(t, good)
			tc.edit(&cp)
			split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
			_, err := restored(t, split, r.src, strategy, cp, sentinel.WithLogger(quiet), sentinel.WithJudge(persistJudge))
			require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, 0, split.Weight("canary"), "nothing moved")
		})
	}
}

func weightOf(ws []balancer.Weight, version string) int {
	for _, w := range ws {
		if w.Version == version {
			return w.Weight
		}
	}
	return -1
}

// A dry run moves no weight, so a checkpoint from before TargetWeight was
// kept holds the weights from before the rollout; the target comes from
// the step's name, and the ladder goes on from there.
func TestRestoreAnOldDryRunCheckpointGoesOnFromItsStep(t *testing.T) {
	r := newRig(t, nil, sentinel.WithDryRun(true))
	tick := func() sentinel.Event { return r.tick(window(1900, 0, 100, 0, 0.02, 0.02)) }
	var steps []string
	for i := 0; i < 100 && len(steps) < 3; i++ {
		if e := tick(); e.Action == sentinel.ActionStart || e.Action == sentinel.ActionAdvance {
			steps = append(steps, e.StepName)
		}
	}
	require.Equal(t, []string{"1%", "5%", "25%"}, steps)
	cp := roundTrip(t, r.s.Checkpoint())
	require.Equal(t, 0, weightOf(cp.Weights, "canary"), "a dry run moves nothing")
	cp.Format, cp.TargetWeight = 0, 0 // as a checkpoint from before it was kept

	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	s, err := restored(t, split, r.src, mustCanary(t), cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet), sentinel.WithDryRun(true))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s = s
	var e sentinel.Event
	for i := 0; i < 100 && e.Action != sentinel.ActionAdvance; i++ {
		e = tick()
	}
	require.Equal(t, sentinel.ActionAdvance, e.Action, e.Reason)
	assert.Equal(t, "50%", e.StepName, "on from 25 %, not from the start")
	assert.Equal(t, 5000, s.Checkpoint().TargetWeight)
}
