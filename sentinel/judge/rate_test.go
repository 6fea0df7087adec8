package judge_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

func newRateTest(t *testing.T, cfg judge.RateConfig) *judge.RateTest {
	t.Helper()
	st, err := judge.NewRateTest(0.01, cfg)
	require.NoError(t, err)
	return st
}

func TestRateTestFailsFrequentMismatches(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{})
	looks := 0
	for st.Verdict().Outcome != judge.Fail && looks < 10 {
		require.NoError(t, st.Observe(100, 8))
		looks++
	}
	v := st.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.LessOrEqual(t, looks, 2)
	assert.Equal(t, judge.TestShadow, v.Test)
	assert.Contains(t, v.Reason, "the candidate's responses differ too often")
	assert.Equal(t, 0.01, v.Evidence.Tolerance)
	assert.InDelta(t, 0.08, v.Evidence.Candidate.Rate, 1e-12)
}

func TestRateTestPassesAndHoldsAtTheTolerance(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{})
	for range 6 {
		require.NoError(t, st.Observe(100, 0))
	}
	require.Equal(t, judge.Pass, st.Verdict().Outcome, st.Verdict().Reason)

	// Exactly at the 1 % tolerance for 100,000 comparisons: no failure.
	at := newRateTest(t, judge.RateConfig{})
	for range 1000 {
		require.NoError(t, at.Observe(100, 1))
	}
	assert.Equal(t, judge.Pass, at.Verdict().Outcome)
	assert.Less(t, at.Verdict().Evidence.Statistic, 1.0)
}

func TestRateTestIsInconclusiveOnNoOrTooFewSamples(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{})
	assert.Contains(t, st.Verdict().Reason, "shadow: no data")
	require.NoError(t, st.Observe(10, 10))
	v := st.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "too few samples: 10 comparisons, need 50")
}

func TestRateTestRejectsBadCounts(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{})
	assert.ErrorContains(t, st.Observe(-1, 0), "ninelives: bad look: shadow comparisons = -1")
	assert.Contains(t, st.Verdict().Reason, "shadow: last look rejected")
	assert.ErrorContains(t, st.Observe(5, 6), "ninelives: bad look: shadow mismatches = 6: exceeds shadow comparisons = 5")
	require.NoError(t, st.Observe(5, 0))
	assert.NotContains(t, st.Verdict().Reason, "rejected")
}

func TestRateTestWithAHighTolerance(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{Tolerance: 0.8})
	for range 3 {
		require.NoError(t, st.Observe(100, 100))
	}
	assert.Equal(t, judge.Fail, st.Verdict().Outcome)
}

func TestRateTestBeginStep(t *testing.T) {
	st := newRateTest(t, judge.RateConfig{MinStepSamples: 100})
	require.NoError(t, st.Observe(100, 0))
	require.Equal(t, judge.Pass, st.Verdict().Outcome)
	st.BeginStep()
	assert.Contains(t, st.Verdict().Reason, "0 comparisons in this step, need 100 to pass")
}

func TestNewRateTestValidates(t *testing.T) {
	for _, c := range []struct {
		cfg  judge.RateConfig
		want string
	}{
		{judge.RateConfig{Tolerance: 1.5}, "ninelives: bad judge config: RateConfig.Tolerance = 1.5: want a rate strictly between 0 and 1"},
		{judge.RateConfig{Tolerance: -0.1}, "RateConfig.Tolerance = -0.1"},
		{judge.RateConfig{MinSamples: -1}, "RateConfig.MinSamples = -1: want a positive number of samples"},
		{judge.RateConfig{MinStepSamples: -1}, "RateConfig.MinStepSamples = -1"},
	} {
		_, err := judge.NewRateTest(0.01, c.cfg)
		assert.ErrorIs(t, err, judge.ErrBadConfig)
		assert.ErrorContains(t, err, c.want)
	}
	_, err := judge.NewRateTest(-1, judge.RateConfig{})
	assert.ErrorContains(t, err, "ninelives: bad judge config: alpha = -1: want a probability strictly between 0 and 1")
}

func TestRateTestSavesAndRestoresItsState(t *testing.T) {
	a := newRateTest(t, judge.RateConfig{Tolerance: 0.02})
	for range 5 {
		require.NoError(t, a.Observe(100, 1))
	}
	b := newRateTest(t, judge.RateConfig{Tolerance: 0.02})
	require.NoError(t, b.Restore(a.State()))
	assert.Equal(t, a.Verdict(), b.Verdict())
	bad := a.State()
	bad.Mismatches = bad.Comparisons + 1
	err := b.Restore(bad)
	assert.ErrorIs(t, err, judge.ErrBadState)
	assert.ErrorContains(t, err, "Mismatches = 501: exceeds Comparisons = 500")
	other := newRateTest(t, judge.RateConfig{Tolerance: 0.9})
	assert.ErrorContains(t, other.Restore(a.State()), "Mix: 6 components, the test mixes 1")
}
