package fleetdemo

import (
	"context"
	"flag"
	"io"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
)

// Flags are the fleet recipe's flags.
type Flags struct {
	opts       Options
	etcd       *string
	regression *string
}

// AddFlags defines the recipe's flags on fs; the live view goes to out.
func AddFlags(fs *flag.FlagSet, out io.Writer) *Flags {
	f := &Flags{opts: Options{Interval: time.Second, Out: out}}
	f.etcd = fs.String("etcd", "", "etcd endpoints, comma-separated; empty starts an embedded etcd on loopback")
	fs.IntVar(&f.opts.Replicas, "replicas", 5, "client replicas")
	f.regression = fs.String("regression", "errors", "what goes wrong with the canary at its second step: "+strings.Join(Regressions, ", "))
	fs.IntVar(&f.opts.Rate, "rate", 100, "calls per second of each replica")
	fs.DurationVar(&f.opts.TTL, "ttl", 2*time.Second, "the etcd lease TTL: how soon a dead replica or sentinel is gone")
	fs.BoolVar(&f.opts.KillLeader, "kill-leader", true, "kill the leading sentinel in the middle of the first step")
	fs.DurationVar(&f.opts.Duration, "duration", 2*time.Minute, "the longest the run lasts")
	fs.StringVar(&f.opts.Webhook, "webhook", "", "POST every alert as JSON to this URL (with a Slack-compatible text field)")
	fs.BoolVar(&f.opts.DryRun, "dry-run", false, "judge and report every decision, but move no weight")
	return f
}

// Main runs the recipe with the flags' settings until its rollout ends or
// the program is interrupted; run is the recipe's Run. Its error is the
// Result's.
func (f *Flags) Main(run func(context.Context, Options) (*Result, error)) error {
	opts := f.opts
	var err error
	if opts.Regression, err = ParseRegression(*f.regression); err != nil {
		return err
	}
	if *f.etcd != "" {
		opts.Endpoints = strings.Split(*f.etcd, ",")
	}
	return demo.UntilInterrupted(func(ctx context.Context) (*Result, error) { return run(ctx, opts) })
}
