// Command canary is the ninelives canary recipe: a client that splits its
// calls between the stable and canary versions of a service, copies the
// safe ones to the canary to compare the replies, and a sentinel running
// canary.star that moves the canary's weight step by step — or rolls it
// back, with an alert, the moment the statistics say it is worse.
//
//	go run ./cookbook/canary                     # an error regression, caught and rolled back
//	go run ./cookbook/canary -regression none    # a healthy canary, promoted to 100 %
//	go run ./cookbook/canary -webhook https://hooks.slack.com/services/… -dry-run
//
// Rollout is the wiring a service copies. The demo's servers, their load,
// the live view and the report come from cookbook/internal/demo.
package main

import (
	"context"
	_ "embed"
	"flag"
	"os"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:]), os.Stderr)) }

func run(args []string) error {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	regression := fs.String("regression", "errors", "what is wrong with the canary: none, errors, latency, diff or hang")
	flags := demo.AddFlags(fs, 500, "canary-report.html")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return flags.Main(*regression, Recipe(), Rollout)
}

// Recipe is the demo's side: three stable and three canary servers on
// loopback, the canary with the regression's faults.
func Recipe() *demo.Recipe {
	return &demo.Recipe{Name: "canary", Baseline: "stable", Candidate: "canary", Instances: 3, CandidateFaults: demo.Regression.Faults}
}

// Rollout wires a client to the demo's servers as a service would, and
// runs the canary release to its end.
func Rollout(ctx context.Context, d *demo.Demo) (*demo.Result, error) {
	// Telemetry: one meter provider feeds the sentinel's reader and
	// Prometheus' /metrics (served at -metrics-addr).
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	prom, err := promexport.New(nil)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
	defer func() { _ = mp.Shutdown(context.Background()) }()
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}

	// The split: everything on stable until the sentinel moves it.
	split, err := balancer.NewSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	if err != nil {
		return nil, err
	}
	stopMetrics, err := metrics.Instrument(split)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()

	// Shadow traffic: a fifth of the calls safe to repeat are copied to the
	// canary and the replies compared, field by field.
	sh, err := shadow.New(shadow.Config{Candidate: "canary", Baseline: "stable", Rate: 0.2,
		IgnoreFields: []string{"served_by"}, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	defer func() { _ = sh.Close(context.Background()) }()

	// The client: d.Target() is "ninelives:///stable=…;canary=…" (in
	// production "ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051");
	// a user's calls carry x-user-id, which keeps the user on one version.
	conn, err := grpc.NewClient(d.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split, balancer.StickyKey("x-user-id")),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	// The sentinel: canary.star decides each tick from the judge's verdict
	// on errors, latency and shadow mismatches.
	policy, err := Policy()
	if err != nil {
		return nil, err
	}
	var alerters []sentinel.Alerter // -webhook: each alert as JSON, with a Slack-compatible "text"
	if url := d.Options().Webhook; url != "" {
		hook, err := sentinel.NewWebhookAlerter(sentinel.WebhookConfig{URL: url})
		if err != nil {
			return nil, err
		}
		alerters = append(alerters, hook)
	}
	s, err := sentinel.New(split, src, policy, append(d.SentinelOptions(),
		sentinel.WithJudge(judge.Config{EnableShadow: true}),
		sentinel.WithDecisionRecorder(metrics),
		sentinel.WithAlerters(alerters...),
		sentinel.WithDryRun(d.Options().DryRun))...)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return d.Run(ctx, demo.Client{Conn: conn, Split: split, Shadow: sh, Sentinel: s, Metrics: prom.Handler()})
}

// policy is the recipe's meta-policy script.
//
//go:embed canary.star
var policy string

// Policy is canary.star with the demo's steps: 10 %, 25 %, 50 %, then
// 100 %, each at least 5 s and 200 canary calls long, so that a healthy run
// takes about half a minute.
func Policy() (*script.Script, error) {
	return script.New("canary.star", policy, script.WithParams(map[string]any{
		"steps":            []int{1000, 2500, 5000, 10000},
		"min_step_seconds": 5,
		"min_step_calls":   200,
	}))
}
