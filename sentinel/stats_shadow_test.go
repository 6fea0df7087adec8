package sentinel_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
)

func newShadowTest(t *testing.T, cfg sentinel.ShadowConfig) *sentinel.ShadowTest {
	t.Helper()
	st, err := sentinel.NewShadowTest(0.01, cfg)
	require.NoError(t, err)
	return st
}

func TestShadowTestFailsFrequentMismatches(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{})
	looks := 0
	for st.Verdict().Outcome != sentinel.Fail && looks < 10 {
		require.NoError(t, st.Observe(100, 8))
		looks++
	}
	v := st.Verdict()
	require.Equal(t, sentinel.Fail, v.Outcome, v.Reason)
	assert.LessOrEqual(t, looks, 2)
	assert.Equal(t, sentinel.TestShadow, v.Test)
	assert.Contains(t, v.Reason, "the candidate's responses differ too often")
	assert.Equal(t, 0.01, v.Evidence.Tolerance)
	assert.InDelta(t, 0.08, v.Evidence.Candidate.Rate, 1e-12)
}

func TestShadowTestPassesAndHoldsAtTheTolerance(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{})
	for range 6 {
		require.NoError(t, st.Observe(100, 0))
	}
	require.Equal(t, sentinel.Pass, st.Verdict().Outcome, st.Verdict().Reason)

	// Exactly at the 1 % tolerance for 100,000 comparisons: no failure.
	at := newShadowTest(t, sentinel.ShadowConfig{})
	for range 1000 {
		require.NoError(t, at.Observe(100, 1))
	}
	assert.Equal(t, sentinel.Pass, at.Verdict().Outcome)
	assert.Less(t, at.Verdict().Evidence.Statistic, 1.0)
}

func TestShadowTestIsInconclusiveOnNoOrTooFewSamples(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{})
	assert.Contains(t, st.Verdict().Reason, "shadow: no data")
	require.NoError(t, st.Observe(10, 10))
	v := st.Verdict()
	assert.Equal(t, sentinel.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "too few samples: 10 comparisons, need 50")
}

func TestShadowTestRejectsBadCounts(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{})
	assert.ErrorContains(t, st.Observe(-1, 0), "ninelives: shadow comparisons = -1")
	assert.Contains(t, st.Verdict().Reason, "shadow: last look rejected")
	assert.ErrorContains(t, st.Observe(5, 6), "ninelives: shadow mismatches = 6 exceeds shadow comparisons = 5")
	require.NoError(t, st.Observe(5, 0))
	assert.NotContains(t, st.Verdict().Reason, "rejected")
}

func TestShadowTestWithAHighTolerance(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{Tolerance: 0.8})
	for range 3 {
		require.NoError(t, st.Observe(100, 100))
	}
	assert.Equal(t, sentinel.Fail, st.Verdict().Outcome)
}

func TestShadowTestBeginStepAndReset(t *testing.T) {
	st := newShadowTest(t, sentinel.ShadowConfig{MinStepComparisons: 100})
	require.NoError(t, st.Observe(100, 0))
	require.Equal(t, sentinel.Pass, st.Verdict().Outcome)
	st.BeginStep()
	assert.Contains(t, st.Verdict().Reason, "0 comparisons in this step, need 100 to pass")
	st.Reset()
	assert.Contains(t, st.Verdict().Reason, "no data")
}

func TestNewShadowTestValidates(t *testing.T) {
	for _, c := range []struct {
		cfg  sentinel.ShadowConfig
		want string
	}{
		{sentinel.ShadowConfig{Tolerance: 1.5}, "ninelives: ShadowConfig.Tolerance = 1.5"},
		{sentinel.ShadowConfig{Tolerance: -0.1}, "ninelives: ShadowConfig.Tolerance = -0.1"},
		{sentinel.ShadowConfig{MinComparisons: -1}, "ninelives: ShadowConfig.MinComparisons = -1"},
		{sentinel.ShadowConfig{MinStepComparisons: -1}, "ninelives: ShadowConfig.MinStepComparisons = -1"},
	} {
		_, err := sentinel.NewShadowTest(0.01, c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
	_, err := sentinel.NewShadowTest(-1, sentinel.ShadowConfig{})
	assert.ErrorContains(t, err, "ninelives: shadow test alpha = -1")
}
