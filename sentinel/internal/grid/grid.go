package grid

import (
	"math"

	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

const (
	scale = 3
	lo    = -115 // bucket (2^(-115/8), 2^(-114/8)] holds 50 µs
	hi    = 47   // bucket (2^(47/8), 2^(48/8)] ends at 64 s
)

// Bounds are the grid's bucket bounds in seconds. Do not change them.
var Bounds = func() []float64 {
	b := []float64{0}
	for t := lo; t <= hi; t++ {
		b = append(b, math.Exp2(float64(t+1)/(1<<scale)))
	}
	return b
}()

// Buckets maps a window's exponential histogram onto the grid. Buckets as
// fine as the grid or finer nest exactly; a coarser bucket (a window whose
// latencies spread over more than 40 octaves) goes whole into the grid
// bucket of its geometric middle. An empty histogram gives no buckets.
func Buckets(h telemetry.Histogram) judge.Buckets {
	if h.Empty() {
		return judge.Buckets{} // no data
	}
	counts := make([]uint64, len(Bounds)+1)
	counts[0] = h.ZeroCount
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		counts[index(int64(h.Offset)+int64(i), h.Scale)] += c
	}
	return judge.Buckets{Bounds: Bounds, Counts: counts}
}

// index is the grid bucket of bucket idx of a histogram at scale s.
func index(idx int64, s int32) int {
	var t int64
	if s >= scale {
		t = idx >> uint(s-scale)
	} else {
		// The middle of (2^(idx/2^s), 2^((idx+1)/2^s)] in grid units.
		t = int64(math.Floor((float64(idx) + 0.5) * math.Exp2(float64(scale-s))))
	}
	switch {
	case t < lo:
		return 1
	case t > hi:
		return len(Bounds)
	}
	return int(1 + t - lo)
}
