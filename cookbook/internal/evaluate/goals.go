package evaluate

import (
	"fmt"
	"strings"
	"time"
)

// metPrefix begins a met goal's text.
const metPrefix = "met: "

// met marks a goal's figures as met or missed.
func met(ok bool, figures string) string {
	if ok {
		return metPrefix + figures
	}
	return "MISSED: " + figures
}

// minKept is the least share of its rate a run's load must keep for the
// row to measure the judge: below it the machine could not carry the load
// (calls queue past their deadlines on both versions), an overload rather
// than the noise of a busy machine.
const minKept = 0.9

// goal is the row's goal, unless a run's load fell below minKept or a
// run's user calls timed out where the scenario's faults cannot make them:
// then the machine was overloaded, and the row measured the overload
// rather than the noise of a busy machine. A healthy candidate's goal (no
// rollback, no move while down, an alert or a promotion in time) met
// through an overload, every run decided, is met, and says so: the
// overload's timeouts and delays can only have pushed it towards a miss
// (decidedHealthy). A regression's goal is not measured then, since
// timeouts on the candidate are evidence against it, nor is any goal
// missed through an overload.
func (row Row) goal(all []Row) string {
	g := row.Scenario.Goal(row, all)
	overload, fix := row.overload()
	if overload == "" {
		return g
	}
	if figures, ok := strings.CutPrefix(g, metPrefix); ok && row.decidedHealthy() {
		return "met through an overload: " + figures + "; " + overload
	}
	return "NOT MEASURED: " + overload + ": " + fix
}

// overload says how the machine did not carry row's runs, and what to do
// about it; "" when it did.
func (row Row) overload() (what, fix string) {
	switch {
	case row.Runs > 0 && row.Kept < minKept:
		return fmt.Sprintf("the machine did not carry the load (a run kept %s of its rate, want ≥ %s)", percent(row.Kept), percent(minKept)),
			"run fewer at once (-parallel, -hog-rate-budget)"
	case row.Stalled > 0 && !row.Scenario.mayTimeOut():
		return fmt.Sprintf("the machine stalled (%d of %d runs had user calls past their %v deadline, %d calls)", row.Stalled, row.Runs, callTimeout, row.TimedOut),
			"run fewer at once (-parallel, -rate-budget, -hog-rate-budget) on a machine nothing else loads"
	}
	return "", ""
}

// decidedHealthy reports whether an overload can only have pushed row's
// goal towards a miss: a healthy candidate's (not Harmful), every run
// decided (held only where holding is the scenario's measure, and none
// the harness failed), and none rolled back where the scenario's faults
// come later, since a run rolled back before its kill, outage or lost
// server never met them.
func (row Row) decidedHealthy() bool {
	sc := row.Scenario
	switch {
	case sc.Harmful, row.Failed > 0:
		return false
	case row.Held > 0 && sc.Wiring != Readme:
		return false
	case len(sc.Events) > 0 && row.RolledBack > 0:
		return false
	}
	return true
}

// falseRollbacks is a healthy candidate's goal: at most 1 % of its runs
// rolled back.
func falseRollbacks(r Row, _ []Row) string {
	return met(r.RolledBack*100 <= r.Runs, fmt.Sprintf("≤ 1 %% rolled back (%d of %d)", r.RolledBack, r.Runs))
}

// caught is a regression's goal: at least share of its runs rolled back,
// with a median of at most median candidate calls (0: any).
func caught(share float64, median float64) func(Row, []Row) string {
	return func(r Row, _ []Row) string {
		ok := float64(r.RolledBack) >= share*float64(r.Runs)
		figures := fmt.Sprintf("≥ %g %% rolled back (%d of %d)", 100*share, r.RolledBack, r.Runs)
		if median > 0 {
			ok = ok && r.Median <= median
			figures += fmt.Sprintf(", median ≤ %g calls (%s)", median, number(r.Median))
		}
		return met(ok, figures)
	}
}

// lateAsFresh is a late break's goal: a median from the break at most
// twice the median of the same regression from the start, errors-10x,
// with the hog in the same state.
func lateAsFresh(r Row, all []Row) string {
	for _, f := range all {
		if f.Scenario.Name == "errors-10x" && f.Hog == r.Hog {
			return met(r.Median <= 2*f.Median && r.RolledBack == r.Runs,
				fmt.Sprintf("all rolled back (%d of %d), median from the break ≤ 2× errors-10x's (%s vs 2 × %s)",
					r.RolledBack, r.Runs, number(r.Median), number(f.Median)))
		}
	}
	return "no errors-10x row to compare with"
}

// neverMovedWhileDown is a killed candidate's goal: no step advanced and
// no promotion while its servers were down, and no user call failed but
// those in flight at the kill (or picked before the client saw it: started
// in the second after it), whenever their callers saw them fail.
func neverMovedWhileDown(r Row, _ []Row) string {
	return met(r.MovedWhileDown == 0 && r.FailedAfterKill == 0,
		fmt.Sprintf("never advanced or promoted while down (%d of %d did), no call started later than 1 s after the kill failed (%d did)",
			r.MovedWhileDown, r.Runs, r.FailedAfterKill))
}

// caughtNeverMoved is a crash loop's goal: every run rolled back, none
// advanced or promoted while the candidate was down.
func caughtNeverMoved(r Row, all []Row) string {
	return met(r.RolledBack == r.Runs && r.MovedWhileDown == 0,
		fmt.Sprintf("all rolled back (%d of %d), never advanced or promoted while down (%d did)", r.RolledBack, r.Runs, r.MovedWhileDown))
}

// fixAlerted is the README wiring's goal: every run alerted with the fix
// within a minute.
func fixAlerted(r Row, _ []Row) string {
	figures := fmt.Sprintf("alert naming the fix within 1 min (%d of %d", r.FixAlerted, r.Runs)
	if r.FixAlerted > 0 {
		figures += fmt.Sprintf(", slowest %v", r.SlowestFix.Round(time.Second))
	}
	return met(r.FixAlerted == r.Runs, figures+")")
}

// promotedWithin is a default rollout's goal: every run promoted within d.
func promotedWithin(d time.Duration) func(Row, []Row) string {
	return func(r Row, _ []Row) string {
		return met(r.Promoted == r.Runs && r.Slowest <= d,
			fmt.Sprintf("all promoted within %v (%d of %d, slowest %v)", d, r.Promoted, r.Runs, r.Slowest.Round(time.Second)))
	}
}
