package promsource

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/telemetry"
)

func calls(version, code string) map[string]string {
	return map[string]string{"__name__": metricCalls, labelVersion: version, labelRole: "primary", "rpc_method": "a.B/C", labelStatusCode: code}
}

// Calls of the methods past telemetry's method cap are counted in the
// window's overflow, as the telemetry Source counts them.
func TestOtherMethodsAreOverflow(t *testing.T) {
	s := &Source{}
	other := calls("a", "0")
	other[labelMethod] = otherMethod
	w, err := s.window(counted{
		labels: map[string]map[string]string{"own": calls("a", "0"), "other": other},
		deltas: map[string]float64{"own": 4, "other": 3},
	})
	require.NoError(t, err)
	assert.EqualValues(t, 7, w.Version("a").Role("primary").Calls)
	assert.EqualValues(t, 3, w.Overflow.OtherMethods)
}

func TestCountWalksTheSamplesOfEachSeries(t *testing.T) {
	origin := time.UnixMilli(10_000)
	s := &Source{origin: origin, last: origin, known: map[string]*seriesState{}}
	a, b, c := calls("a", "0"), calls("b", "0"), calls("c", "0")
	at := func(ms int64, v float64) sample { return sample{t: ms, v: v} }

	// As of the origin a was at 100 and b did not exist.
	base := []series{{labels: a, samples: []sample{at(10_000, 100)}}}
	got := []series{
		// a: a sample before the origin only moves its base; then +5, a
		// repeated sample, +3, a restart from zero at 2, +4.
		{labels: a, samples: []sample{at(9_500, 101), at(10_500, 106), at(10_500, 106), at(11_000, 109), at(11_500, 2), at(12_000, 6)}},
		// b: new after the origin, counted from zero.
		{labels: b, samples: []sample{at(10_200, 7), at(11_200, 9)}},
		// c: new, but its first sample is before the origin: a base.
		{labels: c, samples: []sample{at(9_900, 50), at(10_900, 55)}},
	}
	cnt := s.count(base, got)
	assert.Equal(t, 5.0+3+2+4, cnt.deltas[seriesKey(a)])
	assert.Equal(t, 9.0, cnt.deltas[seriesKey(b)])
	assert.Equal(t, 5.0, cnt.deltas[seriesKey(c)])
	assert.Equal(t, seriesState{t: 12_000, seen: 12_000, v: 6}, *cnt.states[seriesKey(a)])
	assert.Empty(t, s.known, "nothing is kept before the Collect succeeds")

	// The next Collect reads an overlapping range: a sample stored late
	// (stamped before the last one counted of another series) still counts;
	// those counted before do not.
	for k, st := range cnt.states {
		s.known[k] = st
	}
	got = []series{
		{labels: a, samples: []sample{at(11_500, 2), at(12_000, 6), at(12_500, 8)}},
		{labels: b, samples: []sample{at(11_200, 9), at(11_900, 12)}},
	}
	cnt = s.count(nil, got)
	assert.Equal(t, 2.0, cnt.deltas[seriesKey(a)])
	assert.Equal(t, 3.0, cnt.deltas[seriesKey(b)])
	_, ok := cnt.deltas[seriesKey(c)]
	assert.False(t, ok, "c has no new sample")

	w, err := s.window(cnt)
	require.NoError(t, err)
	assert.Equal(t, int64(2), w.Version("a").Role("primary").Calls)
	assert.Equal(t, int64(3), w.Version("b").Role("primary").Calls)
	assert.NotContains(t, w.Versions, "c")
}

// cumulative turns values into the exporter's cumulative bucket counts over
// DurationBuckets and +Inf.
func cumulative(values ...float64) []bucketCount {
	bounds := append(append([]float64(nil), telemetry.DurationBuckets...), math.Inf(1))
	out := make([]bucketCount, len(bounds))
	for i, b := range bounds {
		out[i].le = b
		for _, v := range values {
			if v <= b {
				out[i].count++
			}
		}
	}
	return out
}

func TestExplicitBucketsMapOntoExponentialOnes(t *testing.T) {
	var h expHist
	// 0 s, 5 µs ((0, 10 µs]), 12 ms ((10 ms, 13 ms]) twice, 150 s (above 100 s).
	h.add(cumulative(0, 0.000005, 0.012, 0.012, 150), 0.000005+0.024+150)
	got := h.histogram()
	assert.Equal(t, uint64(5), got.Count)
	assert.Equal(t, uint64(1), got.ZeroCount)
	assert.Equal(t, int32(windowScale), got.Scale)
	assert.Equal(t, 0.0, got.Min, "the zero")
	assert.Equal(t, 200.0, got.Max, "(100 s, +Inf] is taken as (100 s, 200 s]")
	assert.InDelta(t, 150.024005, got.Sum, 1e-9)
	var mids []float64
	var counts []uint64
	for i, c := range got.Counts {
		if c > 0 {
			// The bucket (2^(j/16), 2^((j+1)/16)]'s geometric middle.
			j := float64(int64(got.Offset) + int64(i))
			mids = append(mids, math.Exp2((j+0.5)/16))
			counts = append(counts, c)
		}
	}
	assert.Equal(t, []uint64{1, 2, 1}, counts)
	want := []float64{math.Sqrt(0.000005 * 0.00001), math.Sqrt(0.010 * 0.013), math.Sqrt(100 * 200)}
	for i, m := range want {
		assert.InEpsilon(t, m, mids[i], math.Exp2(1.0/16)-1, "bucket %d holds the middle of its explicit bucket", i)
	}
	// The median is the 12 ms calls' bucket.
	assert.InEpsilon(t, 0.012, got.P50(), math.Sqrt(0.013/0.010)*math.Exp2(1.0/16)-1)
	assert.Equal(t, uint64(1), got.CountAbove(1), "the call above 100 s")
}

func TestExplicitBucketsOfSeveralSeriesAddUp(t *testing.T) {
	var h expHist
	h.add(cumulative(0.002, 0.002), 0.004)
	// Another client's bounds: one bucket (0, 1], one above.
	h.add([]bucketCount{{le: math.Inf(1), count: 3}, {le: 1, count: 1}}, 2.5)
	got := h.histogram()
	assert.Equal(t, uint64(5), got.Count)
	assert.InDelta(t, 2.504, got.Sum, 1e-12)
	assert.InEpsilon(t, 0.001, got.Min, 1e-12, "(1 ms, 2 ms] is the lowest")
	assert.Equal(t, 2.0, got.Max, "(1 s, +Inf] as (1 s, 2 s]")
}

func TestExplicitBucketsEdgeCases(t *testing.T) {
	var empty expHist
	empty.add(cumulative(), 0)
	assert.True(t, empty.histogram().Empty())

	// Counts that go down (a partial reset) are clamped, not negative.
	var h expHist
	h.add([]bucketCount{{le: 0.1, count: 5}, {le: 0.2, count: 3}, {le: math.Inf(1), count: 6}}, 1)
	got := h.histogram()
	assert.Equal(t, uint64(6), got.Count)

	// Bounds across hundreds of octaves lower the scale to keep the
	// buckets bounded.
	var wide expHist
	wide.add([]bucketCount{{le: 1e-200, count: 1}, {le: 1e-199, count: 1}, {le: 1e200, count: 2}, {le: math.Inf(1), count: 2}}, 0)
	got = wide.histogram()
	assert.Less(t, got.Scale, int32(windowScale))
	assert.GreaterOrEqual(t, got.Scale, int32(telemetry.MinScale))
	assert.LessOrEqual(t, len(got.Counts), maxBuckets)
	assert.Equal(t, uint64(2), got.Count)
	assert.Equal(t, 1e200, got.Max)

	// Only an +Inf bucket: nothing says where the values are.
	var inf expHist
	inf.add([]bucketCount{{le: math.Inf(1), count: 4}}, 8)
	got = inf.histogram()
	assert.Equal(t, uint64(4), got.Count)
	assert.InDelta(t, 8.0, got.Sum, 1e-12, "the sum is still exact")
}
