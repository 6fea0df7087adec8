package stackbench_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/telemetry"
)

// BenchmarkUnaryCalls measures calls/s from 64 callers to the same four
// servers on loopback (three stable, one canary), the whole ninelives
// stack against round_robin and against round_robin with otelgrpc's
// client metrics read by an SDK reader. The two clients of a pair take
// turns in rounds of 2,000 calls, so both see the same background load;
// each sub-benchmark reports the ratio whole stack / the other.
func BenchmarkUnaryCalls(b *testing.B) {
	fleet := demotest.Fleet(b,
		demoserver.VersionSpec{Version: "stable", Count: 3},
		demoserver.VersionSpec{Version: "canary", Count: 1})
	b.Run("vs=round_robin", func(b *testing.B) {
		demotest.Paired(b, 2000, 64, [2]demotest.Side{
			{Name: "round_robin", Call: getItem(roundRobin(b, fleet))},
			{Name: "ninelives", Call: getItem(wholeStack(b, fleet))},
		})
	})
	b.Run("vs=round_robin+otelgrpc", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		stats := grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithMeterProvider(mp)))
		demotest.Paired(b, 2000, 64, [2]demotest.Side{
			{Name: "round_robin+otelgrpc", Call: getItem(roundRobin(b, fleet, stats))},
			{Name: "ninelives", Call: getItem(wholeStack(b, fleet))},
		})
	})
}

// roundRobin is a client of every server of the fleet under round_robin.
func roundRobin(b *testing.B, f *demoserver.Fleet, opts ...grpc.DialOption) *grpc.ClientConn {
	r := manual.NewBuilderWithScheme("stackbench")
	var eps []resolver.Endpoint
	for _, s := range f.All() {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: s.Addr()}}})
	}
	r.InitialState(resolver.State{Endpoints: eps})
	opts = append(opts, grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	cc := demotest.Dial(b, r.Scheme()+":///fleet", opts...)
	demotest.Connect(b, cc)
	return cc
}

// wholeStack is a client wired as the README wires one: the split at
// 90/10, telemetry with the sentinel's Source, the shadow interceptor at
// rate 0 and a canary sentinel ticking every 100 ms in dry-run (it judges
// and decides but moves no weight, so both sides of a pair keep the same
// servers busy).
func wholeStack(b *testing.B, f *demoserver.Fleet) *grpc.ClientConn {
	src, err := telemetry.NewSource()
	check(b, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	check(b, err)
	split, err := balancer.NewSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
	check(b, err)
	stop, err := metrics.Instrument(split)
	check(b, err)
	b.Cleanup(stop)
	sh, err := shadow.New(shadow.Config{Candidate: "canary", Baseline: "stable", Rate: 0, Metrics: metrics})
	check(b, err)
	b.Cleanup(func() { _ = sh.Close(context.Background()) })
	cc := demotest.Dial(b, f.Target(), balancer.WithSplit(split),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor()))
	demotest.Connect(b, cc)
	demotest.WaitFleetReady(b, split, f)
	tick(b, split, src, metrics)
	return cc
}

// tick runs a dry-run canary sentinel until the benchmark ends.
func tick(b *testing.B, split *balancer.Split, src *telemetry.Source, metrics *telemetry.Metrics) {
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	check(b, err)
	s, err := sentinel.New(split, src, canary, sentinel.WithInterval(100*time.Millisecond), sentinel.WithDryRun(true),
		sentinel.WithDecisionRecorder(metrics), sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	check(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = s.Close()
	})
}

func getItem(cc *grpc.ClientConn) func(context.Context) error {
	c := demov1.NewDemoServiceClient(cc)
	req := &demov1.GetItemRequest{Id: "a"}
	return func(ctx context.Context) error { _, err := c.GetItem(ctx, req); return err }
}

func check(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
