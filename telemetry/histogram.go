package telemetry

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/ninelives-go/ninelives/internal/config"
)

// MinScale is the lowest scale a base-2 exponential histogram may have, as
// in OpenTelemetry (2^1024 per bucket); maxScale is the highest (2^(2^-20)).
const (
	MinScale = -10
	maxScale = 20
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
// of the true sample quantile, so their relative error is below the ratio of
// a bucket's bounds less one, 2^(2^-Scale) − 1: 4.4 % at scale 4, 2.2 % at 5.
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

// Clone returns a deep copy.
func (h Histogram) Clone() Histogram {
	h.Counts = slices.Clone(h.Counts)
	return h
}

// validate checks a histogram that came from outside, such as one of a
// decoded window: its scale, its bucket range and its extremes. Its errors
// name the field by its JSON name.
func (h Histogram) validate() error {
	bad := func(field string, value any, format string, args ...any) error {
		return config.Errorf(ErrBadWindow, field, value, format, args...)
	}
	switch {
	case h.Scale < MinScale || h.Scale > maxScale:
		return bad("scale", h.Scale, "want %d..%d", MinScale, maxScale)
	case len(h.Counts) > 1<<20:
		return bad("counts", nil, "%d buckets, want at most %d", len(h.Counts), 1<<20)
	case int64(h.Offset)+int64(len(h.Counts)) > math.MaxInt32:
		return bad("offset", h.Offset, "the last bucket's index is above %d", math.MaxInt32)
	case math.IsNaN(h.Min):
		return bad("min", h.Min, "want a number")
	case math.IsNaN(h.Max):
		return bad("max", h.Max, "want a number")
	case math.IsNaN(h.Sum):
		return bad("sum", h.Sum, "want a number")
	case h.Count > 0 && h.Min > h.Max:
		return bad("min", h.Min, "above max %v", h.Max)
	}
	return nil
}

// part is one histogram to add up: its scale, the index of Counts[0], the
// counts, and the totals.
type part struct {
	scale         int32
	offset        int32
	counts        []uint64
	count, zeros  uint64
	sum, min, max float64
}

// span is the first and last index with a count at scale s (≤ p.scale); ok is
// false when there is none.
func (p *part) span(s int32) (lo, hi int64, ok bool) {
	first, last := spanOf(p.counts)
	if first < 0 {
		return 0, 0, false
	}
	d := uint(p.scale - s)
	return (int64(p.offset) + int64(first)) >> d, (int64(p.offset) + int64(last)) >> d, true
}

// sumParts adds parts up into a new Histogram with a single allocation of
// buckets. The result has the lowest scale of the parts, lowered further if
// the buckets would exceed maxBuckets.
func sumParts(parts []part, maxBuckets int64) Histogram {
	var h Histogram
	s := int32(maxScale)
	found := false
	for i := range parts {
		p := &parts[i]
		if p.count == 0 && p.zeros == 0 && len(p.counts) == 0 {
			continue
		}
		if h.Count == 0 {
			h.Min, h.Max = p.min, p.max
		} else if p.count > 0 {
			h.Min, h.Max = math.Min(h.Min, p.min), math.Max(h.Max, p.max)
		}
		h.Count += p.count
		h.Sum += p.sum
		h.ZeroCount += p.zeros
		if _, _, ok := p.span(p.scale); ok {
			s = min(s, p.scale)
			found = true
		}
	}
	if !found {
		h.Scale = 0
		return h
	}
	var lo, hi int64
	for {
		first := true
		for i := range parts {
			l, u, ok := parts[i].span(s)
			if !ok {
				continue
			}
			if first {
				lo, hi, first = l, u, false
				continue
			}
			lo, hi = min(lo, l), max(hi, u)
		}
		if hi-lo+1 <= maxBuckets || s == MinScale {
			break
		}
		s--
	}
	h.Scale, h.Offset = s, int32(lo)
	h.Counts = make([]uint64, hi-lo+1)
	for i := range parts {
		p := &parts[i]
		d := uint(p.scale - s)
		for j, c := range p.counts {
			if c != 0 {
				h.Counts[((int64(p.offset)+int64(j))>>d)-lo] += c
			}
		}
	}
	return h
}

func (h *Histogram) part() part {
	return part{scale: h.Scale, offset: h.Offset, counts: h.Counts, count: h.Count, zeros: h.ZeroCount, sum: h.Sum, min: h.Min, max: h.Max}
}

// merge adds o into h; both must be valid. Nothing of o is kept.
func (h *Histogram) merge(o Histogram) {
	if o.Empty() {
		return
	}
	if !h.Empty() && o.Scale >= h.Scale && len(h.Counts) > 0 {
		// The common case of a step's windows: o fits in h's buckets.
		op := o.part()
		d := uint(o.Scale - h.Scale)
		if lo, hi, ok := op.span(h.Scale); !ok || (lo >= int64(h.Offset) && hi < int64(h.Offset)+int64(len(h.Counts))) {
			for j, c := range o.Counts {
				if c != 0 {
					h.Counts[((int64(o.Offset)+int64(j))>>d)-int64(h.Offset)] += c
				}
			}
			if o.Count > 0 {
				if h.Count == 0 {
					h.Min, h.Max = o.Min, o.Max
				} else {
					h.Min, h.Max = math.Min(h.Min, o.Min), math.Max(h.Max, o.Max)
				}
			}
			h.Count += o.Count
			h.Sum += o.Sum
			h.ZeroCount += o.ZeroCount
			return
		}
	}
	*h = sumParts([]part{h.part(), o.part()}, maxMergedBuckets)
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
