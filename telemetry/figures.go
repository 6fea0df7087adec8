package telemetry

import (
	"math"

	"github.com/ninelives-go/ninelives/balancer"
)

// Figures sums up one version's primary calls in a window, as status
// pages, events and strategies show them. Rates and quantiles are 0 when
// there were no calls.
type Figures struct {
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	P50       float64 `json:"p50"`
	P90       float64 `json:"p90"`
	P99       float64 `json:"p99"`
	// The version's shadow comparisons (as a candidate) and mismatches; a
	// copy that failed where its primary did not counts in both.
	ShadowComparisons int64 `json:"shadowComparisons"`
	ShadowMismatches  int64 `json:"shadowMismatches"`
	Fallbacks         int64 `json:"fallbacks"`
}

// Figures sums up version's primary calls in w (nil: none).
func (w *Window) Figures(version string) Figures {
	v := w.Version(version)
	r := v.Role(balancer.RolePrimary)
	failed := v.Shadow[ShadowError]
	f := Figures{
		Calls:             r.Calls,
		Errors:            r.Errors,
		ShadowComparisons: v.Shadow[ShadowMatch] + v.Shadow[ShadowMismatch] + v.Shadow[ShadowNoise] + failed,
		ShadowMismatches:  v.Shadow[ShadowMismatch] + failed,
		Fallbacks:         v.Fallbacks,
	}
	if r.Calls > 0 {
		f.ErrorRate = float64(r.Errors) / float64(r.Calls)
		f.P50, f.P90, f.P99 = finite(r.Latency.P50()), finite(r.Latency.P90()), finite(r.Latency.P99())
	}
	return f
}

// Plus sums the figures of two neighbouring windows: calls, errors,
// comparisons and fallbacks add up, the error rate is theirs over the
// sum, and each latency quantile is the larger of the two (a bound, as
// the histograms are not kept).
func (f Figures) Plus(g Figures) Figures {
	s := Figures{Calls: f.Calls + g.Calls, Errors: f.Errors + g.Errors,
		P50: max(f.P50, g.P50), P90: max(f.P90, g.P90), P99: max(f.P99, g.P99),
		ShadowComparisons: f.ShadowComparisons + g.ShadowComparisons, ShadowMismatches: f.ShadowMismatches + g.ShadowMismatches,
		Fallbacks: f.Fallbacks + g.Fallbacks}
	if s.Calls > 0 {
		s.ErrorRate = float64(s.Errors) / float64(s.Calls)
	}
	return s
}

// finite returns x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
