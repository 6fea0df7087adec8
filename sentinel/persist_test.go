package sentinel_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
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

func TestJudgeStateRoundTripGivesTheSameVerdicts(t *testing.T) {
	cfg := sentinel.JudgeConfig{EnableShadow: true, Errors: sentinel.ErrorConfig{Tolerance: 3}}
	a, err := sentinel.NewJudge(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	look := func() sentinel.Look {
		cand, base := int64(20+rng.IntN(20)), int64(200+rng.IntN(50))
		lat := func(n int64, shift int) sentinel.Histogram {
			b := []float64{0.001, 0.002, 0.004, 0.008}
			c := make([]uint64, len(b)+1)
			for range n {
				c[min(rng.IntN(3)+shift, len(b))]++
			}
			return sentinel.Histogram{Bounds: b, Counts: c}
		}
		return sentinel.Look{
			Candidate: sentinel.Figures{Calls: cand, Errors: int64(rng.IntN(3)), Latency: lat(cand, 1)},
			Baseline:  sentinel.Figures{Calls: base, Errors: int64(rng.IntN(3)), Latency: lat(base, 0)},
			Shadow:    sentinel.ShadowFigures{Comparisons: 10, Mismatches: int64(rng.IntN(2))},
		}
	}
	for range 5 {
		require.NoError(t, a.Observe(look()))
	}
	a.BeginStep()
	require.NoError(t, a.Observe(look()))

	b, err := sentinel.NewJudge(cfg)
	require.NoError(t, err)
	require.NoError(t, b.Restore(roundTrip(t, a.State())))
	assert.Equal(t, a.Verdict(), b.Verdict())
	assert.Equal(t, a.State(), b.State())
	for range 20 {
		l := look()
		require.NoError(t, a.Observe(l))
		require.NoError(t, b.Observe(l))
		require.Equal(t, a.Verdict(), b.Verdict(), "the restored judge goes on exactly as the original")
	}
	assert.Equal(t, sentinel.Fail, a.Verdict().Outcome, "the slower candidate is caught, by both")
}

func TestJudgeRestoreRejectsWhatDoesNotFit(t *testing.T) {
	j, err := sentinel.NewJudge(sentinel.JudgeConfig{})
	require.NoError(t, err)
	require.NoError(t, j.Observe(sentinel.Look{Candidate: sentinel.Figures{Calls: 10, Errors: 1}, Baseline: sentinel.Figures{Calls: 90}}))
	good := j.State()
	before := j.Verdict()

	for name, tc := range map[string]struct {
		edit func(*sentinel.JudgeState)
		want string
	}{
		"another alpha":  {func(s *sentinel.JudgeState) { s.Budget.Errors /= 2 }, "JudgeState.Budget"},
		"errors > calls": {func(s *sentinel.JudgeState) { s.Errors.CandErrors = 11 }, "JudgeState.Errors.CandErrors = 11 exceeds CandCalls = 10"},
		"negative calls": {func(s *sentinel.JudgeState) { s.Errors.BaseCalls = -1 }, "JudgeState.Errors.BaseCalls = -1"},
		"failed later":   {func(s *sentinel.JudgeState) { s.Errors.FailedAt = 7 }, "JudgeState.Errors.FailedAt = 7, want 0..Looks (1)"},
		"grid":           {func(s *sentinel.JudgeState) { s.Errors.Harm = s.Errors.Harm[1:] }, "JudgeState.Errors.Harm has 7 components"},
		"not finite":     {func(s *sentinel.JudgeState) { s.Errors.LogE = math.Inf(1) }, "JudgeState.Errors.LogE = +Inf"},
		"no latency":     {func(s *sentinel.JudgeState) { s.Latency = nil }, "JudgeState.Latency present = false"},
		"shadow extra":   {func(s *sentinel.JudgeState) { s.Shadow = &sentinel.ShadowTestState{} }, "JudgeState.Shadow present = true"},
		"latency sum": {func(s *sentinel.JudgeState) {
			l := *s.Latency
			l.CandN = 5
			s.Latency = &l
		}, "JudgeState.Latency.BoundsSet = false with 0 bounds and 5+0 samples"},
	} {
		t.Run(name, func(t *testing.T) {
			st := roundTrip(t, good)
			tc.edit(&st)
			err := j.Restore(st)
			require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, before, j.Verdict(), "a rejected state leaves the judge alone")
		})
	}
}

// persistJudge is the judge of persistRig's sentinel.
var persistJudge = sentinel.JudgeConfig{Errors: sentinel.ErrorConfig{MinStepCalls: 100}, Latency: sentinel.LatencyConfig{MinStepCalls: 100}}

// persistRig runs a canary on hand-made windows: five ticks of a healthy
// candidate per step.
func persistRig(t *testing.T) (*rig, *sentinel.Canary) {
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
	require.Equal(t, sentinel.PhaseProgressing, r.s.Phase())
	require.Equal(t, 1, r.s.Step())

	cp := roundTrip(t, r.s.Checkpoint())
	assert.Equal(t, sentinel.PhaseProgressing, cp.Phase)
	assert.Equal(t, "10%", cp.StepName)
	assert.Equal(t, 1000, weightOf(cp.Weights, "canary"))
	require.NotNil(t, cp.Judge)
	assert.Equal(t, 3, cp.Judge.Errors.Looks, "one look a tick")

	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	s2, err := sentinel.Restore(split, r.src, strategy, cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet),
		sentinel.WithJudge(sentinel.JudgeConfig{Errors: sentinel.ErrorConfig{MinStepCalls: 100}, Latency: sentinel.LatencyConfig{MinStepCalls: 100}}))
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
	assert.Equal(t, 2, s2.Step(), "the restored sentinel advanced from step 1 as the original did")
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
		"pending":  {func(c *sentinel.Checkpoint) { c.Phase, c.Step = sentinel.PhasePending, 3 }, "Checkpoint.Step = 3 in the pending phase"},
		"versions": {func(c *sentinel.Checkpoint) { c.Candidate = "green" }, `candidate "green"`},
		"weights":  {func(c *sentinel.Checkpoint) { c.Weights = []balancer.Weight{{Version: "stable", Weight: 9000}} }, "Checkpoint.Weights"},
		"judge":    {func(c *sentinel.Checkpoint) { c.Judge.Errors.StepCalls = -1 }, "JudgeState.Errors.StepCalls = -1"},
		"target":   {func(c *sentinel.Checkpoint) { w := 10001; c.TargetWeight = &w }, "Checkpoint.TargetWeight = 10001"},
		"strategy state": {func(c *sentinel.Checkpoint) { c.Strategy, c.StrategyState = "canary", json.RawMessage(`{}`) },
			`Checkpoint.StrategyState holds the state of strategy "canary", the sentinel's strategy "canary" keeps none`},
		"histogram": {func(c *sentinel.Checkpoint) {
			c.StepWindow.Versions["canary"].Roles[balancer.RolePrimary].Latency.Scale = 99
		}, "Checkpoint.StepWindow"},
	} {
		t.Run(name, func(t *testing.T) {
			cp := roundTrip(t, good)
			tc.edit(&cp)
			split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
			_, err := sentinel.Restore(split, r.src, strategy, cp, sentinel.WithLogger(quiet), sentinel.WithJudge(persistJudge))
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

func TestJudgeRestoreRejectsAnotherConfiguration(t *testing.T) {
	look := sentinel.Look{
		Candidate: sentinel.Figures{Calls: 40, Errors: 1, Latency: sentinel.Histogram{Bounds: []float64{0.01}, Counts: []uint64{30, 10}}},
		Baseline:  sentinel.Figures{Calls: 400, Errors: 3, Latency: sentinel.Histogram{Bounds: []float64{0.01}, Counts: []uint64{320, 80}}},
		Shadow:    sentinel.ShadowFigures{Comparisons: 20, Mismatches: 1},
	}
	base := sentinel.JudgeConfig{EnableShadow: true, Errors: sentinel.ErrorConfig{Tolerance: 2}}
	saved, err := sentinel.NewJudge(base)
	require.NoError(t, err)
	require.NoError(t, saved.Observe(look))
	state := roundTrip(t, saved.State())
	require.NotNil(t, state.Config, "the state records the configuration")
	assert.Equal(t, saved.Config(), *state.Config, "with the defaults filled in")

	for name, tc := range map[string]struct {
		edit func(*sentinel.JudgeConfig)
		want string
	}{
		"errors tolerance": {func(c *sentinel.JudgeConfig) { c.Errors.Tolerance = 3 }, "JudgeState.Config.Errors.Tolerance = 2, this judge's is 3"},
		"latency strict":   {func(c *sentinel.JudgeConfig) { c.Latency.Strict = true }, "JudgeState.Config.Latency.Strict = false, this judge's is true"},
		"shadow tolerance": {func(c *sentinel.JudgeConfig) { c.Shadow.Tolerance = 0.012 }, "JudgeState.Config.Shadow.Tolerance = 0.01, this judge's is 0.012"},
		"errors min calls": {func(c *sentinel.JudgeConfig) { c.Errors.MinCalls = 80 }, "JudgeState.Config.Errors.MinCalls = 50, this judge's is 80"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			j, err := sentinel.NewJudge(cfg)
			require.NoError(t, err)
			before := j.State()
			err = j.Restore(state)
			require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, before, j.State(), "a rejected state leaves the judge alone")
		})
	}

	t.Run("the same configuration, defaults spelled out", func(t *testing.T) {
		cfg := base
		cfg.Alpha, cfg.Errors.MinCalls, cfg.Shadow.Tolerance = 0.01, 50, 0.01
		j, err := sentinel.NewJudge(cfg)
		require.NoError(t, err)
		require.NoError(t, j.Restore(state))
		assert.Equal(t, saved.Verdict(), j.Verdict())
	})

	t.Run("a state from before the configuration was kept", func(t *testing.T) {
		b, err := json.Marshal(saved.State())
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &m))
		delete(m, "config")
		b, err = json.Marshal(m)
		require.NoError(t, err)
		var old sentinel.JudgeState
		require.NoError(t, json.Unmarshal(b, &old))

		j, err := sentinel.NewJudge(base)
		require.NoError(t, err)
		require.NoError(t, j.Restore(old), "it is read as before: budget and shapes")
		assert.Equal(t, saved.Verdict(), j.Verdict())
	})
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
	cp.TargetWeight = nil // as a checkpoint from before it was kept

	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	s, err := sentinel.Restore(split, r.src, mustCanary(t), cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet), sentinel.WithDryRun(true))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s = s
	var e sentinel.Event
	for i := 0; i < 100 && e.Action != sentinel.ActionAdvance; i++ {
		e = tick()
	}
	require.Equal(t, sentinel.ActionAdvance, e.Action, e.Reason)
	assert.Equal(t, "50%", e.StepName, "on from 25 %, not from the start")
	assert.Equal(t, 5000, *s.Checkpoint().TargetWeight)
}
