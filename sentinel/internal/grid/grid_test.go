package grid_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel/internal/grid"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func total(b judge.Buckets) uint64 {
	var n uint64
	for _, c := range b.Counts {
		n += c
	}
	return n
}

func TestBucketsKeepOneGrid(t *testing.T) {
	// Two windows at different scales land on the same bounds, in the grid
	// bucket that holds their values.
	fine := telemetry.Histogram{Count: 3, Scale: 6, Offset: int32(math.Floor(math.Log2(0.002) * 64)), Counts: []uint64{3}}
	coarse := telemetry.Histogram{Count: 2, Scale: 1, Offset: int32(math.Floor(math.Log2(0.002) * 2)), Counts: []uint64{2}, ZeroCount: 1}
	a, b := grid.Buckets(fine), grid.Buckets(coarse)
	require.NoError(t, a.Validate("a"))
	require.NoError(t, b.Validate("b"))
	assert.Equal(t, a.Bounds, b.Bounds)
	assert.EqualValues(t, 3, total(a))
	assert.EqualValues(t, 3, total(b))
	assert.EqualValues(t, 1, b.Counts[0], "zeros stay in the zero bucket")
	assert.InDelta(t, 0.002, a.Quantile(0.5), 0.002*0.1, "a fine bucket nests in its grid bucket")
	// Out of range: below 50 µs into the first bucket, above 64 s into +Inf.
	tiny := grid.Buckets(telemetry.Histogram{Count: 1, Scale: 3, Offset: -200, Counts: []uint64{1}})
	huge := grid.Buckets(telemetry.Histogram{Count: 1, Scale: 3, Offset: 100, Counts: []uint64{1}})
	assert.EqualValues(t, 1, tiny.Counts[1])
	assert.EqualValues(t, 1, huge.Counts[len(huge.Counts)-1])
	assert.Equal(t, judge.Buckets{}, grid.Buckets(telemetry.Histogram{}), "no data is no histogram")
}

// gridLook draws n log-normal latencies (median med, σ 0.3) into the grid.
func gridLook(rng *rand.Rand, n int, med float64) judge.Buckets {
	counts := make([]uint64, len(grid.Bounds)+1)
	for range n {
		v := med * math.Exp(0.3*rng.NormFloat64())
		j := sort.SearchFloat64s(grid.Bounds, v)
		counts[j]++
	}
	return judge.Buckets{Bounds: grid.Bounds, Counts: counts}
}

func TestLatencyToleranceOnTheGrid(t *testing.T) {
	run := func(cfg judge.LatencyConfig, slowdown float64) bool {
		// The latency test gets α = 1 %; the errors test sees no errors.
		j, err := judge.New(judge.Config{Alpha: 0.02, Shares: judge.Shares{Errors: 1, Latency: 1}, Latency: cfg})
		require.NoError(t, err)
		require.Equal(t, 0.01, j.Budget().Latency)
		rng := rand.New(rand.NewPCG(7, 9))
		for range 200 { // 200 looks of 100 candidate and 900 baseline calls
			require.NoError(t, j.Observe(judge.Look{
				Candidate: judge.Figures{Calls: 100, Latency: gridLook(rng, 100, 0.002*slowdown)},
				Baseline:  judge.Figures{Calls: 900, Latency: gridLook(rng, 900, 0.002)},
			}))
		}
		return j.Failed()
	}
	relative := judge.LatencyConfig{AbsoluteTolerance: -1} // 10 % alone
	assert.False(t, run(relative, 1.05), "5 % slower is within the 10 % tolerance, even over 20,000 calls")
	assert.True(t, run(judge.LatencyConfig{Strict: true}, 1.05), "a strict test finds the 5 %")
	assert.True(t, run(relative, 1.3), "30 % slower fails")
	assert.False(t, run(judge.LatencyConfig{}, 1.3), "at 2 ms, 30 % is 0.6 ms: within the default 1 ms")
	assert.True(t, run(judge.LatencyConfig{}, 1.8), "80 % slower, 1.6 ms, fails")
	assert.False(t, run(judge.LatencyConfig{}, 1), "the same latency does not fail")
	_, err := judge.New(judge.Config{Latency: judge.LatencyConfig{Tolerance: -0.1}})
	assert.ErrorContains(t, err, "Latency.Tolerance = -0.1")
}
