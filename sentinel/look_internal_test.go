package sentinel

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/telemetry"
)

func TestJudgeHistogramKeepsOneGrid(t *testing.T) {
	// Two windows at different scales land on the same bounds, in the grid
	// bucket that holds their values.
	fine := telemetry.Histogram{Count: 3, Scale: 6, Offset: int32(math.Floor(math.Log2(0.002) * 64)), Counts: []uint64{3}}
	coarse := telemetry.Histogram{Count: 2, Scale: 1, Offset: int32(math.Floor(math.Log2(0.002) * 2)), Counts: []uint64{2}, ZeroCount: 1}
	a, b := judgeHistogram(fine), judgeHistogram(coarse)
	require.NoError(t, a.Validate("a"))
	require.NoError(t, b.Validate("b"))
	assert.Equal(t, a.Bounds, b.Bounds)
	assert.EqualValues(t, 3, a.Total())
	assert.EqualValues(t, 3, b.Total())
	assert.EqualValues(t, 1, b.Counts[0], "zeros stay in the zero bucket")
	q := Quantile(a, 0.5)
	assert.InDelta(t, 0.002, q, 0.002*0.1, "a fine bucket nests in its grid bucket")
	// Out of range: below 50 µs into the first bucket, above 64 s into +Inf.
	tiny := judgeHistogram(telemetry.Histogram{Count: 1, Scale: 3, Offset: -200, Counts: []uint64{1}})
	huge := judgeHistogram(telemetry.Histogram{Count: 1, Scale: 3, Offset: 100, Counts: []uint64{1}})
	assert.EqualValues(t, 1, tiny.Counts[1])
	assert.EqualValues(t, 1, huge.Counts[len(huge.Counts)-1])
	assert.Equal(t, Histogram{}, judgeHistogram(telemetry.Histogram{}), "no data is no histogram")
}

// gridLook draws n log-normal latencies (median med, σ 0.3) into the
// judge's grid.
func gridLook(rng *rand.Rand, n int, med float64) Histogram {
	counts := make([]uint64, len(gridBounds)+1)
	for range n {
		v := med * math.Exp(0.3*rng.NormFloat64())
		j := sort.SearchFloat64s(gridBounds, v)
		counts[j]++
	}
	return Histogram{Bounds: gridBounds, Counts: counts}
}

func TestLatencyToleranceOnTheGrid(t *testing.T) {
	run := func(cfg LatencyConfig, slowdown float64) bool {
		lt, err := NewLatencyTest(0.01, cfg)
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(7, 9))
		for range 200 { // 200 looks of 100 candidate and 900 baseline calls
			require.NoError(t, lt.Observe(gridLook(rng, 100, 0.002*slowdown), gridLook(rng, 900, 0.002)))
		}
		return lt.Failed()
	}
	assert.False(t, run(LatencyConfig{}, 1.05), "5 % slower is within the default 10 % tolerance, even over 20,000 calls")
	assert.True(t, run(LatencyConfig{Strict: true}, 1.05), "a strict test finds the 5 %")
	assert.True(t, run(LatencyConfig{}, 1.3), "30 % slower fails")
	assert.False(t, run(LatencyConfig{}, 1), "the same latency does not fail")
	_, err := NewLatencyTest(0.01, LatencyConfig{Tolerance: -0.1})
	assert.ErrorContains(t, err, "LatencyConfig.Tolerance = -0.1")
}
