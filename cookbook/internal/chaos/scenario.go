package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"
)

// Env is what every scenario runs with.
type Env struct {
	// Bin is the demofleet program (demoproc.Build); Dir a scratch
	// directory (etcd's data).
	Bin, Dir string
	// Rate is the load's calls/s: one client process's, or the fleet's
	// over its replicas.
	Rate int
	// CallTimeout is each call's deadline.
	CallTimeout time.Duration
	// Phase is how long each part of a scenario lasts: the steady load
	// before a fault, a crash before the restart, the load after.
	Phase time.Duration
	// Wait bounds each wait for the system to get somewhere (a rollback,
	// a recovery); past it the scenario fails.
	Wait   time.Duration
	Logger *slog.Logger
}

// Scenario is one chaos scenario.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, env Env, r *Result) error
}

// Result is what a scenario did: its calls, the process before and after,
// its ticks, how long the system took to recover, and its checks.
type Result struct {
	Name          string
	Tally         Tally
	Before, After Sample
	Ticks         Timings
	Figures       []Figure
	Notes         []string
	Checks        []Check
	Err           error
	// Timeline names what happened when, in seconds from the start.
	Timeline []string
	start    time.Time
}

// Figure is a named duration: a recovery, a rollback.
type Figure struct {
	Name string
	D    time.Duration
}

// Check is one assertion of a scenario.
type Check struct {
	What string
	OK   bool
	Got  string
}

// check records an assertion.
func (r *Result) check(ok bool, what, got string, args ...any) {
	r.Checks = append(r.Checks, Check{What: what, OK: ok, Got: fmt.Sprintf(got, args...)})
}

func (r *Result) figure(name string, d time.Duration) { r.Figures = append(r.Figures, Figure{name, d}) }

// at notes that what happened now.
func (r *Result) at(what string) { r.Timeline = append(r.Timeline, what+" "+r.since(time.Now())) }

func (r *Result) since(t time.Time) string { return fmt.Sprintf("+%.1fs", t.Sub(r.start).Seconds()) }

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Failed returns the checks that failed, with the scenario's error as one.
func (r *Result) Failed() []Check {
	var out []Check
	if r.Err != nil {
		out = append(out, Check{What: "the scenario ran to its end", Got: r.Err.Error()})
	}
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Run runs sc, sampling the process before and after.
func Run(ctx context.Context, env Env, sc Scenario) *Result {
	r := &Result{Name: sc.Name, Before: Take(), start: time.Now()}
	r.Err = sc.Run(ctx, env, r)
	if t := r.Tally; t.Failed > 0 {
		r.Timeline = append(r.Timeline, fmt.Sprintf("failed calls began %s to %s", r.since(t.FirstFailure), r.since(t.LastFailure)))
	}
	r.After = Settle(r.Before, env.Wait)
	r.check(r.After.Goroutines <= r.Before.Goroutines+goroutineSlack, "no goroutine left behind",
		"%d before, %d after", r.Before.Goroutines, r.After.Goroutines)
	r.check(r.After.FDs <= r.Before.FDs+fdSlack, "no file left open", "%d before, %d after", r.Before.FDs, r.After.FDs)
	return r
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitFor polls cond every 10 ms until it holds, and returns how long that
// took; past wait it returns an error naming what.
func waitFor(ctx context.Context, wait time.Duration, what string, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > wait {
			return 0, fmt.Errorf("ninelives: chaos: %s: not after %v", what, wait)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// Print writes the results as a table, then each failed check and the
// notes.
func Print(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tcalls\tfailed (safe)\tof them begun before the client saw the fault\tticks p50 / p99 / max\trecovery\tgoroutines\theap MiB\tresult")
	for _, r := range rs {
		p50, p99, worst, _ := r.Ticks.Quantiles()
		verdict := "ok"
		if len(r.Failed()) > 0 {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d (%d)\t%d\t%s / %s / %s\t%s\t%d → %d\t%.1f → %.1f\t%s\n", r.Name, r.Tally.Calls, r.Tally.Failed,
			r.Tally.FailedSafe, r.Tally.FailedBefore, ms(p50), ms(p99), ms(worst), figures(r.Figures),
			r.Before.Goroutines, r.After.Goroutines, mib(r.Before.HeapBytes), mib(r.After.HeapBytes), verdict)
	}
	tw.Flush()
	for _, r := range rs {
		for _, c := range r.Failed() {
			fmt.Fprintf(w, "FAIL %s: %s: %s\n", r.Name, c.What, c.Got)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, n)
		}
		if len(r.Timeline) > 0 {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, strings.Join(r.Timeline, ", "))
		}
	}
}

func figures(fs []Figure) string {
	if len(fs) == 0 {
		return "-"
	}
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %.1fs", f.Name, f.D.Seconds()))
	}
	return strings.Join(parts, "; ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
