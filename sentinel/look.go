package sentinel

import (
	"math"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/internal/grid"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// lookFrom turns one tick's window into the judge's look: the two versions'
// primary calls (shadow copies and warm-ups are kept apart by their role),
// their latency mapped onto one grid for the whole rollout, and the
// candidate's shadow comparisons.
func lookFrom(w *telemetry.Window, baseline, candidate string) judge.Look {
	c := w.Version(candidate).Role(balancer.RolePrimary)
	b := w.Version(baseline).Role(balancer.RolePrimary)
	return judge.Look{
		Candidate: judge.Figures{Calls: c.Calls, Errors: c.Errors, Latency: grid.Buckets(c.Latency)},
		Baseline:  judge.Figures{Calls: b.Calls, Errors: b.Errors, Latency: grid.Buckets(b.Latency)},
		Shadow:    shadowFigures(w.Version(candidate)),
	}
}

// shadowFigures counts the candidate's copies: Comparisons and Mismatches
// are the replies compared (noise is a match, a failed primary compares
// nothing); Errors and PrimaryErrors are the copies that failed on one
// side only, which the judge weighs against each other rather than against
// a tolerance, so that an outage both versions share does not count.
func shadowFigures(v telemetry.VersionStats) judge.ShadowFigures {
	return judge.ShadowFigures{
		Comparisons:   v.Shadow[telemetry.ShadowMatch] + v.Shadow[telemetry.ShadowMismatch] + v.Shadow[telemetry.ShadowNoise],
		Mismatches:    v.Shadow[telemetry.ShadowMismatch],
		Errors:        v.Shadow[telemetry.ShadowError],
		PrimaryErrors: v.Shadow[telemetry.ShadowPrimaryError],
	}
}

// withErrors counts a copy that failed where its primary did not as a
// mismatch, as the status and blue/green's shadow gate (a one-sample test
// of green, which has no primary calls yet) do.
func withErrors(sh judge.ShadowFigures) (comparisons, mismatches int64) {
	return sh.Comparisons + sh.Errors, sh.Mismatches + sh.Errors
}

// VersionFigures sums up one version's primary calls in a window, for
// status pages, events and strategies. Rates and quantiles are 0 when there
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

// FiguresOf sums up a version's primary calls in w (nil: none), as the
// status and the events show them.
func FiguresOf(w *telemetry.Window, version string) VersionFigures {
	v := w.Version(version)
	r := v.Role(balancer.RolePrimary)
	comparisons, mismatches := withErrors(shadowFigures(v))
	f := VersionFigures{
		Calls:             r.Calls,
		Errors:            r.Errors,
		ShadowComparisons: comparisons,
		ShadowMismatches:  mismatches,
		Fallbacks:         v.Fallbacks,
	}
	if r.Calls > 0 {
		f.ErrorRate = float64(r.Errors) / float64(r.Calls)
		f.P50, f.P90, f.P99 = finite(r.Latency.P50()), finite(r.Latency.P90()), finite(r.Latency.P99())
	}
	return f
}

// finite returns x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
