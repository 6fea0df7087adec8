// Command canary is the ninelives canary recipe: a client that splits its
// calls between the stable and canary versions of a service and copies the
// safe ones to the canary, and a sentinel running canary.star that moves
// the canary's weight step by step, or rolls it back with an alert.
//
//	go run ./cookbook/canary                     # an error regression, caught and rolled back
//	go run ./cookbook/canary -regression none    # a healthy canary, promoted to 100 %
//
// Rollout is the wiring a service copies; the demo's servers, load, live
// view and report come from cookbook/internal/demo.
package main

import (
	"context"
	_ "embed"
	"flag"
	"os"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
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

// Rollout wires a client to the demo's servers as a service would, and
// runs the canary release to its end.
func Rollout(ctx context.Context, d *demo.Demo) (*demo.Result, error) {
	// Telemetry: the sentinel's reader and Prometheus' /metrics on one meter provider.
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
	// -rescue: a safe call the canary fails or hangs on goes once more to stable.
	unary := []grpc.UnaryClientInterceptor{sh.UnaryClientInterceptor()}
	stream := []grpc.StreamClientInterceptor{sh.StreamClientInterceptor()}
	var rs *rescue.Interceptor
	if d.Options().Rescue {
		if rs, err = rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable", Split: split}); err != nil {
			return nil, err
		}
		unary, stream = append(unary, rs.UnaryClientInterceptor()), append(stream, rs.StreamClientInterceptor())
	}
	// d.Target() is "ninelives:///stable=…;canary=…", as "ninelives:///stable=dns:///orders-v1:50051;…"
	// would be in production; x-user-id, which the calls carry, keeps a user on one version.
	conn, err := grpc.NewClient(d.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split, balancer.StickyKey("x-user-id")),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	s, err := newSentinel(d, split, src, metrics)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return d.Run(ctx, demo.Client{Conn: conn, Split: split, Shadow: sh, Rescue: rs, Sentinel: s, Metrics: prom.Handler()})
}

// newSentinel is the rollout's sentinel: canary.star decides each tick from
// the judge's verdict on errors, latency and shadow mismatches.
func newSentinel(d *demo.Demo, split *balancer.Split, src *telemetry.Source, metrics *telemetry.Metrics) (*sentinel.Sentinel, error) {
	policy, err := Policy()
	if err != nil {
		return nil, err
	}
	var alerters []sentinel.Alerter // -webhook: each alert as JSON, with a Slack-compatible "text"
	if url := d.Options().Webhook; url != "" {
		hook, err := webhook.New(webhook.Config{URL: url})
		if err != nil {
			return nil, err
		}
		alerters = append(alerters, hook)
	}
	return sentinel.New(split, src, policy, append(d.SentinelOptions(),
		sentinel.WithJudge(judge.Config{EnableShadow: true}),
		sentinel.WithDecisionRecorder(metrics),
		sentinel.WithAlerters(alerters...),
		sentinel.WithDryRun(d.Options().DryRun))...)
}

// policy is the recipe's meta-policy script.
//
//go:embed canary.star
var policy string

// Policy is canary.star with the demo's steps: 10 %, 25 %, 50 %, then
// 100 %, each at least 5 s and 200 canary calls long, so that a healthy run
// takes about half a minute.
func Policy() (*script.Script, error) {
	steps := sentinel.CanaryConfig{Steps: []int{1000, 2500, 5000, 10000}, MinStepDuration: 5 * time.Second, MinStepCalls: 200}
	return script.New("canary.star", policy, script.WithParams(map[string]any{
		"steps":            steps.Steps,
		"min_step_seconds": steps.MinStepDuration,
		"min_step_calls":   steps.MinStepCalls,
	}), script.WithPlan(steps.Plan()...)) // the steps and their gates, for the status page
}
