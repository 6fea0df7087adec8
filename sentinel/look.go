package sentinel

import (
	"math"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// lookFrom turns one tick's window into the judge's look: the two versions'
// primary calls (shadow copies and warm-ups are kept apart by their role)
// and the candidate's shadow comparisons.
func lookFrom(w *telemetry.Window, baseline, candidate string) Look {
	c := w.Version(candidate).Role(balancer.RolePrimary)
	b := w.Version(baseline).Role(balancer.RolePrimary)
	ch, bh := alignHistograms(c.Latency, b.Latency)
	return Look{
		Candidate: Figures{Calls: c.Calls, Errors: c.Errors, Latency: ch},
		Baseline:  Figures{Calls: b.Calls, Errors: b.Errors, Latency: bh},
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

// alignHistograms puts two exponential histograms on the same buckets, at
// the lower of their scales, as the judge's explicit-bound histograms: the
// first bucket holds the zeros, the last (+Inf) is empty.
func alignHistograms(a, b telemetry.Histogram) (Histogram, Histogram) {
	if a.Empty() && b.Empty() {
		return Histogram{}, Histogram{}
	}
	scale := int32(telemetry.MaxScale)
	for _, h := range [2]telemetry.Histogram{a, b} {
		if !h.Empty() {
			scale = min(scale, h.Scale)
		}
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, h := range [2]telemetry.Histogram{a, b} {
		d := uint(h.Scale - scale)
		for i, c := range h.Counts {
			if c != 0 {
				idx := (int64(h.Offset) + int64(i)) >> d
				lo, hi = min(lo, idx), max(hi, idx)
			}
		}
	}
	if lo > hi { // zeros only
		lo, hi = 0, -1
	}
	n := int(hi - lo + 1)
	bounds := make([]float64, n+1)
	bounds[0] = 0
	for k := range n {
		bounds[k+1] = math.Exp2(float64(lo+int64(k)+1) * math.Exp2(-float64(scale)))
	}
	conv := func(h telemetry.Histogram) Histogram {
		if h.Empty() {
			return Histogram{Bounds: bounds}
		}
		counts := make([]uint64, n+2)
		counts[0] = h.ZeroCount
		d := uint(h.Scale - scale)
		for i, c := range h.Counts {
			if c != 0 {
				counts[((int64(h.Offset)+int64(i))>>d)-lo+1] += c
			}
		}
		return Histogram{Bounds: bounds, Counts: counts}
	}
	return conv(a), conv(b)
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
