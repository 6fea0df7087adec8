package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
)

// benchProvider is a provider with a Source and, if prom, a Prometheus
// exporter, and Metrics on it.
func benchProvider(b *testing.B, prom bool) (*telemetry.Metrics, *telemetry.Source) {
	b.Helper()
	src, err := telemetry.NewSource()
	if err != nil {
		b.Fatal(err)
	}
	opts := []sdkmetric.Option{src.Option()}
	if prom {
		p, err := telemetry.NewPrometheus(nil)
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, p.Option())
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return m, src
}

// One attempt recorded through the balancer's hook: the cached attribute
// lookup, one counter add and one histogram record for each reader.
func BenchmarkRecord(b *testing.B) {
	for _, readers := range []string{"source", "source+prometheus"} {
		b.Run("readers="+readers, func(b *testing.B) {
			m, _ := benchProvider(b, readers != "source")
			a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: 1500 * time.Microsecond}
			m.ObserveAttempt(a)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m.ObserveAttempt(a)
			}
		})
	}
	b.Run("readers=source/parallel", func(b *testing.B) {
		m, _ := benchProvider(b, false)
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: 1500 * time.Microsecond}
			for pb.Next() {
				m.ObserveAttempt(a)
			}
		})
	})
}

// BenchmarkUnaryCalls measures calls/s over loopback from 64 concurrent
// callers to 4 servers with telemetry off and on (a Source and a Prometheus
// exporter reading). The two clients take turns in rounds of 2,000 calls,
// so both see the same background load; it reports the ratio on/off.
func BenchmarkUnaryCalls(b *testing.B) {
	fleet := startFleet(b,
		demoserver.VersionSpec{Version: "stable", Count: 3},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	weights := []balancer.Weight{{Version: "stable", Weight: 9000}, {Version: "canary", Weight: 1000}}
	offSplit, onSplit := balancer.MustSplit(weights...), balancer.MustSplit(weights...)
	m, _ := benchProvider(b, true)
	stop, err := m.Instrument(onSplit)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	req := &demov1.GetItemRequest{Id: "a"}
	call := func(split *balancer.Split) func(context.Context) error {
		c := demov1.NewDemoServiceClient(dial(b, fleet, split))
		return func(ctx context.Context) error { _, err := c.GetItem(ctx, req); return err }
	}
	demotest.Paired(b, 2000, 64, [2]demotest.Side{
		{Name: "off", Call: call(offSplit)},
		{Name: "on", Call: call(onSplit)},
	})
}

// Collect and build the Window after 2 versions × 20 methods × 5 status
// codes have each recorded a spread of latencies.
func BenchmarkCollect(b *testing.B) {
	m, src := benchProvider(b, false)
	var attempts []*balancer.Attempt
	errs := []error{nil, status.Error(codes.InvalidArgument, "x"), status.Error(codes.NotFound, "x"),
		status.Error(codes.Unavailable, "x"), status.Error(codes.DeadlineExceeded, "x")}
	for _, v := range []string{"stable", "canary"} {
		for i := range 20 {
			for _, err := range errs {
				attempts = append(attempts, &balancer.Attempt{Version: v, Role: balancer.RolePrimary, Method: fmt.Sprintf("/bench.Service/Method%02d", i), Err: err})
			}
		}
	}
	latencies := []time.Duration{120 * time.Microsecond, 800 * time.Microsecond, 3 * time.Millisecond, 15 * time.Millisecond, 90 * time.Millisecond, 700 * time.Millisecond}
	record := func() {
		for _, a := range attempts {
			for _, l := range latencies {
				a.Latency = l
				m.ObserveAttempt(a)
			}
		}
	}
	ctx := context.Background()
	record()
	w, err := src.Collect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if got := w.Version("canary").Role(balancer.RolePrimary).Calls; got != int64(20*5*len(latencies)) {
		b.Fatalf("canary calls %d", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		record()
		b.StartTimer()
		if _, err := src.Collect(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
