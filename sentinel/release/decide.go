package release

import (
	"fmt"

	"github.com/ninelives-go/ninelives/sentinel"
)

// step is what the builds call for: an action (none, ActionRelease,
// sentinel.ActionAbort, ActionFinalize), its reason, and in words what the
// lifecycle does or waits for.
type step struct {
	action          sentinel.Action
	build, baseline string
	reason, note    string
}

// decide reads the builds against where the lifecycle stands. A rollout
// judges one build of the candidate against one of the baseline: it
// begins when every ready endpoint of each serves one build, the two
// differ and the candidate's is not the one last judged; a candidate or a
// baseline that starts serving another build aborts it, since its
// evidence is of the old one; a promoted build is finalized once every
// ready endpoint of the baseline serves it.
func decide(rec Record, phase sentinel.Phase, b Builds, base, cand string) step {
	cb, bb := b[cand], b[base]
	switch rec.Stage {
	case StageRolling:
		if phase.Final() {
			return step{note: fmt.Sprintf("the rollout of build %s is %s", rec.Build, phase)}
		}
		if other, ok := cb.Other(rec.Build); ok {
			return step{action: sentinel.ActionAbort, reason: fmt.Sprintf(
				"%s now serves build %s, not %s, the build this rollout judges: aborted; the next rollout begins once %s serves one build",
				cand, other, rec.Build, cand)}
		}
		if other, ok := bb.Other(rec.BaselineBuild); ok {
			return step{action: sentinel.ActionAbort, reason: fmt.Sprintf(
				"%s now serves build %s, not %s, the build this rollout compares against: aborted", base, other, rec.BaselineBuild)}
		}
		return step{note: rollingNote(rec, base, cand)}
	case StageFinalizing:
		if u, ok := bb.Uniform(); ok && u == rec.Build {
			return step{action: ActionFinalize, reason: fmt.Sprintf("%s serves the promoted build %s on every ready endpoint: all the traffic returns to %s",
				base, rec.Build, base)}
		}
		return step{note: fmt.Sprintf("build %s was promoted; %s has the traffic until %s serves it (%s: %s)", rec.Build, cand, base, base, bb)}
	}
	return waiting(rec, cb, bb, base, cand)
}

// waiting decides while no rollout is under way.
func waiting(rec Record, cb, bb VersionBuilds, base, cand string) step {
	cu, cok := cb.Uniform()
	bu, bok := bb.Uniform()
	switch {
	case !cok:
		return step{note: fmt.Sprintf("waiting for %s to serve one build (%s)", cand, cb)}
	case !bok:
		return step{note: fmt.Sprintf("waiting for %s to serve one build (%s)", base, bb)}
	case cu == bu:
		return step{note: fmt.Sprintf("%s and %s both serve build %s: waiting for a new build behind %s", base, cand, cu, cand)}
	case cu == rec.Build:
		return step{note: fmt.Sprintf("build %s was judged already: waiting for a new build behind %s", cu, cand)}
	}
	return step{action: ActionRelease, build: cu, baseline: bu, reason: fmt.Sprintf(
		"build %s is behind %s (%s serves %s): rollout %d begins", cu, cand, base, bu, rec.Number+1)}
}

func rollingNote(rec Record, base, cand string) string {
	return fmt.Sprintf("rolling out build %s behind %s (%s serves %s)", rec.Build, cand, base, rec.BaselineBuild)
}

// endedNote says how a rollout ended and what comes next.
func endedNote(rec Record, phase sentinel.Phase, base, cand string) string {
	if phase == sentinel.PhasePromoted {
		return fmt.Sprintf("build %s was promoted; %s has the traffic until %s serves it", rec.Build, cand, base)
	}
	return fmt.Sprintf("build %s was %s: waiting for a new build behind %s", rec.Build, phase, cand)
}
