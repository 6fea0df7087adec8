package judge_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// The tie-corrected Mann-Whitney test on a small example worked by hand.
//
// Bounds 0.1, 0.2: candidate counts 1, 2, 1; baseline 2, 1, 0. Pooled
// buckets hold 3, 3 and 1 calls (N = 7), whose midranks are 2, 5 and 7.
// The candidate's rank sum is 1·2 + 2·5 + 1·7 = 19, so
// U = 19 − 4·5/2 = 9 (by pairs: 1 + 2·2.5 + 3 = 9). Mean n₁n₀/2 = 6.
// Ties: Σ(t³−t) = 24 + 24 + 0 = 48, so the variance is
// 4·3/12 · (8 − 48/(7·6)) = 8 − 8/7 = 48/7 (8 without the correction), and
// z = 3/√(48/7) ≈ 1.1456. P(slower) + ½P(tie) = 9/12 = 0.75.
func TestMannWhitneyTieCorrectionByHand(t *testing.T) {
	bounds := []float64{0.1, 0.2}
	r, err := judge.MannWhitney(
		judge.Buckets{Bounds: bounds, Counts: []uint64{1, 2, 1}},
		judge.Buckets{Bounds: bounds, Counts: []uint64{2, 1, 0}})
	require.NoError(t, err)
	assert.Equal(t, 9.0, r.U)
	assert.Equal(t, 6.0, r.Mean)
	assert.InDelta(t, 48.0/7, r.Variance, 1e-12)
	assert.InDelta(t, 3/math.Sqrt(48.0/7), r.Z, 1e-12)
	assert.InDelta(t, 1.1456439, r.Z, 1e-6)
	assert.Equal(t, 0.75, r.ProbSlower)
	assert.Equal(t, uint64(4), r.Candidate)
	assert.Equal(t, uint64(3), r.Baseline)
}

func TestMannWhitneyWithoutTiesMatchesTheClassicalVariance(t *testing.T) {
	// Every call in its own bucket: no ties, variance n₁n₀(N+1)/12.
	bounds := []float64{1, 2, 3, 4}
	r, err := judge.MannWhitney(
		judge.Buckets{Bounds: bounds, Counts: []uint64{0, 1, 0, 1, 1}},
		judge.Buckets{Bounds: bounds, Counts: []uint64{1, 0, 1, 0, 0}})
	require.NoError(t, err)
	assert.Equal(t, 5.0, r.U) // 1 + 2 + 2
	assert.InDelta(t, 3*2*6/12.0, r.Variance, 1e-12)
}

func TestMannWhitneyRejectsBadInput(t *testing.T) {
	_, err := judge.MannWhitney(
		judge.Buckets{Bounds: []float64{1}, Counts: []uint64{1, 2}},
		judge.Buckets{Bounds: []float64{2}, Counts: []uint64{1, 2}})
	assert.ErrorContains(t, err, "candidate histogram.Bounds = [1]: differ from baseline histogram.Bounds = [2]")
	_, err = judge.MannWhitney(
		judge.Buckets{Bounds: []float64{1}, Counts: []uint64{1}},
		judge.Buckets{Bounds: []float64{1}, Counts: []uint64{1, 2}})
	assert.ErrorContains(t, err, "candidate histogram: 1 counts for 1 bounds")
	r, err := judge.MannWhitney(judge.Buckets{}, judge.Buckets{Bounds: []float64{1}, Counts: []uint64{1, 2}})
	require.NoError(t, err)
	assert.Equal(t, 0.5, r.ProbSlower, "no candidate data: no effect")
}

func TestBucketsValidate(t *testing.T) {
	for _, c := range []struct {
		h    judge.Buckets
		want string
	}{
		{judge.Buckets{Bounds: []float64{1, 2}, Counts: []uint64{1, 2}}, "ninelives: bad look: lat: 2 counts for 2 bounds, want 3"},
		{judge.Buckets{Bounds: []float64{1, math.NaN()}, Counts: []uint64{1, 2, 3}}, "lat.Bounds[1] = NaN"},
		{judge.Buckets{Bounds: []float64{1, math.Inf(1)}, Counts: []uint64{1, 2, 3}}, "lat.Bounds[1] = +Inf"},
		{judge.Buckets{Bounds: []float64{2, 1}, Counts: []uint64{1, 2, 3}}, "lat.Bounds[1] = 1: not above Bounds[0] = 2"},
		{judge.Buckets{Bounds: []float64{1}, Counts: []uint64{math.MaxUint64, 1}}, "overflow"},
	} {
		assert.ErrorContains(t, c.h.Validate("lat"), c.want)
		assert.ErrorIs(t, c.h.Validate("lat"), judge.ErrBadLook)
	}
	assert.NoError(t, judge.Buckets{}.Validate("lat"), "no data is valid")
	assert.NoError(t, judge.Buckets{Bounds: []float64{0.1}, Counts: []uint64{0, 0}}.Validate("lat"))
}

func TestQuantileInterpolatesWithinBuckets(t *testing.T) {
	h := judge.Buckets{Bounds: []float64{0.01, 0.02, 0.05}, Counts: []uint64{10, 20, 10, 0}}
	assert.InDelta(t, 0.005, h.Quantile(0.125), 1e-12, "inside the first bucket, from 0")
	assert.InDelta(t, 0.015, h.Quantile(0.5), 1e-12)
	assert.InDelta(t, 0.035, h.Quantile(0.875), 1e-12)
	assert.InDelta(t, 0.05, h.Quantile(1), 1e-12)
	inf := judge.Buckets{Bounds: []float64{0.01}, Counts: []uint64{1, 9}}
	assert.Equal(t, 0.01, inf.Quantile(0.99), "the +Inf bucket gives the last finite bound")
	assert.True(t, math.IsNaN(judge.Buckets{}.Quantile(0.5)))
	assert.True(t, math.IsNaN(h.Quantile(math.NaN())))
	assert.True(t, math.IsNaN(h.Quantile(1.5)))
}
