package demo

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// view prints the live terminal view: one line per tick.
type view struct {
	out  io.Writer
	rc   *Recipe
	opts Options
}

func newView(out io.Writer, rc *Recipe, opts Options) *view {
	return &view{out: out, rc: rc, opts: opts}
}

func (v *view) header() {
	fmt.Fprintf(v.out, "ninelives %s recipe: %d %s and %d %s servers on loopback, %d calls/s, a tick every %v\n",
		v.rc.Name, v.rc.Instances, v.rc.Baseline, v.rc.Instances, v.rc.Candidate, v.opts.Rate, v.opts.Interval)
	fmt.Fprintf(v.out, "Regression: %s: %s\n", v.opts.Regression, v.rc.DescribeRegression(v.opts.Regression))
	if v.opts.DryRun {
		fmt.Fprintf(v.out, "Dry run: the sentinel judges and decides, but moves no weight.\n")
	}
	fmt.Fprintf(v.out, "Each line: time, phase and step, the %s's weight, then per version calls/s, error %% and p99 of the tick, shadow mismatches, and the decision.\n\n",
		v.rc.Candidate)
}

func (v *view) tick(t Tick) {
	secs := v.opts.Interval.Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs  %-22s %-6s", t.At.Seconds(), PhaseLabel(t.Phase, t.Step, t.StepName), plan.Label(t.Summary.Weights[v.rc.Candidate]))
	for _, ver := range []string{v.rc.Baseline, v.rc.Candidate} {
		f := t.Summary.Versions[ver]
		fmt.Fprintf(&b, " | %-6s %5.0f/s err %5.2f%% p99 %6s", ver, float64(f.Calls)/secs, 100*f.ErrorRate, ms(f.P99))
	}
	fmt.Fprintf(&b, " | mism %3d | %s", t.Summary.Versions[v.rc.Candidate].ShadowMismatches, DecisionLabel(t.Decision))
	fmt.Fprintln(v.out, b.String())
}

func (v *view) summary(r *Result) {
	fmt.Fprintf(v.out, "\nSummary\n")
	fmt.Fprintf(v.out, "  outcome:          %s after %v (%d ticks)\n", r.Phase, r.Elapsed.Round(time.Second), len(r.Ticks))
	fmt.Fprintf(v.out, "  calls:            %d made, %d failed (%.2f%%), %d of them of methods safe to repeat\n", r.Calls, r.Failed, 100*ratio(r.Failed, r.Calls), r.FailedSafe)
	if r.Rescue != nil {
		fmt.Fprintf(v.out, "  rescued:          %d answered by %s (%d after the hedge delay), %d failed there too, %d throttled by the budget\n",
			r.Rescue.Rescued, v.rc.Baseline, r.Rescue.Hedged, r.Rescue.RescueFailed, r.Rescue.Throttled)
	}
	fmt.Fprintf(v.out, "  %-17s %d primary calls before the final decision\n", v.rc.Candidate+":", r.CandidateCalls)
	fmt.Fprintf(v.out, "  alerts:           %d\n", len(r.Alerts))
	fmt.Fprintf(v.out, "  decisions:\n")
	for _, e := range r.Events {
		fmt.Fprintf(v.out, "    %5.0fs  %-12s %s\n", e.Time.Sub(r.startTime()).Seconds(), e.Action, e.Reason)
	}
	elapsed := r.Elapsed.Round(time.Second)
	switch {
	case r.Phase == sentinel.PhaseRolledBack && v.opts.Regression != RegressionNone:
		fmt.Fprintf(v.out, "\nThe regression (%s) was caught and rolled back: the %s has no traffic left.\n", v.opts.Regression, v.rc.Candidate)
	case r.Phase == sentinel.PhasePromoted:
		fmt.Fprintf(v.out, "\nThe %s was promoted: it has all the traffic.\n", v.rc.Candidate)
	case r.Phase.Final():
	case r.Interrupted && r.Phase == sentinel.PhasePaused:
		fmt.Fprintf(v.out, "\nThe run was interrupted after %v while the rollout was paused by hand (%s): nothing was promoted or rolled back, the weights stayed where the pause held them.\n",
			elapsed, pausedBy(r.Events))
	case r.Interrupted:
		fmt.Fprintf(v.out, "\nThe run was interrupted after %v, before the rollout finished (phase %s).\n", elapsed, r.Phase)
	case r.Phase == sentinel.PhasePaused:
		fmt.Fprintf(v.out, "\nThe rollout was paused by hand (%s) and was still paused when the run's -duration ran out after %v: nothing was promoted or rolled back, the weights stayed where the pause held them.\n",
			pausedBy(r.Events), elapsed)
	default:
		fmt.Fprintf(v.out, "\nThe run's -duration ran out after %v, before the rollout finished (phase %s); give it a longer -duration.\n", elapsed, r.Phase)
	}
	if r.DryRun {
		fmt.Fprintf(v.out, "This was a dry run: the decisions above are those the sentinel would have carried out; no weight moved.\n")
	}
	if r.Interrupted && r.Phase.Final() {
		fmt.Fprintf(v.out, "The run was interrupted after %v, after the rollout's final decision.\n", elapsed)
	}
}

// pausedBy names who paused the rollout last, and why, from its decisions.
func pausedBy(events []sentinel.Event) string {
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; e.Phase == sentinel.PhasePaused && (e.Action == sentinel.ActionPause || e.Action == sentinel.ActionSetWeights) {
			s := "by " + e.Who
			if e.Who == "" {
				s = "by an unnamed caller"
			}
			if e.Reason != "" {
				s += ": " + e.Reason
			}
			return s
		}
	}
	return "from the status page or the API"
}

func (r *Result) startTime() time.Time {
	if len(r.Ticks) == 0 {
		return time.Time{}
	}
	return r.Ticks[0].Decision.Time.Add(-r.Ticks[0].At)
}

// PhaseLabel renders a phase with its step while the rollout has one:
// "progressing 2 (25%)".
func PhaseLabel(p sentinel.Phase, step int, name string) string {
	if p == sentinel.PhaseProgressing || p == sentinel.PhasePaused {
		if name != "" {
			return fmt.Sprintf("%s %d (%s)", p, step, name)
		}
		return fmt.Sprintf("%s %d", p, step)
	}
	return string(p)
}

// DecisionLabel renders a decision for the live view: "hold: reason", or
// the action in capitals and its reason, marked "(dry run)" when nothing
// was carried out.
func DecisionLabel(e sentinel.Event) string {
	if e.Action == sentinel.ActionHold {
		return "hold: " + e.Reason
	}
	label := strings.ToUpper(string(e.Action))
	if e.DryRun {
		label += " (dry run)"
	}
	return label + ": " + e.Reason
}

func ms(s float64) string {
	if s == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", s*1000)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
