package promexport_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

// benchMetrics is Metrics on a provider with a Source and the exporter.
func benchMetrics(b *testing.B) *telemetry.Metrics {
	b.Helper()
	src, err := telemetry.NewSource()
	if err != nil {
		b.Fatal(err)
	}
	p, err := promexport.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(src.Option(), p.Option())
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// One attempt recorded through the balancer's hook with the exporter beside
// the Source: the cached attribute lookup, one counter add and one histogram
// record for each reader. Package telemetry's BenchmarkRecord has the Source
// alone.
func BenchmarkRecord(b *testing.B) {
	b.Run("readers=source+prometheus", func(b *testing.B) {
		m := benchMetrics(b)
		a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: 1500 * time.Microsecond}
		m.ObserveAttempt(a)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			m.ObserveAttempt(a)
		}
	})
}

// BenchmarkUnaryCalls measures calls/s over loopback from 64 concurrent
// callers to 4 servers with telemetry off and on (a Source and the exporter
// reading). The two clients take turns in rounds of 2,000 calls, so both
// see the same background load; it reports the ratio on/off.
func BenchmarkUnaryCalls(b *testing.B) {
	fleet := startFleet(b,
		demoserver.VersionSpec{Version: "stable", Count: 3},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	weights := []balancer.Weight{{Version: "stable", Weight: 9000}, {Version: "canary", Weight: 1000}}
	offSplit, onSplit := balancer.MustSplit(weights...), balancer.MustSplit(weights...)
	stop, err := benchMetrics(b).Instrument(onSplit)
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
