package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
)

// Demo is one run of a recipe: its servers, clock, live view and alert
// lines, and the HTTP servers of its metrics and status page.
type Demo struct {
	rc      Recipe
	opts    Options
	servers *demoserver.Fleet
	clock   *Clock
	alerts  *alertLog
	view    *view
	http    []*http.Server
}

// Start checks the options and starts the recipe's servers on loopback: the
// baseline's healthy, the candidate's with the regression's faults.
func Start(rc *Recipe, opts Options) (*Demo, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	d := &Demo{rc: *rc, opts: opts, clock: NewClock(opts.Virtual), alerts: &alertLog{out: opts.Out}}
	if d.rc.Instances == 0 {
		d.rc.Instances = 3
	}
	base := RegressionNone.Faults()
	if rc.BaselineFaults != nil {
		base = rc.BaselineFaults()
	}
	var err error
	d.servers, err = demoserver.StartFleet(
		demoserver.VersionSpec{Version: rc.Baseline, Count: d.rc.Instances, Faults: base},
		demoserver.VersionSpec{Version: rc.Candidate, Count: d.rc.Instances, Faults: rc.CandidateFaults(opts.Regression)},
	)
	if err != nil {
		return nil, err
	}
	d.view = newView(opts.Out, &d.rc, opts)
	return d, nil
}

// Target is the servers' composite target:
// "ninelives:///stable=passthrough:///127.0.0.1:…;…;canary=…".
func (d *Demo) Target() string { return d.servers.Target() }

// Options are the run's options, with their defaults.
func (d *Demo) Options() Options { return d.opts }

// SentinelOptions are the demo's options of the recipe's sentinel: its
// clock (virtual in tests), its tick interval, a quiet log (the live view
// shows the decisions) and the live view's alert lines.
func (d *Demo) SentinelOptions() []sentinel.Option {
	return []sentinel.Option{
		sentinel.WithClock(d.clock),
		sentinel.WithInterval(d.opts.Interval),
		sentinel.WithLogger(QuietLogger()),
		sentinel.WithAlerters(d.alerts),
	}
}

// QuietLogger is the log of the demo's sentinels: none, since the live
// view shows their decisions.
func QuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Stop stops the servers: the demo's, and those of the metrics and the
// status page.
func (d *Demo) Stop() {
	for _, s := range d.http {
		_ = s.Close()
	}
	d.servers.Stop()
}

// Client is what the run drives and reads: the recipe's client, its split,
// shadow interceptor and sentinel.
type Client struct {
	Conn     *grpc.ClientConn
	Split    *balancer.Split
	Shadow   *shadow.Interceptor
	Rescue   *rescue.Interceptor // nil without -rescue
	Sentinel *sentinel.Sentinel
	// Metrics is served at /metrics on Options.MetricsAddr; nil for none.
	Metrics http.Handler
}

// Run drives the rollout to its end: each interval the load's calls, then
// one tick of the sentinel and a line of the live view; then the summary
// and the report. It closes the sentinel before it returns, so that its
// alerts are delivered.
func (d *Demo) Run(ctx context.Context, c Client) (*Result, error) {
	if err := waitReady(ctx, c.Conn, c.Split, len(d.servers.All())); err != nil {
		return nil, err
	}
	if err := d.serve(c); err != nil {
		return nil, err
	}
	l := &loop{d: d, c: c, res: &Result{Recipe: d.rc.Name, Regression: d.opts.Regression, DryRun: d.opts.DryRun}, tail: -1}
	l.load = NewLoad(c.Conn, d.opts.Rate, d.opts.Seed)
	if d.opts.CallTimeout > 0 {
		l.load.SetCallTimeout(d.opts.CallTimeout)
	}
	d.view.header()
	for range d.rc.Warmup {
		l.res.add(l.load.Interval(ctx, d.opts.Interval, !d.opts.Virtual))
	}
	for n := 1; l.step(ctx, n); n++ {
	}
	return d.finish(c, l.res)
}

// finish reads the run's end, closes the sentinel, and writes the summary
// and the report.
func (d *Demo) finish(c Client, res *Result) (*Result, error) {
	res.Elapsed = d.clock.Since()
	res.Status = c.Sentinel.Status()
	res.Shadow = ShadowFigures{Stats: c.Shadow.Stats(), Mismatches: c.Shadow.Mismatches(), NoisyFields: c.Shadow.NoisyFields()}
	if c.Rescue != nil {
		st := c.Rescue.Stats()
		res.Rescue = &st
	}
	res.Phase = res.Status.Phase
	res.Events = res.Status.Events
	if err := c.Sentinel.Close(); err != nil {
		return nil, err
	}
	res.Alerts = d.alerts.all()
	d.view.summary(res)
	if d.opts.Report != "" {
		if err := WriteReport(d.opts.Report, &d.rc, res); err != nil {
			return res, err
		}
		fmt.Fprintf(d.opts.Out, "\nReport: %s\n", d.opts.Report)
	}
	return res, nil
}

// waitReady waits up to 10 s for all of the servers to be READY.
func waitReady(ctx context.Context, cc *grpc.ClientConn, split *balancer.Split, want int) error {
	cc.Connect()
	deadline := time.Now().Add(10 * time.Second)
	for len(split.ReadyEndpoints("")) < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ninelives: only %d of %d demo servers are READY", len(split.ReadyEndpoints("")), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
