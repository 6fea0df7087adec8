// Command bluegreen is the ninelives blue/green recipe: bluegreen.star warms
// green up on each of its servers, compares its replies with blue's under
// shadow traffic, cuts over in one step and judges green through a rollback
// window, with blue still connected so that a rollback is instant.
//
//	go run ./cookbook/bluegreen                 # a healthy green takes over
//	go run ./cookbook/bluegreen -green-fails    # green breaks after the cut-over: back to blue
//
// Rollout is the wiring a service copies; the demo's servers, their load,
// the live view and the report come from cookbook/internal/demo.
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
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/cli"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:]), os.Stderr)) }

func run(args []string) error {
	fs := flag.NewFlagSet("bluegreen", flag.ContinueOnError)
	greenFails := fs.Bool("green-fails", false, "make green fail 20 % of its calls right after the cut-over")
	flags := demo.AddFlags(fs, 300, "bluegreen-report.html")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	rollout := func(ctx context.Context, d *demo.Demo) (*demo.Result, error) { return Rollout(ctx, d, Gates) }
	return flags.Main(string(regression(*greenFails)), Recipe(*greenFails), rollout)
}

// Rollout wires a client to the demo's servers as a service would, and
// runs the blue/green deployment to its end.
func Rollout(ctx context.Context, d *demo.Demo, gates Thresholds) (*demo.Result, error) {
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
	// Blue has all the traffic; green is connected but has none.
	split, err := balancer.NewSplit(balancer.Weight{Version: "blue", Weight: 10000}, balancer.Weight{Version: "green", Weight: 0})
	if err != nil {
		return nil, err
	}
	stopMetrics, err := metrics.Instrument(split)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()
	// Shadow traffic, off until the script's grace period turns it on.
	sh, err := shadow.New(shadow.Config{Candidate: "green", Baseline: "blue", IgnoreFields: []string{"served_by"}, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	defer func() { _ = sh.Close(context.Background()) }()
	// -rescue: a safe call green fails or hangs on goes once more to blue.
	unary := []grpc.UnaryClientInterceptor{sh.UnaryClientInterceptor()}
	stream := []grpc.StreamClientInterceptor{sh.StreamClientInterceptor()}
	var rs *rescue.Interceptor
	if d.Options().Rescue {
		if rs, err = rescue.New(rescue.Config{Candidate: "green", Baseline: "blue", Split: split}); err != nil {
			return nil, err
		}
		unary, stream = append(unary, rs.UnaryClientInterceptor()), append(stream, rs.StreamClientInterceptor())
	}
	// d.Target() is "ninelives:///blue=…;green=…", both versions' servers.
	conn, err := grpc.NewClient(d.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split, balancer.StickyKey("x-user-id")),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	policy, err := Policy(conn, split, sh, gates)
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
	s, err := sentinel.New(split, src, policy, append(d.SentinelOptions(),
		sentinel.WithDecisionRecorder(metrics),
		sentinel.WithAlerters(alerters...),
		sentinel.WithDryRun(d.Options().DryRun))...)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return d.Run(ctx, demo.Client{Conn: conn, Split: split, Shadow: sh, Rescue: rs, Sentinel: s, Metrics: prom.Handler()})
}

// policy is the recipe's meta-policy script.
//
//go:embed bluegreen.star
var policy string

// Policy is bluegreen.star with its host facilities — the warm-up of
// green's servers through conn, and the shadow switch — and the demo's
// settings: five good GetItem calls in a row on every green server, a 5 s
// shadow grace period copying half of blue's safe calls, blue's figures of
// the last minute as the reference, a 10 s rollback window.
func Policy(conn *grpc.ClientConn, split *balancer.Split, sh *shadow.Interceptor, gates Thresholds) (*script.Script, error) {
	getItem := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warmup"})
		return err
	}
	warm := warmup.For(conn, split, warmup.Config{
		Calls: []warmup.CallFunc{getItem}, SuccessesInRow: 5, LatencyCeiling: gates.WarmupCeiling})
	grace, window, windowCalls := 5*time.Second, 10*time.Second, 500
	return script.New("bluegreen.star", policy, script.WithWarmup(warm, 30*time.Second), script.WithShadow(sh),
		script.WithParams(map[string]any{
			"shadow_rate": 0.5, "shadow_grace": grace, "shadow_min_comparisons": 200, "mismatch_tolerance": 0.01,
			"baseline_span": time.Minute, "min_baseline_calls": 100, "rollback_window": window, "rollback_min_calls": windowCalls,
			"error_factor": 2.0, "error_floor": 0.01, "latency_factor": 1.5, "latency_margin": gates.LatencyMargin, "alpha": 0.01,
		}),
		// The steps the script takes, with their gates, for the status page.
		script.WithPlan(
			plan.Step{Name: plan.StepWarmup, Test: judge.TestWarmup},
			plan.Step{Name: plan.StepShadow, MinDuration: grace, Test: judge.TestShadow},
			plan.Step{Name: plan.StepCutover, MinDuration: window, MinCalls: int64(windowCalls), Test: judge.TestWindow},
		))
}
