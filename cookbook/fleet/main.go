// Command fleet is the ninelives fleet recipe: five client replicas, each
// with its own gRPC connection, Split, telemetry and etcd client, steered
// together by one of two sentinels elected through etcd. The canary turns
// bad at its second step; the leading sentinel judges the fleet's summed
// figures and rolls it back on every replica at once. On the way, the
// first leader is killed and the standby carries on from the same step.
//
//	go run ./cookbook/fleet                          # embedded etcd, an error regression
//	go run ./cookbook/fleet -regression none         # a healthy canary, promoted fleet-wide
//	go run ./cookbook/fleet -etcd http://127.0.0.1:2379
//
// Replica and Sentinel are the wiring a service copies; the embedded etcd,
// the demo's servers, the load, the failover and the live view come from
// cookbook/internal/fleetdemo.
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/fleetdemo"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(out)
	flags := fleetdemo.AddFlags(fs, out)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return flags.Main(Run)
}

// Run runs the recipe with this file's replicas and sentinels.
func Run(ctx context.Context, opts fleetdemo.Options) (*fleetdemo.Result, error) {
	leader := func(etcd *clientv3.Client, prefix, name string, fopts []fleet.Option) (*fleet.Leader, error) {
		return Sentinel(etcd, prefix, name, opts.Webhook, opts.DryRun, fopts)
	}
	return fleetdemo.Run(ctx, opts, fleetdemo.Wiring{Replica: Replica, Sentinel: leader})
}

// initial are the rollout's weights before its first step.
var initial = []balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}}

// Replica wires one client replica: its split, its telemetry, its gRPC
// client, and the fleet's Follower (which moves the split as the leader
// says) and Reporter (which sends the replica's figures to the leader),
// both through etcd under the rollout's prefix.
func Replica(ctx context.Context, name, target string, etcd *clientv3.Client, prefix string, opts []fleet.Option) (r *fleetdemo.Replica, err error) {
	r = &fleetdemo.Replica{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.Split, err = balancer.NewSplit(initial...); err != nil {
		return nil, err
	}
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	r.Defer(func() { _ = mp.Shutdown(context.Background()) })
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	stopMetrics, err := metrics.Instrument(r.Split)
	if err != nil {
		return nil, err
	}
	r.Defer(stopMetrics)
	if r.Conn, err = grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(r.Split)); err != nil {
		return nil, err
	}
	r.Defer(func() { _ = r.Conn.Close() })
	if r.Follower, err = fleet.NewFollower(etcd, prefix, r.Split, opts...); err != nil {
		return nil, err
	}
	r.Defer(func() { _ = r.Follower.Close() })
	if r.Reporter, err = fleet.NewReporter(etcd, prefix, name, src, r.Follower, opts...); err != nil {
		return nil, err
	}
	r.Defer(func() { _ = r.Reporter.Close() })
	return r, r.Follower.Start(ctx) // read the rollout's state, then watch it
}

// Sentinel makes one of the fleet's sentinels: it campaigns through etcd,
// and while it leads it judges the replicas' summed reports with the
// recipe's canary and publishes the weights every replica follows.
func Sentinel(etcd *clientv3.Client, prefix, name, hookURL string, dryRun bool, opts []fleet.Option) (*fleet.Leader, error) {
	strategy, err := Policy()
	if err != nil {
		return nil, err
	}
	sopts := []sentinel.Option{sentinel.WithJudge(Judge), sentinel.WithDryRun(dryRun)}
	if hookURL != "" { // each alert as JSON, with a Slack-compatible "text"
		hook, err := webhook.New(webhook.Config{URL: hookURL})
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, sentinel.WithAlerters(hook))
	}
	return fleet.NewLeader(etcd, prefix, name, initial, strategy, append(slices.Clip(opts), fleet.WithSentinelOptions(sopts...))...)
}

// Policy is the recipe's canary: 10 %, 25 %, 50 %, then 100 %, each step at
// least 5 s and 200 canary calls, fleet-wide.
func Policy() (sentinel.Strategy, error) {
	return sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 2500, 5000, 10000}, MinStepDuration: 5 * time.Second, MinStepCalls: 200})
}

// Judge is the recipe's judge: the defaults (α = 1 % over the rollout),
// with 200 candidate calls a step before a test may pass.
var Judge = judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 200}, Latency: judge.LatencyConfig{MinStepCalls: 200}}
