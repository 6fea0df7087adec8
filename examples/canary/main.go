// Command canary is README.md's "Wiring a client" as a program that
// compiles: a gRPC client whose calls are split between the stable and the
// canary version of a service, with shadow copies of the safe ones, and a
// sentinel that raises the canary's weight step by step or rolls it back
// with an alert. The README's code block is this file from its imports on;
// a test keeps the two the same.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, "ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051",
		"https://alerts.example.com/hook")
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// run wires a client to target and runs the canary release until it ends
// or ctx does; your calls go through conn meanwhile.
func run(ctx context.Context, target, webhookURL string) (err error) {
	// Telemetry: per-version metrics, and the delta reader the sentinel reads.
	src, err := telemetry.NewSource()
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(src.Option()) // add your exporters beside it (promexport, otlpexport)
	defer func() { err = errors.Join(err, mp.Shutdown(context.Background())) }()
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return err
	}

	// The split: 100 % stable to begin with; one Split may steer many clients.
	split, err := balancer.NewSplit(
		balancer.Weight{Version: "stable", Weight: 10000},
		balancer.Weight{Version: "canary", Weight: 0})
	if err != nil {
		return err
	}
	stopMetrics, err := metrics.Instrument(split)
	if err != nil {
		return err
	}
	defer stopMetrics()

	// Shadow traffic: 10 % of the calls that are safe to repeat, copied to the canary.
	sh, err := shadow.New(shadow.Config{Candidate: "canary", Baseline: "stable", Rate: 0.1, Metrics: metrics})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sh.Close(context.Background())) }()

	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split, balancer.StickyKey("x-user-id")),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor()))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()
	// Your code makes its calls on conn as before: orders := pb.NewOrdersClient(conn).

	// The sentinel: 1 → 5 → 25 → 50 → 100 %, judged every second; alerts to a webhook.
	hook, err := webhook.New(webhook.Config{URL: webhookURL})
	if err != nil {
		return err
	}
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	if err != nil {
		return err
	}
	s, err := sentinel.New(split, src, canary,
		sentinel.WithDecisionRecorder(metrics),
		sentinel.WithJudge(judge.Config{EnableShadow: true}),
		sentinel.WithShadow(sh), // so that a shadow test without data says why
		sentinel.WithAlerters(hook))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	return s.Run(ctx) // until the canary is promoted or rolled back, or ctx ends
}
