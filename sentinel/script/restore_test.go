package script_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// byWeights is a tick of n calls shared as the split's weights say.
func byWeights(split *balancer.Split, n int64) *telemetry.Window {
	cand := n * int64(split.Weight("canary")) / balancer.TotalWeight
	return window(n-cand, 0, cand, 0, 0.02, 0.02)
}

func TestCanaryScriptTakesACappedStepOnce(t *testing.T) {
	st, err := script.Canary(sentinel.CanaryConfig{Steps: []int{100, 9000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100}, unhurried)
	require.NoError(t, err)
	// "other" keeps 1500 bp: the candidate can have at most 8500.
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 8500}, balancer.Weight{Version: "canary", Weight: 0},
		balancer.Weight{Version: "other", Weight: 1500})
	r := newRigOn(t, split, st)
	var advances []string
	for i := 0; i < 300 && !r.s.Status().Phase.Final() && len(advances) < 3; i++ {
		e := r.tick(byWeights(r.split, 2000))
		if e.Action == sentinel.ActionAdvance {
			advances = append(advances, e.StepName)
			if len(advances) == 1 {
				assert.Equal(t, 8500, r.split.Weight("canary"), "90 % is capped to what other leaves")
				assert.Equal(t, 9000, r.s.Checkpoint().TargetWeight, "the target is the step's weight before capping")
			}
		}
	}
	assert.Equal(t, []string{"90%"}, advances, "the capped step is taken once")
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, "past the last step below 10000 the canary promotes")
	assert.Equal(t, 1500, r.split.Weight("other"), "the other version keeps its weight")
}

func TestBlueGreenScriptRestoredPastTheWarmupIsRejected(t *testing.T) {
	warm := func(context.Context, string) (*warmup.Report, error) { return nil, nil }
	s, err := script.BlueGreen(sentinel.BlueGreenConfig{Warmup: warm})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	target := balancer.TotalWeight
	// A blue/green rollout in its rollback window, saved by the Go strategy.
	cp := sentinel.Checkpoint{Position: sentinel.Position{Baseline: "stable", Candidate: "canary", Phase: sentinel.PhaseProgressing, Step: 2, StepName: plan.StepCutover, StepStart: now, Started: now.Add(-time.Minute), TargetWeight: target, Weights: []balancer.Weight{{Version: "stable", Weight: 0}, {Version: "canary", Weight: 10000}}}, Strategy: "bluegreen", StrategyState: json.RawMessage(`{"stage":"cutover"}`)}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	src := new(sentineltest.Source)
	sen, err := sentinel.New(split, src, s, sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { sen.Close() })
	err = sen.Restore(cp)
	require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
	assert.ErrorContains(t, err, `Checkpoint.Strategy = "bluegreen": the sentinel's strategy is "bluegreen.star"`)

	cp.Strategy, cp.StrategyState = "", nil
	err = sen.Restore(cp)
	require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
	assert.ErrorContains(t, err, "past the warm-up, and the checkpoint holds no blue/green state")
	assert.Equal(t, 0, split.Weight("canary"), "nothing moved")
}
