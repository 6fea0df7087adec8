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
// the Source: the same work as with the Source alone (package telemetry's
// BenchmarkRecord), since readers read telemetry's aggregates when they
// collect. Beside the wall clock, the process's CPU time per record, which a
// busy machine hardly inflates.
func BenchmarkRecord(b *testing.B) {
	b.Run("readers=source+prometheus", func(b *testing.B) {
		m := benchMetrics(b)
		a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: 1500 * time.Microsecond}
		m.ObserveAttempt(a)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			m.ObserveAttempt(a)
		}
		b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkUnaryCalls measures calls/s over loopback from 64 concurrent
// callers to 4 servers with telemetry off and on (a Source and the exporter
// reading). The two clients take turns in rounds of 2,000 calls, so both
// see the same background load, the side that starts a turn changing from
// turn to turn, and it reports the ratio of the second side to the first;
// it runs once with each side named first (first=off reports on/off,
// first=on off/on), so that what remains of an order effect shows. Beside the
// calls/s, Paired reports the process's CPU time per call of each side
// (client and servers share the process) and their ratio: on a busy machine
// the calls/s of a round move with what else runs, its CPU time hardly does.
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
	off, on := call(offSplit), call(onSplit)
	for _, first := range []string{"off", "on"} {
		b.Run("first="+first, func(b *testing.B) {
			sides := [2]demotest.Side{{Name: "off", Call: off}, {Name: "on", Call: on}}
			if first == "on" {
				sides[0], sides[1] = sides[1], sides[0]
			}
			demotest.Paired(b, 2000, 64, sides)
		})
	}
}

// processCPU is the user and system CPU time of the process so far.
func processCPU() time.Duration {
	t, _ := demotest.CPUTime()
	return t
}
