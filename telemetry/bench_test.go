package telemetry_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// benchProvider is a provider with a Source, and Metrics on it.
func benchProvider(b *testing.B) (*telemetry.Metrics, *telemetry.Source) {
	b.Helper()
	src, err := telemetry.NewSource()
	if err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return m, src
}

// One attempt recorded through the balancer's hook: a lookup of its method
// and a few atomic adds into telemetry's aggregates. Package promexport's
// BenchmarkRecord has the Prometheus exporter beside the Source.
func BenchmarkRecord(b *testing.B) {
	b.Run("readers=source", func(b *testing.B) {
		m, _ := benchProvider(b)
		a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: 1500 * time.Microsecond}
		m.ObserveAttempt(a)
		var cpu cpuMeter
		b.ReportAllocs()
		b.ResetTimer()
		cpu.start()
		for range b.N {
			m.ObserveAttempt(a)
		}
		cpu.stop()
		cpu.report(b, b.N, "op")
	})
	b.Run("readers=source/parallel", func(b *testing.B) {
		m, _ := benchProvider(b)
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

// Collect and build the Window after 2 versions × 20 methods × 5 status
// codes have each recorded a spread of latencies.
func BenchmarkCollect(b *testing.B) {
	m, src := benchProvider(b)
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
	var cpu cpuMeter
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		record()
		b.StartTimer()
		cpu.start()
		if _, err := src.Collect(ctx); err != nil {
			b.Fatal(err)
		}
		cpu.stop()
	}
	cpu.report(b, b.N, "op")
}

// The first call of each of 1,000 new methods, on a fresh Metrics: the cost
// of first sight, which should not grow with the methods already seen.
func BenchmarkFirstSight(b *testing.B) {
	const methods = 1000
	names := make([]string, methods)
	for i := range names {
		names[i] = fmt.Sprintf("/bench.Service/Method%04d", i)
	}
	b.Run("methods=1000", func(b *testing.B) {
		var cpu cpuMeter
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			m, _, shutdown := benchSetup(b, methods)
			a := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Latency: time.Millisecond}
			b.StartTimer()
			cpu.start()
			for _, name := range names {
				a.Method = name
				m.ObserveAttempt(a)
			}
			cpu.stop()
			b.StopTimer()
			shutdown()
			b.StartTimer()
		}
		cpu.report(b, b.N, "op")
	})
}

// Collect and build the Window when every series recorded one call since
// the previous window, for growing numbers of series (versions × methods ×
// 5 status codes): ns/series and B/series should stay flat.
func BenchmarkCollectPerSeries(b *testing.B) {
	for _, size := range []struct{ versions, methods int }{{2, 20}, {10, 100}, {10, 1000}} {
		series := size.versions * size.methods * 5
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			m, src, shutdown := benchSetup(b, size.methods)
			b.Cleanup(shutdown)
			attempts := seriesAttempts(size.versions, size.methods)
			record := func() {
				for _, a := range attempts {
					m.ObserveAttempt(a)
				}
			}
			ctx := context.Background()
			record()
			w, err := src.Collect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if got := w.Version("v0").Role(balancer.RolePrimary).Calls; got != int64(size.methods*5) {
				b.Fatalf("v0 calls %d, want %d", got, size.methods*5)
			}
			var allocated uint64
			var ms runtime.MemStats
			var cpu cpuMeter
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				record()
				runtime.ReadMemStats(&ms)
				before := ms.TotalAlloc
				b.StartTimer()
				cpu.start()
				if _, err := src.Collect(ctx); err != nil {
					b.Fatal(err)
				}
				cpu.stop()
				b.StopTimer()
				runtime.ReadMemStats(&ms)
				allocated += ms.TotalAlloc - before
				b.StartTimer()
			}
			n := float64(b.N) * float64(series)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/series")
			b.ReportMetric(float64(allocated)/n, "B/series")
			cpu.report(b, b.N*series, "series")
		})
	}
}

// benchSetup is Metrics with a method cap of methods on a provider of its
// own, with a Source and no SDK series limit.
func benchSetup(b *testing.B, methods int) (*telemetry.Metrics, *telemetry.Source, func()) {
	b.Helper()
	src, err := telemetry.NewSource()
	if err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithCardinalityLimit(-1))
	m, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithMethodCap(methods))
	if err != nil {
		b.Fatal(err)
	}
	return m, src, func() { _ = mp.Shutdown(context.Background()) }
}

// seriesAttempts are one attempt of each (version, method, status code) of
// versions × methods × 5 codes, 3 ms each.
func seriesAttempts(versions, methods int) []*balancer.Attempt {
	errs := []error{nil, status.Error(codes.InvalidArgument, "x"), status.Error(codes.NotFound, "x"),
		status.Error(codes.Unavailable, "x"), status.Error(codes.DeadlineExceeded, "x")}
	var out []*balancer.Attempt
	for v := range versions {
		for i := range methods {
			method := fmt.Sprintf("/bench.Service/Method%04d", i)
			for _, err := range errs {
				out = append(out, &balancer.Attempt{Version: fmt.Sprintf("v%d", v), Role: balancer.RolePrimary, Method: method, Err: err, Latency: 3 * time.Millisecond})
			}
		}
	}
	return out
}

// cpuMeter sums the process's CPU time, user and system, over the timed
// parts of a benchmark. On a shared machine the wall clock also counts the
// time other processes ran; CPU time counts only this one's work (its
// garbage collection included), so it stays near the quiet machine's
// figure while the wall clock does not.
type cpuMeter struct{ began, spent time.Duration }

func (c *cpuMeter) start() { c.began = processCPU() }
func (c *cpuMeter) stop()  { c.spent += processCPU() - c.began }

// report reports the CPU time per unit, n units in all, as cpu-ns/unit.
func (c *cpuMeter) report(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(c.spent.Nanoseconds())/float64(n), "cpu-ns/"+unit)
}

// processCPU is the user and system CPU time of the process so far.
func processCPU() time.Duration {
	t, _ := demotest.CPUTime()
	return t
}
