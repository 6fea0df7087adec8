package judge_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

var testBounds = []float64{0.01, 0.02, 0.05, 0.1}

func hist(counts ...uint64) judge.Buckets {
	return judge.Buckets{Bounds: testBounds, Counts: counts}
}

func newLatencyTest(t *testing.T) *judge.LatencyTest {
	t.Helper()
	lt, err := judge.NewLatencyTest(0.01, judge.LatencyConfig{})
	require.NoError(t, err)
	return lt
}

func TestLatencyTestFailsASlowerCandidate(t *testing.T) {
	lt := newLatencyTest(t)
	base := hist(100, 500, 250, 50, 0)
	slow := hist(0, 0, 10, 60, 30) // two buckets slower: the tolerance credits one
	looks := 0
	for lt.Verdict().Outcome != judge.Fail && looks < 10 {
		require.NoError(t, lt.Observe(slow, base))
		looks++
	}
	v := lt.Verdict()
	require.Equal(t, judge.Fail, v.Outcome, v.Reason)
	assert.Equal(t, 1, looks)
	assert.Equal(t, judge.TestLatency, v.Test)
	assert.Contains(t, v.Reason, "the candidate is slower than the baseline")
	ev := v.Evidence
	assert.GreaterOrEqual(t, ev.Statistic, ev.Threshold)
	assert.Greater(t, ev.ProbSlower, 0.7)
	assert.Greater(t, ev.Z, 5.0)
	assert.Greater(t, ev.Candidate.P50, ev.Baseline.P50)
	assert.Equal(t, int64(100), ev.Candidate.Samples)
	assert.Equal(t, int64(900), ev.Baseline.Samples)
}

func TestLatencyTestPassesTheSameDistribution(t *testing.T) {
	lt := newLatencyTest(t)
	for range 5 {
		require.NoError(t, lt.Observe(hist(11, 56, 27, 6, 0), hist(100, 500, 250, 50, 0)))
	}
	v := lt.Verdict()
	require.Equal(t, judge.Pass, v.Outcome, v.Reason)
	assert.Less(t, v.Evidence.Statistic, 1.0)
	assert.InDelta(t, 0.5, v.Evidence.ProbSlower, 0.02)
	assert.InDelta(t, 0.017, v.Evidence.Baseline.P50, 1e-12) // the median lies 350/500 into (10, 20] ms
	assert.Contains(t, v.Reason, "no evidence the candidate is slower beyond the tolerance (10.0% or 1ms, whichever is larger) after 500 candidate samples in this step")
}

func TestLatencyTestNeverFailsAFasterCandidate(t *testing.T) {
	lt, err := judge.NewLatencyTest(0.01, judge.LatencyConfig{DisableTail: true})
	require.NoError(t, err)
	for range 50 {
		require.NoError(t, lt.Observe(hist(90, 10, 0, 0, 0), hist(100, 500, 250, 50, 0)))
	}
	assert.Equal(t, judge.Pass, lt.Verdict().Outcome)
	assert.Less(t, lt.Verdict().Evidence.Statistic, 1e-6)
}

// A slowdown of both versions at once leaves the ranks within each look
// unchanged.
func TestLatencyTestIgnoresASharedSlowdown(t *testing.T) {
	lt := newLatencyTest(t)
	for i := range 60 {
		c, b := hist(11, 56, 27, 6, 0), hist(100, 500, 250, 50, 0)
		if i >= 20 && i < 50 {
			c, b = hist(0, 1, 11, 56, 32), hist(0, 10, 100, 500, 290)
		}
		require.NoError(t, lt.Observe(c, b))
	}
	assert.Equal(t, judge.Pass, lt.Verdict().Outcome, lt.Verdict().Reason)
}

func TestLatencyTestIsInconclusiveOnNoOrTooFewSamples(t *testing.T) {
	lt := newLatencyTest(t)
	assert.Contains(t, lt.Verdict().Reason, "latency: no data: 0 candidate and 0 baseline samples")
	require.NoError(t, lt.Observe(judge.Buckets{}, judge.Buckets{}))
	assert.Equal(t, judge.Inconclusive, lt.Verdict().Outcome)
	assert.Contains(t, lt.Verdict().Reason, "no data")

	// Ten candidate calls, all far slower: still too few to decide.
	require.NoError(t, lt.Observe(hist(0, 0, 0, 0, 10), hist(90, 0, 0, 0, 0)))
	v := lt.Verdict()
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Contains(t, v.Reason, "too few samples: 10 candidate and 90 baseline, need 50 each")

	// Baseline calls only: no comparison.
	lt2 := newLatencyTest(t)
	require.NoError(t, lt2.Observe(judge.Buckets{}, hist(100, 500, 250, 50, 0)))
	assert.Contains(t, lt2.Verdict().Reason, "no data: 0 candidate and 900 baseline samples")
}

func TestLatencyTestRejectsBadHistograms(t *testing.T) {
	lt := newLatencyTest(t)
	require.NoError(t, lt.Observe(hist(11, 56, 27, 6, 0), hist(100, 500, 250, 50, 0)))
	for _, c := range []struct {
		cand, base judge.Buckets
		want       string
	}{
		{hist(1, 2), hist(1, 2, 3, 4, 5), "ninelives: bad look: candidate latency: 2 counts for 4 bounds, want 5"},
		{hist(1, 2, 3, 4, 5), judge.Buckets{Bounds: []float64{0.01, math.NaN(), 0.05, 0.1}, Counts: []uint64{1, 2, 3, 4, 5}},
			"ninelives: bad look: baseline latency.Bounds[1] = NaN"},
		{hist(1, 2, 3, 4, 5), judge.Buckets{Bounds: []float64{0.01, 0.02, 0.05, 0.2}, Counts: []uint64{1, 2, 3, 4, 5}},
			"ninelives: bad look: candidate latency.Bounds = [0.01 0.02 0.05 0.1]: differ from baseline latency.Bounds = [0.01 0.02 0.05 0.2]"},
		{judge.Buckets{Bounds: []float64{0.5}, Counts: []uint64{1, 2}}, judge.Buckets{},
			"ninelives: bad look: candidate latency.Bounds = [0.5]: differ from the bounds [0.01 0.02 0.05 0.1] of earlier looks"},
	} {
		err := lt.Observe(c.cand, c.base)
		assert.ErrorContains(t, err, c.want)
		v := lt.Verdict()
		assert.Equal(t, judge.Inconclusive, v.Outcome)
		assert.Contains(t, v.Reason, "latency: last look rejected: "+c.want)
		assert.Equal(t, int64(100), v.Evidence.Candidate.Samples, "a rejected look adds nothing")
	}
}

func TestLatencyTestBeginStep(t *testing.T) {
	lt := newLatencyTest(t)
	for range 5 {
		require.NoError(t, lt.Observe(hist(11, 56, 27, 6, 0), hist(100, 500, 250, 50, 0)))
	}
	require.Equal(t, judge.Pass, lt.Verdict().Outcome)
	lt.BeginStep()
	assert.Contains(t, lt.Verdict().Reason, "0 candidate samples in this step, need 500 to pass")
	assert.Equal(t, 5, lt.Verdict().Evidence.Looks, "the evidence carries over")
}

func TestNewLatencyTestValidates(t *testing.T) {
	_, err := judge.NewLatencyTest(math.NaN(), judge.LatencyConfig{})
	assert.ErrorContains(t, err, "ninelives: bad judge config: alpha = NaN")
	_, err = judge.NewLatencyTest(0.01, judge.LatencyConfig{MinCalls: -3})
	assert.ErrorContains(t, err, "ninelives: bad judge config: MinCalls = -3")
	_, err = judge.NewLatencyTest(0.01, judge.LatencyConfig{MinStepCalls: -3})
	assert.ErrorContains(t, err, "ninelives: bad judge config: MinStepCalls = -3")
}
