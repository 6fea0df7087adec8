package demo

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
)

// Flags are the flags every recipe's program shares.
type Flags struct {
	Rate        *int
	Duration    *time.Duration
	MetricsAddr *string
	StatusAddr  *string
	Report      *string
	Seed        *uint64
	Webhook     *string
	DryRun      *bool
	Rescue      *bool
}

// AddFlags defines the shared flags on fs with the recipe's defaults.
func AddFlags(fs *flag.FlagSet, rate int, report string) *Flags {
	return &Flags{
		Rate:        fs.Int("rate", rate, "calls per second"),
		Duration:    fs.Duration("duration", 2*time.Minute, "the longest the run lasts"),
		MetricsAddr: fs.String("metrics-addr", "", "serve Prometheus metrics here during the run (e.g. 127.0.0.1:9464)"),
		StatusAddr:  fs.String("status-addr", "127.0.0.1:0", "serve the rollout status page here; empty for none"),
		Report:      fs.String("report", report, "write the HTML report here; empty for none"),
		Seed:        fs.Uint64("seed", 1, "seed of the load's choices"),
		Webhook:     fs.String("webhook", "", "POST every alert as JSON to this URL (with a Slack-compatible text field)"),
		DryRun:      fs.Bool("dry-run", false, "judge and report every decision, but move no weight"),
		Rescue:      fs.Bool("rescue", false, "send the candidate's failed or hung calls of methods safe to repeat once more to the baseline"),
	}
}

// Options are the flags' settings for a real-time run that prints to
// stdout, with the regression read from its flag.
func (f *Flags) Options(regression string) (Options, error) {
	reg, err := ParseRegression(regression)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Regression:  reg,
		Rate:        *f.Rate,
		Duration:    *f.Duration,
		Interval:    time.Second,
		MetricsAddr: *f.MetricsAddr,
		StatusAddr:  *f.StatusAddr,
		Report:      *f.Report,
		Out:         os.Stdout,
		Seed:        *f.Seed,
		Webhook:     *f.Webhook,
		DryRun:      *f.DryRun,
		Rescue:      *f.Rescue,
	}, nil
}

// Main runs a recipe's program with the flags' settings until its rollout
// ends or the program is interrupted: it starts the recipe's servers and
// hands them to rollout, which wires the client and the sentinel and
// returns Run's result. Its error is the Result's.
func (f *Flags) Main(regression string, rc *Recipe, rollout func(context.Context, *Demo) (*Result, error)) error {
	opts, err := f.Options(regression)
	if err != nil {
		return err
	}
	d, err := Start(rc, opts)
	if err != nil {
		return err
	}
	defer d.Stop()
	return UntilInterrupted(func(ctx context.Context) (*Result, error) { return rollout(ctx, d) })
}

// UntilInterrupted runs run with a context that Ctrl-C ends, and returns
// run's error, or else the error its result reports.
func UntilInterrupted[R interface{ Err() error }](run func(context.Context) (R, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx)
	if err != nil {
		return err
	}
	return res.Err()
}

// Outcome is the error of a run that ended in phase after elapsed, by
// itself or interrupted: none for a rollout that finished, or for one
// paused by hand and still paused when the run's -duration ran out; an
// error for a run interrupted before its rollout finished, paused or not,
// and for a rollout still under way when -duration ran out. Every recipe's
// program exits with it.
func Outcome(phase sentinel.Phase, interrupted bool, elapsed time.Duration) error {
	elapsed = elapsed.Round(time.Second)
	switch {
	case phase.Final():
		return nil
	case interrupted:
		return fmt.Errorf("ninelives: the run was interrupted after %v, before the rollout finished (phase %s)", elapsed, phase)
	case phase == sentinel.PhasePaused:
		return nil
	}
	return fmt.Errorf("ninelives: the rollout did not finish in %v (phase %s); give it a longer -duration", elapsed, phase)
}
