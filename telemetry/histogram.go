package telemetry

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The scales a base-2 exponential histogram may have, as in OpenTelemetry.
const (
	MinScale = -10
	MaxScale = 20
)

// maxMergedBuckets bounds the buckets of a merged histogram: a merge that
// would need more lowers the scale until they fit.
const maxMergedBuckets = 4096

// Histogram is a latency distribution in seconds with base-2 exponential
// buckets, as OpenTelemetry defines them: bucket i of Counts holds the values
// in (base^(Offset+i), base^(Offset+i+1)], where base = 2^(2^-Scale), and
// ZeroCount holds the values of zero. Min and Max are the extremes seen; they
// are meaningful when Count > 0.
//
// The zero value is an empty histogram. Quantile estimates lie in the bucket
// of the true sample quantile, so their relative error is below ErrorBound().
type Histogram struct {
	Count     uint64   `json:"count"`
	Sum       float64  `json:"sum"`
	Min       float64  `json:"min"`
	Max       float64  `json:"max"`
	Scale     int32    `json:"scale"`
	ZeroCount uint64   `json:"zeroCount,omitempty"`
	Offset    int32    `json:"offset"`
	Counts    []uint64 `json:"counts,omitempty"`
}

// Bucket is one bucket of a Histogram: Count values in (Lower, Upper].
type Bucket struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	Count uint64  `json:"count"`
}

// Empty reports whether the histogram holds no value.
func (h Histogram) Empty() bool {
	return h.Count == 0 && h.ZeroCount == 0 && len(h.Counts) == 0
}

// lowerBound is the lower bound of bucket index at scale: 2^(index·2^-scale).
func lowerBound(index int64, scale int32) float64 {
	return math.Exp2(float64(index) * math.Exp2(-float64(scale)))
}

// bucketBounds returns the bounds of Counts[i].
func (h Histogram) bucketBounds(i int) (lo, hi float64) {
	idx := int64(h.Offset) + int64(i)
	return lowerBound(idx, h.Scale), lowerBound(idx+1, h.Scale)
}

// ErrorBound is the largest relative error of Quantile: the ratio of a
// bucket's bounds less one, 2^(2^-Scale) − 1 (4.4 % at scale 4, 2.2 % at 5).
func (h Histogram) ErrorBound() float64 {
	return math.Exp2(math.Exp2(-float64(h.Scale))) - 1
}

// total is the number of values in the buckets, ZeroCount included.
func (h Histogram) total() uint64 {
	n := h.ZeroCount
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (q in [0, 1]) in seconds: it finds the
// bucket that holds the value of rank ⌈q·n⌉ and interpolates geometrically
// inside it, the bucket's bounds narrowed to [Min, Max]. It returns NaN for an
// empty histogram or a q outside [0, 1].
func (h Histogram) Quantile(q float64) float64 {
	n := h.total()
	if n == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	rank := q * float64(n)
	if rank <= float64(h.ZeroCount) {
		if h.ZeroCount > 0 {
			return 0
		}
		return h.Min
	}
	cum := float64(h.ZeroCount)
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lo, hi := h.bucketBounds(i)
			lo2, hi2 := math.Max(lo, h.Min), math.Min(hi, h.Max)
			if !(lo2 < hi2) {
				return math.Min(math.Max(lo2, lo), hi)
			}
			f := (rank - cum) / float64(c)
			return lo2 * math.Pow(hi2/lo2, f)
		}
		cum += float64(c)
	}
	return h.Max
}

// P50 is Quantile(0.5).
func (h Histogram) P50() float64 { return h.Quantile(0.5) }

// P90 is Quantile(0.9).
func (h Histogram) P90() float64 { return h.Quantile(0.9) }

// P99 is Quantile(0.99).
func (h Histogram) P99() float64 { return h.Quantile(0.99) }

// Mean is the average value, NaN when the histogram is empty.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	return h.Sum / float64(h.Count)
}

// CountAbove estimates how many values are above threshold seconds: the
// buckets above it count whole, the one that holds it counts in proportion
// (geometrically, its bounds narrowed to [Min, Max]). It is exact when the
// threshold is below Min, at or above Max, or on a bucket bound.
func (h Histogram) CountAbove(threshold float64) uint64 {
	n := h.total()
	if n == 0 || math.IsNaN(threshold) {
		return 0
	}
	if threshold >= h.Max {
		return 0
	}
	if threshold < h.Min {
		return n
	}
	above := 0.0
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.bucketBounds(i)
		if lo >= threshold {
			above += float64(c)
			continue
		}
		if hi <= threshold {
			continue
		}
		lo2, hi2 := math.Max(lo, h.Min), math.Min(hi, h.Max)
		switch {
		case lo2 >= threshold:
			above += float64(c)
		case hi2 > threshold && hi2 > lo2:
			above += float64(c) * math.Log(hi2/threshold) / math.Log(hi2/lo2)
		}
	}
	return uint64(math.Round(above))
}

// Buckets returns the buckets that hold values, in order; a first bucket with
// Lower = Upper = 0 holds the zeros.
func (h Histogram) Buckets() []Bucket {
	var out []Bucket
	if h.ZeroCount > 0 {
		out = append(out, Bucket{Count: h.ZeroCount})
	}
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.bucketBounds(i)
		out = append(out, Bucket{Lower: lo, Upper: hi, Count: c})
	}
	return out
}

// Clone returns a deep copy.
func (h Histogram) Clone() Histogram {
	h.Counts = slices.Clone(h.Counts)
	return h
}

// Validate checks a histogram that came from outside, such as a decoded
// window: its scale, its bucket range and its extremes.
func (h Histogram) Validate() error {
	switch {
	case h.Scale < MinScale || h.Scale > MaxScale:
		return fmt.Errorf("ninelives: histogram scale %d, want %d..%d", h.Scale, MinScale, MaxScale)
	case len(h.Counts) > 1<<20:
		return fmt.Errorf("ninelives: histogram has %d buckets, want at most %d", len(h.Counts), 1<<20)
	case int64(h.Offset)+int64(len(h.Counts)) > math.MaxInt32:
		return fmt.Errorf("ninelives: histogram offset %d with %d buckets passes the largest index", h.Offset, len(h.Counts))
	case math.IsNaN(h.Min) || math.IsNaN(h.Max) || math.IsNaN(h.Sum):
		return fmt.Errorf("ninelives: histogram min, max or sum is NaN")
	case h.Count > 0 && h.Min > h.Max:
		return fmt.Errorf("ninelives: histogram min %v is above max %v", h.Min, h.Max)
	}
	return nil
}

// span is the first and last bucket index at scale s (≤ h.Scale); ok is false
// when there are no buckets.
func (h Histogram) span(s int32) (lo, hi int64, ok bool) {
	first, last := -1, -1
	for i, c := range h.Counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0, 0, false
	}
	d := uint(h.Scale - s)
	return (int64(h.Offset) + int64(first)) >> d, (int64(h.Offset) + int64(last)) >> d, true
}

// merge adds o into h; both must be valid. The result has the lower of the
// two scales, lowered further if the buckets would exceed maxMergedBuckets.
func (h *Histogram) merge(o Histogram) {
	if o.Empty() {
		return
	}
	if h.Empty() {
		*h = o.Clone()
		return
	}
	s := min(h.Scale, o.Scale)
	var lo, hi int64
	var found bool
	for {
		found = false
		for _, x := range [2]*Histogram{h, &o} {
			l, u, ok := x.span(s)
			if !ok {
				continue
			}
			if !found {
				lo, hi, found = l, u, true
				continue
			}
			lo, hi = min(lo, l), max(hi, u)
		}
		if !found || hi-lo+1 <= maxMergedBuckets || s == MinScale {
			break
		}
		s--
	}
	var counts []uint64
	if found {
		counts = make([]uint64, hi-lo+1)
		for _, x := range [2]*Histogram{h, &o} {
			d := uint(x.Scale - s)
			for i, c := range x.Counts {
				if c != 0 {
					counts[((int64(x.Offset)+int64(i))>>d)-lo] += c
				}
			}
		}
	}
	var minV, maxV float64
	switch {
	case h.Count == 0:
		minV, maxV = o.Min, o.Max
	case o.Count == 0:
		minV, maxV = h.Min, h.Max
	default:
		minV, maxV = math.Min(h.Min, o.Min), math.Max(h.Max, o.Max)
	}
	*h = Histogram{
		Count:     h.Count + o.Count,
		Sum:       h.Sum + o.Sum,
		Min:       minV,
		Max:       maxV,
		Scale:     s,
		ZeroCount: h.ZeroCount + o.ZeroCount,
		Offset:    int32(lo),
		Counts:    counts,
	}
}

// histogramFrom copies an SDK data point. Negative values, which a latency
// never has, are counted with the zeros.
func histogramFrom(dp *metricdata.ExponentialHistogramDataPoint[float64]) Histogram {
	h := Histogram{
		Count:     dp.Count,
		Sum:       dp.Sum,
		Scale:     dp.Scale,
		ZeroCount: dp.ZeroCount,
		Offset:    dp.PositiveBucket.Offset,
	}
	for _, c := range dp.NegativeBucket.Counts {
		h.ZeroCount += c
	}
	counts := dp.PositiveBucket.Counts
	for len(counts) > 0 && counts[0] == 0 {
		counts = counts[1:]
		h.Offset++
	}
	for len(counts) > 0 && counts[len(counts)-1] == 0 {
		counts = counts[:len(counts)-1]
	}
	h.Counts = slices.Clone(counts)
	minV, okMin := dp.Min.Value()
	maxV, okMax := dp.Max.Value()
	if !okMin || !okMax {
		// Without recorded extremes, the outer bucket bounds stand in.
		minV, maxV = 0, 0
		if len(h.Counts) > 0 {
			minV, _ = h.bucketBounds(0)
			_, maxV = h.bucketBounds(len(h.Counts) - 1)
		}
		if h.ZeroCount > 0 {
			minV = 0
		}
	}
	h.Min, h.Max = math.Max(minV, 0), math.Max(maxV, 0)
	return h
}

// MarshalJSON adds the p50, p90 and p99 estimates, in seconds, for a status
// page; they are ignored when decoding.
func (h Histogram) MarshalJSON() ([]byte, error) {
	type plain Histogram
	if h.total() == 0 {
		return json.Marshal(plain(h))
	}
	return json.Marshal(struct {
		plain
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
	}{plain(h), h.P50(), h.P90(), h.P99()})
}
