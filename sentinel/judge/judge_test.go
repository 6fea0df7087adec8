package judge_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

func newJudge(t *testing.T, cfg judge.Config) *judge.Judge {
	t.Helper()
	j, err := judge.New(cfg)
	require.NoError(t, err)
	return j
}

// look builds a look at 1,000 calls: 100 candidate, 900 baseline.
func look(candErrors, baseErrors int64, cand, base judge.Buckets) judge.Look {
	return judge.Look{
		Candidate: judge.Figures{Calls: 100, Errors: candErrors, Latency: cand},
		Baseline:  judge.Figures{Calls: 900, Errors: baseErrors, Latency: base},
	}
}

var (
	fastCand = hist(11, 56, 27, 6, 0)
	fastBase = hist(100, 500, 250, 50, 0)
	slowCand = hist(0, 0, 10, 60, 30) // two buckets slower: the tolerance credits one
)

func TestNewJudgeValidatesConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  judge.Config
		want string
	}{
		{judge.Config{Alpha: 1.5}, "ninelives: bad judge config: Alpha = 1.5: want a probability strictly between 0 and 1"},
		{judge.Config{Alpha: -0.01}, "ninelives: bad judge config: Alpha = -0.01"},
		{judge.Config{Alpha: math.NaN()}, "ninelives: bad judge config: Alpha = NaN"},
		{judge.Config{Shares: judge.Shares{Errors: -1}}, "ninelives: bad judge config: Shares.Errors = -1: want a positive finite share"},
		{judge.Config{Shares: judge.Shares{Latency: math.Inf(1)}}, "ninelives: bad judge config: Shares.Latency = +Inf"},
		{judge.Config{Shares: judge.Shares{Shadow: math.NaN()}}, "ninelives: bad judge config: Shares.Shadow = NaN"},
		{judge.Config{Errors: judge.ErrorConfig{MinCalls: -1}}, "ninelives: bad judge config: Errors.MinCalls = -1"},
		{judge.Config{Errors: judge.ErrorConfig{Tolerance: 0.9}}, "ninelives: bad judge config: Errors.Tolerance = 0.9"},
		{judge.Config{Errors: judge.ErrorConfig{Tolerance: math.NaN()}}, "ninelives: bad judge config: Errors.Tolerance = NaN"},
		{judge.Config{Errors: judge.ErrorConfig{PassAlpha: 2}}, "ninelives: bad judge config: Errors.PassAlpha = 2"},
		{judge.Config{Latency: judge.LatencyConfig{MinStepCalls: -1}}, "ninelives: bad judge config: Latency.MinStepCalls = -1"},
		{judge.Config{Shadow: judge.MismatchConfig{Tolerance: 2}}, "ninelives: bad judge config: Shadow.Tolerance = 2"},
		{judge.Config{Restarts: judge.Restarts{Start: 1.5}}, "ninelives: bad judge config: Restarts.Start = 1.5: want a share in (0, 1]; 1 turns restarts off"},
		{judge.Config{Restarts: judge.Restarts{Start: math.NaN()}}, "Restarts.Start = NaN"},
		{judge.Config{Restarts: judge.Restarts{Start: -0.5}}, "Restarts.Start = -0.5"},
		{judge.Config{Restarts: judge.Restarts{Looks: -1}}, "Restarts.Looks = -1: want a number of looks in 1..1073741824"},
		{judge.Config{Errors: judge.ErrorConfig{Floor: 1}}, "Errors.Floor = 1: want a difference of error rates below 1"},
		{judge.Config{Errors: judge.ErrorConfig{Floor: math.NaN()}}, "Errors.Floor = NaN"},
		{judge.Config{Errors: judge.ErrorConfig{RelativeFloor: -0.1}}, "Errors.RelativeFloor = -0.1: want a fraction of the baseline's rate in [0, 100] (0.1 = 10 %)"},
		{judge.Config{Errors: judge.ErrorConfig{RelativeFloor: math.Inf(1)}}, "Errors.RelativeFloor = +Inf"},
		{judge.Config{Latency: judge.LatencyConfig{AbsoluteTolerance: math.NaN()}}, "Latency.AbsoluteTolerance = NaN: want seconds up to 3600 (negative for none)"},
		{judge.Config{Latency: judge.LatencyConfig{AbsoluteTolerance: math.Inf(1)}}, "Latency.AbsoluteTolerance = +Inf"},
		{judge.Config{Latency: judge.LatencyConfig{Quantiles: []float64{0.95, 1.2}}}, "ninelives: bad judge config: Latency.Quantiles[1] = 1.2: want a quantile strictly between 0 and 1"},
		{judge.Config{Latency: judge.LatencyConfig{Quantiles: []float64{math.NaN()}}}, "Latency.Quantiles[0] = NaN"},
		{judge.Config{Latency: judge.LatencyConfig{Quantiles: []float64{0.9, 0.99, 0.9}}}, "Latency.Quantiles[2] = 0.9: repeats Quantiles[0]"},
		{judge.Config{Latency: judge.LatencyConfig{Quantiles: make([]float64, 11)}}, "Latency.Quantiles = [0 0 0 0 0 0 0 0 0 0 0]: want at most 10 quantiles"},
		{judge.Config{Latency: judge.LatencyConfig{TailWeight: 1.5}}, "Latency.TailWeight = 1.5: want a share in (0, 1]"},
		{judge.Config{Latency: judge.LatencyConfig{TailMinShare: 1}}, "Latency.TailMinShare = 1: want a share below 1 (negative: test the tail in every look)"},
		{judge.Config{Latency: judge.LatencyConfig{TailWeight: math.NaN()}}, "Latency.TailWeight = NaN"},
		{judge.Config{Latency: judge.LatencyConfig{BaselineHalfLife: -3}}, "Latency.BaselineHalfLife = -3: want a number of looks above 0"},
		{judge.Config{Latency: judge.LatencyConfig{MinExceed: math.Inf(1)}}, "Latency.MinExceed = +Inf: want a number of calls above 0"},
	} {
		j, err := judge.New(c.cfg)
		assert.ErrorContains(t, err, c.want)
		assert.Nil(t, j)
	}
}

func TestJudgeDefaultsAndBudget(t *testing.T) {
	j := newJudge(t, judge.Config{})
	cfg := j.Config()
	assert.Equal(t, 0.01, cfg.Alpha)
	assert.Equal(t, judge.Shares{Errors: 0.5, Latency: 0.4, Shadow: 0.1}, cfg.Shares)
	assert.Equal(t, int64(50), cfg.Errors.MinCalls)
	assert.Equal(t, int64(500), cfg.Errors.MinStepCalls)
	assert.Equal(t, 0.05, cfg.Errors.PassAlpha)
	assert.Equal(t, 0.01, cfg.Shadow.Tolerance)
	assert.Equal(t, judge.Restarts{Start: 0.5, Looks: 1800}, cfg.Restarts)
	assert.Equal(t, 0.001, cfg.Errors.Floor)
	assert.Zero(t, cfg.Errors.RelativeFloor)
	assert.Equal(t, 0.1, cfg.Latency.Tolerance)
	assert.Equal(t, 0.001, cfg.Latency.AbsoluteTolerance)
	assert.Equal(t, []float64{0.95, 0.99, 0.999}, cfg.Latency.Quantiles)
	assert.Equal(t, 0.5, cfg.Latency.TailWeight)
	assert.Equal(t, 120.0, cfg.Latency.BaselineHalfLife)
	assert.Equal(t, 10.0, cfg.Latency.MinExceed)
	none := newJudge(t, judge.Config{Errors: judge.ErrorConfig{Floor: -0.3}, Latency: judge.LatencyConfig{AbsoluteTolerance: -2}}).Config()
	assert.Equal(t, -1.0, none.Errors.Floor, "negative: none, kept as -1 so that the defaults stay filled")
	assert.Equal(t, -1.0, none.Latency.AbsoluteTolerance)
	b := j.Budget()
	assert.InDelta(t, 0.01*5/9, b.Errors, 1e-15)
	assert.InDelta(t, 0.01*4/9, b.Latency, 1e-15)
	assert.Zero(t, b.Shadow)
	assert.InDelta(t, 0.01, b.Errors+b.Latency+b.Shadow, 1e-15)

	b = newJudge(t, judge.Config{EnableShadow: true}).Budget()
	assert.InDelta(t, 0.005, b.Errors, 1e-15)
	assert.InDelta(t, 0.004, b.Latency, 1e-15)
	assert.InDelta(t, 0.001, b.Shadow, 1e-15)

	b = newJudge(t, judge.Config{Alpha: 0.02, DisableLatency: true}).Budget()
	assert.Equal(t, judge.Budget{Errors: 0.02}, b)
}

func TestJudgeFailsOnErrorsWithTheirEvidence(t *testing.T) {
	j := newJudge(t, judge.Config{})
	for range 3 {
		require.NoError(t, j.Observe(look(10, 4, fastCand, fastBase)))
	}
	v := j.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.True(t, j.Failed())
	assert.Equal(t, judge.TestErrors, v.Test)
	require.NotNil(t, v.Evidence)
	assert.InDelta(t, j.Budget().Errors, v.Evidence.Alpha, 1e-15)
	assert.InDelta(t, 1/j.Budget().Errors, v.Evidence.Threshold, 1e-9)
	assert.Contains(t, v.Reason, "errors: the candidate fails more often")
	require.Len(t, v.Tests, 2)
	assert.Equal(t, judge.TestErrors, v.Tests[0].Test)
	assert.Equal(t, judge.TestLatency, v.Tests[1].Test)
	assert.NotEqual(t, judge.Fail, v.Tests[1].Outcome)
}

func TestJudgeFailsOnLatency(t *testing.T) {
	j := newJudge(t, judge.Config{})
	require.NoError(t, j.Observe(look(0, 4, slowCand, fastBase)))
	v := j.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.Equal(t, judge.TestLatency, v.Test)
	assert.Equal(t, judge.Inconclusive, v.Tests[0].Outcome, "errors: not enough calls in the step yet")
}

func TestJudgeFailsOnShadowMismatches(t *testing.T) {
	j := newJudge(t, judge.Config{EnableShadow: true})
	for range 3 {
		l := look(0, 4, fastCand, fastBase)
		l.Shadow = judge.ShadowFigures{Comparisons: 100, Mismatches: 9}
		require.NoError(t, j.Observe(l))
	}
	v := j.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.Equal(t, judge.TestShadow, v.Test)
	require.Len(t, v.Tests, 3)
}

func TestJudgePassesWhenEveryTestPasses(t *testing.T) {
	j := newJudge(t, judge.Config{EnableShadow: true})
	for i := range 6 {
		l := look(int64(i%2), 4, fastCand, fastBase)
		l.Shadow = judge.ShadowFigures{Comparisons: 100}
		require.NoError(t, j.Observe(l))
	}
	v := j.Verdict()
	require.Equal(t, judge.Pass, v.Outcome, v.Reason)
	assert.Equal(t, "every test passes (errors, latency, shadow)", v.Reason)
	assert.Empty(t, v.Test)
	assert.Nil(t, v.Evidence)
	for _, tv := range v.Tests {
		assert.Equal(t, judge.Pass, tv.Outcome, tv.Reason)
	}

	j.BeginStep()
	v = j.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "errors: 0 candidate calls in this step")
	assert.Contains(t, v.Reason, "latency: 0 candidate samples in this step")
	assert.Contains(t, v.Reason, "shadow: 0 comparisons in this step")
}

func TestJudgeIsInconclusiveUntilEveryTestCanPass(t *testing.T) {
	j := newJudge(t, judge.Config{})
	v := j.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "errors: no data")
	assert.Contains(t, v.Reason, "latency: no data")

	// Healthy error figures but no latency histograms: errors pass, latency
	// has no data, so the Judge holds.
	for range 6 {
		require.NoError(t, j.Observe(look(0, 4, judge.Buckets{}, judge.Buckets{})))
	}
	v = j.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Equal(t, judge.Pass, v.Tests[0].Outcome)
	assert.Equal(t, "latency: no data: 0 candidate and 0 baseline samples; no candidate latency samples in the last 6 looks", v.Reason)
}

func TestJudgeRejectsABadLookAsAWhole(t *testing.T) {
	j := newJudge(t, judge.Config{})
	require.NoError(t, j.Observe(look(0, 4, fastCand, fastBase)))
	err := j.Observe(look(1, 4, hist(1, 2), fastBase))
	require.ErrorContains(t, err, "ninelives: bad look: candidate latency: 2 counts for 4 bounds")
	v := j.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Equal(t, "look rejected: "+err.Error(), v.Reason)
	assert.Equal(t, 1, v.Tests[0].Evidence.Looks, "the errors test did not take the look either")
	assert.Equal(t, int64(0), v.Tests[0].Evidence.Candidate.Events)

	err = j.Observe(judge.Look{Candidate: judge.Figures{Calls: 10, Errors: 11}})
	assert.ErrorContains(t, err, "ninelives: bad look: candidate errors = 11: exceeds candidate calls = 10")
	err = j.Observe(judge.Look{Baseline: judge.Figures{Calls: -1}})
	assert.ErrorContains(t, err, "ninelives: bad look: baseline calls = -1")

	require.NoError(t, j.Observe(look(0, 4, fastCand, fastBase)))
	assert.NotContains(t, j.Verdict().Reason, "rejected")

	// A failed test stays failed through a rejected look.
	for range 3 {
		require.NoError(t, j.Observe(look(30, 4, fastCand, fastBase)))
	}
	require.Equal(t, judge.Fail, j.Verdict().Outcome)
	require.Error(t, j.Observe(look(-1, 4, fastCand, fastBase)))
	assert.Equal(t, judge.Fail, j.Verdict().Outcome)
}

func TestJudgeIgnoresFiguresOfDisabledTests(t *testing.T) {
	j := newJudge(t, judge.Config{DisableLatency: true})
	l := look(0, 4, hist(1, 2), fastBase) // a bad histogram, but latency is off
	l.Shadow = judge.ShadowFigures{Comparisons: 1, Mismatches: 5}
	require.NoError(t, j.Observe(l))
	assert.Len(t, j.Verdict().Tests, 1)
}

func TestVerdictJSON(t *testing.T) {
	j := newJudge(t, judge.Config{EnableShadow: true})
	empty, err := json.Marshal(j.Verdict())
	require.NoError(t, err, "no NaN or Inf even without data")
	assert.Contains(t, string(empty), `"outcome":"inconclusive"`)

	for range 2 {
		require.NoError(t, j.Observe(look(100, 0, slowCand, fastBase))) // every candidate call fails
	}
	v := j.Verdict()
	require.Equal(t, judge.Fail, v.Outcome)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, `"outcome":"fail"`)
	assert.Contains(t, s, `"test":"errors"`)
	assert.Contains(t, s, `"statistic":`)
	assert.Contains(t, s, `"threshold":`)
	assert.Contains(t, s, `"probSlower":`)
	var back judge.Verdict
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, v, back)
}

func TestOutcomeText(t *testing.T) {
	for o, name := range map[judge.Outcome]string{judge.Inconclusive: "inconclusive", judge.Pass: "pass", judge.Fail: "fail"} {
		assert.Equal(t, name, o.String())
		b, err := o.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, name, string(b))
		var back judge.Outcome
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, o, back)
	}
	var o judge.Outcome
	assert.ErrorContains(t, o.UnmarshalText([]byte("maybe")), `ninelives: bad judge state: outcome = "maybe": want inconclusive, pass or fail`)
	_, err := judge.Outcome(7).MarshalText()
	assert.ErrorContains(t, err, "outcome = 7: want inconclusive, pass or fail")
	assert.Equal(t, "Outcome(7)", judge.Outcome(7).String())
	assert.Equal(t, judge.Inconclusive, judge.Verdict{}.Outcome, "the zero verdict holds")
}

// A test that stops getting candidate calls says so, and for how long.
func TestJudgeSaysHowLongTheCandidateHasServedNothing(t *testing.T) {
	j := newJudge(t, judge.Config{EnableShadow: true})
	l := look(0, 4, fastCand, fastBase)
	l.Shadow = judge.ShadowFigures{Comparisons: 100}
	for range 6 {
		require.NoError(t, j.Observe(l))
	}
	require.Equal(t, judge.Pass, j.Verdict().Outcome)
	idle := judge.Look{Baseline: judge.Figures{Calls: 900, Errors: 4, Latency: fastBase}}
	for range 3 {
		require.NoError(t, j.Observe(idle))
	}
	v := j.Verdict()
	for i, what := range []string{"candidate calls", "candidate latency samples", "comparisons"} {
		assert.Equal(t, 3, v.Tests[i].Evidence.IdleLooks, v.Tests[i].Test)
		assert.Contains(t, v.Tests[i].Reason, "; no "+what+" in the last 3 looks")
	}
	require.NoError(t, j.Observe(l))
	for _, tv := range j.Verdict().Tests {
		assert.Zero(t, tv.Evidence.IdleLooks)
		assert.NotContains(t, tv.Reason, "in the last")
	}
	st := j.State()
	require.NoError(t, j.Observe(idle))
	b := newJudge(t, judge.Config{EnableShadow: true})
	require.NoError(t, b.Restore(st))
	require.NoError(t, b.Observe(idle))
	assert.Equal(t, j.Verdict(), b.Verdict(), "the idle count is saved")
}
