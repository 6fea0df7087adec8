package judge_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

func newErrorTest(t *testing.T, cfg judge.ErrorConfig) *judge.ErrorTest {
	t.Helper()
	et, err := judge.NewErrorTest(0.01, cfg)
	require.NoError(t, err)
	return et
}

func TestErrorTestFailsACandidateThatFailsMore(t *testing.T) {
	et := newErrorTest(t, judge.ErrorConfig{})
	looks := 0
	for et.Verdict().Outcome != judge.Fail && looks < 10 {
		require.NoError(t, et.Observe(100, 10, 900, 4)) // 10 % against 0.44 %
		looks++
	}
	v := et.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.LessOrEqual(t, looks, 3)
	assert.Equal(t, judge.TestErrors, v.Test)
	assert.Contains(t, v.Reason, "fails more often than the baseline")
	ev := v.Evidence
	require.NotNil(t, ev)
	assert.GreaterOrEqual(t, ev.Statistic, ev.Threshold)
	assert.Equal(t, 100.0, ev.Threshold)
	assert.Equal(t, 0.01, ev.Alpha)
	assert.Equal(t, looks, ev.FailedAtLook)
	assert.Equal(t, int64(100*looks), ev.Candidate.Samples)
	assert.Equal(t, int64(10*looks), ev.Candidate.Events)
	assert.InDelta(t, 0.1, ev.Candidate.Rate, 1e-12)
	assert.InDelta(t, 4.0/900, ev.Baseline.Rate, 1e-12)
	assert.True(t, et.Failed())

	// Fail is final: good looks afterwards do not undo it.
	for range 20 {
		require.NoError(t, et.Observe(100, 0, 900, 5))
	}
	assert.Equal(t, judge.Fail, et.Verdict().Outcome)
	assert.Equal(t, looks, et.Verdict().Evidence.FailedAtLook)
}

func TestErrorTestPassesAHealthyCandidateAfterEnoughCalls(t *testing.T) {
	et := newErrorTest(t, judge.ErrorConfig{})
	for i := range 10 {
		if v := et.Verdict(); i < 5 {
			assert.Equal(t, judge.Inconclusive, v.Outcome, "look %d: %s", i, v.Reason)
		} else {
			assert.Equal(t, judge.Pass, v.Outcome, "look %d: %s", i, v.Reason)
		}
		require.NoError(t, et.Observe(100, int64(i%2), 900, 4+int64(i%2)))
	}
	v := et.Verdict()
	assert.Equal(t, judge.Pass, v.Outcome, v.Reason)
	assert.Contains(t, v.Reason, "no evidence the candidate fails more than the baseline after 1000 candidate calls in this step")
	assert.Less(t, v.Evidence.Statistic, v.Evidence.Threshold)
	assert.Equal(t, int64(1000), v.Evidence.StepSamples)

	// A new step needs its own calls before it passes; the evidence stays.
	et.BeginStep()
	v = et.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "0 candidate calls in this step, need 500 to pass")
	assert.Equal(t, int64(1000), v.Evidence.Candidate.Samples)
	assert.Equal(t, 10, v.Evidence.Looks)
}

func TestErrorTestIsInconclusiveOnNoOrTooFewSamples(t *testing.T) {
	et := newErrorTest(t, judge.ErrorConfig{})
	v := et.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "no data")

	// Every candidate call failing, but only 10 of them: no decision.
	require.NoError(t, et.Observe(10, 10, 90, 0))
	v = et.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "too few samples: 10 candidate and 90 baseline calls, need 50 each")
	assert.Greater(t, v.Evidence.Statistic, v.Evidence.Threshold, "the evidence is there, the samples are not")

	// No baseline calls: nothing to compare with.
	et2 := newErrorTest(t, judge.ErrorConfig{})
	require.NoError(t, et2.Observe(1000, 900, 0, 0))
	assert.Equal(t, judge.Inconclusive, et2.Verdict().Outcome)
	assert.Contains(t, et2.Verdict().Reason, "no data: 1000 candidate and 0 baseline calls")
}

func TestErrorTestRejectsBadCounts(t *testing.T) {
	et := newErrorTest(t, judge.ErrorConfig{})
	require.NoError(t, et.Observe(100, 0, 900, 4))
	for _, c := range []struct {
		counts [4]int64
		want   string
	}{
		{[4]int64{-1, 0, 900, 4}, "ninelives: bad look: candidate calls = -1"},
		{[4]int64{100, -2, 900, 4}, "ninelives: bad look: candidate errors = -2"},
		{[4]int64{100, 0, -900, 4}, "ninelives: bad look: baseline calls = -900"},
		{[4]int64{100, 0, 900, -4}, "ninelives: bad look: baseline errors = -4"},
		{[4]int64{3, 5, 900, 4}, "ninelives: bad look: candidate errors = 5: exceeds candidate calls = 3"},
		{[4]int64{100, 0, 900, 901}, "ninelives: bad look: baseline errors = 901: exceeds baseline calls = 900"},
		{[4]int64{1<<63 - 1, 0, 900, 0}, "ninelives: bad look: candidate calls = 9223372036854775807: overflows the running total 100"},
	} {
		err := et.Observe(c.counts[0], c.counts[1], c.counts[2], c.counts[3])
		assert.ErrorContains(t, err, c.want)
		v := et.Verdict()
		assert.Equal(t, judge.Inconclusive, v.Outcome)
		assert.Contains(t, v.Reason, "last look rejected: "+c.want)
		assert.Equal(t, 1, v.Evidence.Looks, "a rejected look is not counted")
	}
	require.NoError(t, et.Observe(100, 0, 900, 4))
	assert.NotContains(t, et.Verdict().Reason, "rejected")
}

// An outage that raises both versions' error rates alike leaves the
// candidate's share of the errors where it was: the evidence goes down,
// not up. The same errors on the candidate alone fail it.
func TestErrorTestIgnoresASharedOutage(t *testing.T) {
	shared := newErrorTest(t, judge.ErrorConfig{})
	alone := newErrorTest(t, judge.ErrorConfig{})
	for i := range 60 {
		candErr, baseErr := int64(i%2), int64(4+i%2)
		if i >= 20 && i < 50 {
			candErr, baseErr = 20, 180 // 20 % on both
		}
		require.NoError(t, shared.Observe(100, candErr, 900, baseErr))
		if i >= 20 && i < 50 {
			baseErr = 4
		}
		require.NoError(t, alone.Observe(100, candErr, 900, baseErr))
	}
	assert.NotEqual(t, judge.Fail, shared.Verdict().Outcome)
	assert.Less(t, shared.Verdict().Evidence.Statistic, 1.0)
	assert.Equal(t, judge.Pass, shared.Verdict().Outcome, shared.Verdict().Reason)
	assert.Equal(t, judge.Fail, alone.Verdict().Outcome)
	assert.Equal(t, 21, alone.Verdict().Evidence.FailedAtLook)
}

func TestErrorTestToleranceMakesPassNeedConfidence(t *testing.T) {
	et := newErrorTest(t, judge.ErrorConfig{Tolerance: 2, MinStepCalls: 100})
	require.NoError(t, et.Observe(100, 2, 900, 18)) // equal rates, 2 %
	v := et.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "not yet confident that the candidate's error odds are below 2× the baseline's")
	assert.Equal(t, 2.0, v.Evidence.Tolerance)
	assert.Equal(t, 20.0, v.Evidence.PassThreshold)
	assert.Less(t, v.Evidence.PassStatistic, v.Evidence.PassThreshold)
	looks := 1
	for ; et.Verdict().Outcome != judge.Pass && looks < 100; looks++ {
		require.NoError(t, et.Observe(100, 2, 900, 18))
	}
	assert.Greater(t, looks, 5)
	v = et.Verdict()
	assert.Equal(t, judge.Pass, v.Outcome, v.Reason)
	assert.GreaterOrEqual(t, v.Evidence.PassStatistic, v.Evidence.PassThreshold)
	assert.Contains(t, v.Reason, "error odds below 2× the baseline's since look")

	// A candidate at three times the baseline's rate never gets there.
	bad := newErrorTest(t, judge.ErrorConfig{Tolerance: 2, MinStepCalls: 100})
	for range 100 {
		require.NoError(t, bad.Observe(100, 3, 900, 9))
	}
	assert.NotEqual(t, judge.Pass, bad.Verdict().Outcome)
}

func TestNewErrorTestValidates(t *testing.T) {
	for _, c := range []struct {
		alpha float64
		cfg   judge.ErrorConfig
		want  string
	}{
		{0, judge.ErrorConfig{}, "ninelives: bad judge config: alpha = 0: want a probability strictly between 0 and 1"},
		{1, judge.ErrorConfig{}, "alpha = 1"},
		{0.01, judge.ErrorConfig{MinCalls: -1}, "ninelives: bad judge config: MinCalls = -1"},
		{0.01, judge.ErrorConfig{MinStepCalls: -5}, "ninelives: bad judge config: MinStepCalls = -5"},
		{0.01, judge.ErrorConfig{Tolerance: 0.5}, "ninelives: bad judge config: Tolerance = 0.5"},
		{0.01, judge.ErrorConfig{Tolerance: 2, PassAlpha: 1.5}, "ninelives: bad judge config: PassAlpha = 1.5"},
	} {
		_, err := judge.NewErrorTest(c.alpha, c.cfg)
		assert.ErrorContains(t, err, c.want)
	}
}
