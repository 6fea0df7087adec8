package telemetry_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
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

// Unary calls over loopback from 64 concurrent callers to 4 servers, with
// telemetry off and on (a Source and a Prometheus exporter reading); compare
// the calls/s of the two with benchstat.
func BenchmarkUnaryCalls(b *testing.B) {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 3},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Stop()
	for _, on := range []bool{false, true} {
		name := "telemetry=off"
		if on {
			name = "telemetry=on"
		}
		b.Run(name, func(b *testing.B) {
			split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
			if on {
				m, _ := benchProvider(b, true)
				stop, err := m.Instrument(split)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(stop)
			}
			client := demov1.NewDemoServiceClient(dial(b, fleet, split))
			req := &demov1.GetItemRequest{Id: "a"}
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := client.GetItem(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
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

// The same comparison, paired: the two clients take turns in rounds of 2,000
// calls within one run, so both see the same background load; it reports
// each side's calls/s and their ratio. An op is one call on each side.
func BenchmarkUnaryCallsPaired(b *testing.B) {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 3},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	if err != nil {
		b.Fatal(err)
	}
	defer fleet.Stop()
	weights := []balancer.Weight{{Version: "stable", Weight: 9000}, {Version: "canary", Weight: 1000}}
	offSplit, onSplit := balancer.MustSplit(weights...), balancer.MustSplit(weights...)
	m, _ := benchProvider(b, true)
	stop, err := m.Instrument(onSplit)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	clients := [2]demov1.DemoServiceClient{
		demov1.NewDemoServiceClient(dial(b, fleet, offSplit)),
		demov1.NewDemoServiceClient(dial(b, fleet, onSplit)),
	}
	const round, callers = 2000, 64
	req := &demov1.GetItemRequest{Id: "a"}
	run := func(c demov1.DemoServiceClient, n int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if _, err := c.GetItem(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(clients[0], round)
	run(clients[1], round)
	var spent [2]time.Duration
	var calls [2]int
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(round, b.N-done)
		for side := range 2 {
			spent[side] += run(clients[side], n)
			calls[side] += n
		}
		done += n
	}
	off := float64(calls[0]) / spent[0].Seconds()
	on := float64(calls[1]) / spent[1].Seconds()
	b.ReportMetric(off, "off-calls/s")
	b.ReportMetric(on, "on-calls/s")
	b.ReportMetric(on/off, "on/off")
}
