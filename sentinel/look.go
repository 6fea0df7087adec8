package sentinel

import (
	"math"
	"slices"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// lookFrom turns one tick's window into the judge's look: the two versions'
// primary calls (shadow copies and warm-ups are kept apart by their role)
// and the candidate's shadow comparisons.
func lookFrom(w *telemetry.Window, baseline, candidate string) Look {
	c := w.Version(candidate).Role(balancer.RolePrimary)
	b := w.Version(baseline).Role(balancer.RolePrimary)
	return Look{
		Candidate: Figures{Calls: c.Calls, Errors: c.Errors, Latency: judgeHistogram(c.Latency)},
		Baseline:  Figures{Calls: b.Calls, Errors: b.Errors, Latency: judgeHistogram(b.Latency)},
		Shadow:    shadowFigures(w.Version(candidate)),
	}
}

// shadowFigures counts the candidate's comparisons: a shadow error (the
// candidate failed where the primary did not) is a mismatch, noise is a
// match, and a failed primary compares nothing.
func shadowFigures(v telemetry.VersionStats) ShadowFigures {
	mism := v.Shadow[telemetry.ShadowMismatch] + v.Shadow[telemetry.ShadowError]
	return ShadowFigures{
		Comparisons: mism + v.Shadow[telemetry.ShadowMatch] + v.Shadow[telemetry.ShadowNoise],
		Mismatches:  mism,
	}
}

// The judge's latency grid: base-2 exponential buckets at scale 3 (eight per
// octave, each 9 % wide) from 50 µs to 60 s, a bucket for zeros below them
// and +Inf above. The judge needs one grid for the whole rollout, while each
// window's histograms have the scale that fitted their own range, so every
// histogram is mapped onto this one.
const (
	gridScale = 3
	gridLo    = -115 // bucket (2^(-115/8), 2^(-114/8)] holds 50 µs
	gridHi    = 47   // bucket (2^(47/8), 2^(48/8)] ends at 64 s
)

var gridBounds = func() []float64 {
	b := []float64{0}
	for t := gridLo; t <= gridHi; t++ {
		b = append(b, math.Exp2(float64(t+1)/(1<<gridScale)))
	}
	return b
}()

// LatencyGrid returns the bucket bounds (seconds) of the histograms the
// sentinel gives its judge: every window's latency is mapped onto them.
func LatencyGrid() []float64 { return slices.Clone(gridBounds) }

// judgeHistogram maps a window's exponential histogram onto the judge's
// grid. Buckets as fine as the grid or finer nest exactly; a coarser bucket
// (a window whose latencies spread over more than 20 octaves) goes whole
// into the grid bucket of its geometric middle.
func judgeHistogram(h telemetry.Histogram) Histogram {
	if h.Empty() {
		return Histogram{} // no data
	}
	counts := make([]uint64, len(gridBounds)+1)
	counts[0] = h.ZeroCount
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		idx := int64(h.Offset) + int64(i)
		var t int64
		if h.Scale >= gridScale {
			t = idx >> uint(h.Scale-gridScale)
		} else {
			// The middle of (2^(idx/2^s), 2^((idx+1)/2^s)] in grid units.
			t = int64(math.Floor((float64(idx) + 0.5) * math.Exp2(float64(gridScale-h.Scale))))
		}
		switch {
		case t < gridLo:
			counts[1] += c
		case t > gridHi:
			counts[len(gridBounds)] += c
		default:
			counts[1+t-gridLo] += c
		}
	}
	return Histogram{Bounds: gridBounds, Counts: counts}
}

// VersionFigures sums up one version's primary calls in a window, for
// status pages, events and scripts. Rates and quantiles are 0 when there
// were no calls.
type VersionFigures struct {
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	P50       float64 `json:"p50"`
	P90       float64 `json:"p90"`
	P99       float64 `json:"p99"`
	// The version's shadow comparisons (as a candidate) and mismatches.
	ShadowComparisons int64 `json:"shadowComparisons"`
	ShadowMismatches  int64 `json:"shadowMismatches"`
	Fallbacks         int64 `json:"fallbacks"`
}

func figuresOf(w *telemetry.Window, version string) VersionFigures {
	v := w.Version(version)
	r := v.Role(balancer.RolePrimary)
	sh := shadowFigures(v)
	f := VersionFigures{
		Calls:             r.Calls,
		Errors:            r.Errors,
		ShadowComparisons: sh.Comparisons,
		ShadowMismatches:  sh.Mismatches,
		Fallbacks:         v.Fallbacks,
	}
	if r.Calls > 0 {
		f.ErrorRate = float64(r.Errors) / float64(r.Calls)
		f.P50, f.P90, f.P99 = finite(r.Latency.P50()), finite(r.Latency.P90()), finite(r.Latency.P99())
	}
	return f
}
