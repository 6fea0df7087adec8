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
// candidate's shadow comparisons. The candidate's figures leave out what
// out says (its unanswered calls: servingTracker.settleLost).
func lookFrom(w *telemetry.Window, baseline, candidate string, out leftOut) judge.Look {
	c := out.from(w.Version(candidate).Role(balancer.RolePrimary))
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

// finite returns x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
