package sentinel_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestPlansNameEachStepWithItsGate(t *testing.T) {
	c := sentinel.CanaryConfig{Steps: []int{100, 2500}, MinStepDuration: 30 * time.Second, MinStepCalls: 500}
	assert.Equal(t, []plan.Step{
		{Name: "1%", MinDuration: 30 * time.Second, MinCalls: 500, Test: plan.TestJudge},
		{Name: "25%", MinDuration: 30 * time.Second, MinCalls: 500, Test: plan.TestJudge},
		{Name: "100%"},
	}, c.Plan(), "the last step is the promotion")
	assert.Nil(t, sentinel.CanaryConfig{Steps: []int{5000, 100}}.Plan(), "a bad config has no plan")

	g := newWarmGate(true, "ok")
	bg := blueGreenCfg(g)
	assert.Equal(t, []plan.Step{
		{Name: plan.StepWarmup, Test: judge.TestWarmup},
		{Name: plan.StepCutover, MinDuration: 10 * time.Second, MinCalls: 200, Test: judge.TestWindow},
	}, bg.Plan(), "no shadow, no shadow step")
	bg.Shadow = nopShadow{}
	assert.Equal(t, []string{plan.StepWarmup, plan.StepShadow, plan.StepCutover}, planNames(bg.Plan()))
	assert.Equal(t, 5*time.Second, bg.Plan()[1].MinDuration)
	assert.Equal(t, judge.TestShadow, bg.Plan()[1].Test)

	r, _ := newBlueGreen(t, blueGreenCfg(g))
	assert.Equal(t, blueGreenCfg(g).Plan(), r.s.Status().Plan, "the strategy's plan is in the status")
}

type nopShadow struct{}

func (nopShadow) SetCandidate(string) error { return nil }
func (nopShadow) SetRate(float64) error     { return nil }

// Each step the rollout leaves is recorded with its calls, its time and
// the decision that ended it with its verdict: the judge's pass for an
// advance, its fail for the rollback that ends the last.
func TestStatusRecordsEachStepWithTheVerdictThatEndedIt(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	for i := 0; i < 100 && r.s.Status().Step < 3; i++ {
		r.tick(healthy())
	}
	require.Equal(t, 3, r.s.Status().Step)
	for i := 0; i < 30 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		r.tick(window(900, 4, 100, 5, 0.02, 0.02))
	}
	st := r.s.Status()
	require.Equal(t, sentinel.PhaseRolledBack, st.Phase)
	require.Len(t, st.Steps, 3)
	for i, s := range st.Steps {
		assert.Equal(t, i+1, s.Step)
		assert.Equal(t, st.Plan[i].Name, s.Name, "the steps follow the plan")
		assert.Positive(t, s.Calls, "step %d's candidate calls", s.Step)
		assert.True(t, s.End.After(s.Start), "step %d lasted", s.Step)
		assert.Equal(t, "sentinel", s.Who)
		require.NotNil(t, s.Verdict)
	}
	for _, s := range st.Steps[:2] {
		assert.Equal(t, sentinel.ActionAdvance, s.EndedBy)
		assert.Equal(t, judge.Pass, s.Verdict.Outcome)
		assert.GreaterOrEqual(t, s.End.Sub(s.Start), 10*time.Second, "the step's minimum duration")
	}
	last := st.Steps[2]
	assert.Equal(t, sentinel.ActionRollback, last.EndedBy)
	assert.Equal(t, judge.Fail, last.Verdict.Outcome)
	assert.Equal(t, judge.TestErrors, last.Verdict.Test, "the test that decided")
	assert.Equal(t, st.Steps[1].End, last.Start, "a step begins as the one before ends")
}

// A step left by hand is recorded too: a manual weight ends the step it
// leaves, and an abort the last.
func TestManualControlsEndStepsToo(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	r.tick(healthy())
	require.NoError(t, r.s.SetWeight(t.Context(), "alice", "", 2000))
	r.tick(healthy())
	require.NoError(t, r.s.Abort(t.Context(), "bob", "enough"))
	st := r.s.Status()
	require.Len(t, st.Steps, 2)
	assert.Equal(t, sentinel.ActionSetWeights, st.Steps[0].EndedBy)
	assert.Equal(t, "alice", st.Steps[0].Who)
	assert.Equal(t, "20%", st.Steps[1].Name)
	assert.Equal(t, sentinel.ActionAbort, st.Steps[1].EndedBy)
	assert.Equal(t, "bob", st.Steps[1].Who)
}

// Blue/green's steps end on the verdicts of its own gates, and while green
// is in the rollback window the status shows the window's verdict: its
// tests, which decide the step, not the judge's, which has no blue calls.
func TestBlueGreenStatusShowsTheRollbackWindowsVerdict(t *testing.T) {
	r, _, _ := cutOver(t)
	st := r.s.Status()
	require.Len(t, st.Steps, 1)
	assert.Equal(t, plan.StepWarmup, st.Steps[0].Name)
	require.NotNil(t, st.Steps[0].Verdict)
	assert.Equal(t, judge.TestWarmup, st.Steps[0].Verdict.Test, "the warm-up decided its step")
	assert.Equal(t, judge.Pass, st.Steps[0].Verdict.Outcome)
	assert.Nil(t, st.StepVerdict, "no verdict of the window before its first tick")

	r.tick(greenOnly(100, 0, 0.02))
	st = r.s.Status()
	require.NotNil(t, st.StepVerdict)
	assert.Equal(t, judge.TestWindow, st.StepVerdict.Test)
	assert.Equal(t, judge.Inconclusive, st.StepVerdict.Outcome, "100 of 200 calls")
	assert.Equal(t, []string{judge.TestErrors, judge.TestLatency}, testNames(st.StepVerdict.Tests))
	assert.Equal(t, st.StepVerdict, st.LastDecision.Verdict, "the hold carries it")

	for i := 0; i < 20 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		r.tick(greenOnly(100, 8, 0.02))
	}
	st = r.s.Status()
	require.Equal(t, sentinel.PhaseRolledBack, st.Phase)
	last := st.Steps[len(st.Steps)-1]
	assert.Equal(t, plan.StepCutover, last.Name)
	assert.Equal(t, sentinel.ActionRollback, last.EndedBy)
	require.NotNil(t, last.Verdict)
	assert.Equal(t, judge.Fail, last.Verdict.Outcome)
	assert.Equal(t, judge.TestErrors, last.Verdict.Test, "the window's error test decided, not the judge")
}

// Judged against blue over the same seconds, the window's verdict holds
// the judge's tests, and passes once the window has its calls.
func TestBlueGreenSameSecondsWindowVerdict(t *testing.T) {
	g := newWarmGate(true, "ok")
	cfg := blueGreenCfg(g)
	cfg.CompareWithPast = false
	r, _, events := runWindow(t, cfg, g, func() *telemetry.Window { return sameSeconds(0.02, 0.02) })
	require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
	for _, e := range events[:len(events)-1] {
		require.NotNil(t, e.Verdict)
		assert.Equal(t, judge.TestWindow, e.Verdict.Test, e.Reason)
	}
	promote := events[len(events)-1]
	assert.Equal(t, judge.Pass, promote.Verdict.Outcome)
	assert.Equal(t, judge.TestWindow, promote.Verdict.Test)
	assert.NotEmpty(t, promote.Verdict.Tests, "the judge's tests")
}

func testNames(vs []judge.Verdict) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Test)
	}
	return out
}

// The history spans the whole rollout in a bounded size: past its size,
// older ticks are summed pairwise, and the latest stays one tick.
func TestHistorySpansTheWholeRollout(t *testing.T) {
	r := newRig(t, nil, sentinel.WithHistory(10))
	first := r.clock.Now().Add(time.Second)
	for i := range 100 {
		w := healthy()
		if i == 3 {
			w = window(900, 0, 600, 0, 0.02, 0.5) // one slow tick, early on
		}
		r.tick(w)
	}
	h := r.s.Status().History
	require.LessOrEqual(t, len(h), 10)
	var ticks int
	var calls int64
	var slowest float64
	for i, s := range h {
		ticks += s.Ticks
		calls += s.Versions["stable"].Calls
		slowest = max(slowest, s.Versions["canary"].P99)
		if i > 0 {
			assert.True(t, s.Time.After(h[i-1].Time), "oldest first")
		}
	}
	assert.Equal(t, 100, ticks, "every tick is in it")
	assert.Equal(t, int64(100*900), calls, "and every call")
	assert.GreaterOrEqual(t, slowest, 0.4, "a slow tick's p99 survives the sums")
	assert.Equal(t, 1, h[len(h)-1].Ticks, "the latest tick is on its own")
	assert.Equal(t, r.clock.Now(), h[len(h)-1].Time)
	assert.Equal(t, first.Add(time.Duration(h[0].Ticks-1)*time.Second), h[0].Time, "the first summary begins with the rollout")
}

// An advance's log line carries the figures of the step that passed, not
// the new step's empty ones.
func TestAdvanceLogLineCarriesThePassedStepsFigures(t *testing.T) {
	var out logs
	r := newRig(t, nil, sentinel.WithLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	r.tick(healthy())
	for i := 0; i < 100 && r.s.Status().Step < 2; i++ {
		r.tick(healthy())
	}
	require.Equal(t, 2, r.s.Status().Step)
	var advance map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["action"] == string(sentinel.ActionAdvance) {
			advance = m
		}
	}
	require.NotNil(t, advance, "an advance was logged")
	canary, ok := advance["canary"].(map[string]any)
	require.True(t, ok, "the candidate's figures: %v", advance)
	assert.GreaterOrEqual(t, canary["calls"], float64(600*10), "the 1%% step's calls")
	assert.Equal(t, "pass", advance["verdict"])
}
