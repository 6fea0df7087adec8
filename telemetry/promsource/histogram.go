package promsource

import (
	"math"
	"slices"

	"github.com/ninelives-go/ninelives/telemetry"
)

// windowScale is the scale of the windows' latency histograms: 16 base-2
// exponential buckets per doubling, each 4.4 % wide. Prometheus holds the
// latencies in the explicit buckets the exporter advises
// (telemetry.DurationBuckets unless changed), and every explicit bucket
// (lo, hi] goes whole into the exponential bucket that holds its geometric
// middle √(lo·hi). The scale is finer than any two neighbouring explicit
// buckets, so they stay apart, and finer than the sentinel's grid, so the
// judge reads them without a further loss.
const windowScale = 4

// maxBuckets bounds a window histogram's buckets; wider spreads (explicit
// bounds across hundreds of octaves) lower the scale until they fit.
const maxBuckets = 4096

// bucketCount is one explicit bucket's count in a window: the values in
// (previous bound, le].
type bucketCount struct {
	le    float64
	count float64
}

// expHist gathers the explicit buckets of one version and role, mapped onto
// the exponential buckets at windowScale.
type expHist struct {
	zeros    uint64
	counts   map[int64]uint64 // by bucket index at windowScale
	sum      float64
	min, max float64
	any      bool
}

// add maps one series' explicit buckets (cumulative counts by le, not
// sorted) and its sum. The bucket below the lowest positive bound, (0, b],
// is taken as (b/2, b]; the bucket above the highest, (b, +Inf], as (b, 2b].
// A bucket ending at or below zero holds zeros.
func (h *expHist) add(cum []bucketCount, sum float64) {
	slices.SortFunc(cum, func(a, b bucketCount) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	prevLe, prevCum := math.Inf(-1), 0.0
	for _, b := range cum {
		c := math.Round(b.count - prevCum)
		lo, hi := prevLe, b.le
		prevLe, prevCum = b.le, math.Max(prevCum, b.count)
		if c <= 0 {
			continue
		}
		n := uint64(c)
		if hi <= 0 {
			h.extremes(0, 0)
			h.zeros += n
			continue
		}
		switch {
		case math.IsInf(hi, 1) && lo <= 0:
			// A histogram with no positive bound: the values are above
			// lo and nothing says where; one second stands in.
			lo, hi = 1, 2
		case math.IsInf(hi, 1):
			hi = 2 * lo
		case lo <= 0:
			lo = hi / 2
		}
		h.extremes(lo, hi)
		if h.counts == nil {
			h.counts = map[int64]uint64{}
		}
		// The middle in logarithms: lo·hi may underflow or overflow.
		h.counts[indexOfLog2((math.Log2(lo)+math.Log2(hi))/2, windowScale)] += n
	}
	h.sum += sum
}

// extremes widens [min, max] to [lo, hi].
func (h *expHist) extremes(lo, hi float64) {
	if !h.any {
		h.min, h.max, h.any = lo, hi, true
		return
	}
	h.min, h.max = math.Min(h.min, lo), math.Max(h.max, hi)
}

// indexOfLog2 is the index of the bucket (base^i, base^(i+1)] that holds
// the value whose base-2 logarithm is l, at scale s, base = 2^(2^-s).
func indexOfLog2(l float64, s int32) int64 {
	return int64(math.Ceil(l*math.Exp2(float64(s)))) - 1
}

// histogram returns the telemetry histogram; Min and Max are the outer
// bounds of the explicit buckets that hold values, since Prometheus keeps no
// extremes.
func (h *expHist) histogram() telemetry.Histogram {
	out := telemetry.Histogram{Scale: windowScale, ZeroCount: h.zeros, Sum: h.sum, Min: h.min, Max: h.max}
	out.Count = h.zeros
	if len(h.counts) == 0 {
		if out.Count == 0 {
			return telemetry.Histogram{}
		}
		return out
	}
	idx := make([]int64, 0, len(h.counts))
	for i, c := range h.counts {
		idx = append(idx, i)
		out.Count += c
	}
	slices.Sort(idx)
	lo, hi := idx[0], idx[len(idx)-1]
	scale := int32(windowScale)
	for hi-lo+1 > maxBuckets && scale > telemetry.MinScale {
		scale--
		lo, hi = lo>>1, hi>>1
	}
	shift := uint(windowScale - scale)
	out.Scale, out.Offset = scale, int32(lo)
	out.Counts = make([]uint64, hi-lo+1)
	for _, i := range idx {
		out.Counts[(i>>shift)-lo] += h.counts[i]
	}
	return out
}
