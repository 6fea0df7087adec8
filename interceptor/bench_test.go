package interceptor_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// benchClient dials the fleet with every primary on stable, with the
// shadow's interceptors if s is not nil.
func benchClient(b *testing.B, f *demoserver.Fleet, s *Shadow) demov1.DemoServiceClient {
	b.Helper()
	var ws []balancer.Weight
	want := map[string]int{}
	for _, v := range f.Versions() {
		w := 0
		if v == "stable" {
			w = balancer.TotalWeight
		}
		ws = append(ws, balancer.Weight{Version: v, Weight: w})
		want[v] = len(f.Servers(v))
	}
	split := balancer.MustSplit(ws...)
	opts := []grpc.DialOption{balancer.WithSplit(split)}
	if s != nil {
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()))
	}
	cc := dial(b, f.Target(), opts...)
	connect(b, cc)
	waitReady(b, split, want)
	return demov1.NewDemoServiceClient(cc)
}

func closeShadow(b *testing.B, s *Shadow) {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(b, s.Close(ctx))
}

// setParallelism makes RunParallel use about n goroutines.
func setParallelism(b *testing.B, n int) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism(max(1, (n+procs-1)/procs))
}

// BenchmarkUnaryThroughput compares calls/s with the shadow installed at
// sampling 0 against no interceptor: 64 concurrent callers, 4 servers.
func BenchmarkUnaryThroughput(b *testing.B) {
	for _, mode := range []string{"interceptor=none", "interceptor=shadow-rate-0"} {
		b.Run(mode, func(b *testing.B) {
			f := startFleet(b, spec("stable", 4, demoserver.Faults{}))
			var s *Shadow
			if mode != "interceptor=none" {
				var err error
				s, err = NewShadow(ShadowConfig{Candidate: "canary", Rate: 0})
				require.NoError(b, err)
			}
			client := benchClient(b, f, s)
			req := &demov1.GetItemRequest{Id: "a"}
			setParallelism(b, 64)
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
			b.StopTimer()
			closeShadow(b, s)
		})
	}
}

// BenchmarkShadowLatency compares the primary's latency with every call
// shadowed to a slow candidate (20ms a call) against no shadowing: an open
// load of 1,000 calls/s (the calls are started on a fixed schedule, whatever
// the earlier ones do, as a service's clients would), 2 stable and 2 canary
// servers. Each call is copied; copies that do not fit in the bound of 64
// would be dropped, as they would be in production (at this rate 20 are in
// flight on average).
func BenchmarkShadowLatency(b *testing.B) {
	const rate = 1000
	for _, mode := range []string{"shadow=off", "shadow=100%-slow-candidate"} {
		b.Run(mode, func(b *testing.B) {
			f := startFleet(b,
				spec("stable", 2, demoserver.Faults{}),
				spec("canary", 2, demoserver.Faults{Latency: 20 * time.Millisecond}))
			var s *Shadow
			if mode != "shadow=off" {
				var err error
				s, err = NewShadow(ShadowConfig{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by", "generated_at"}})
				require.NoError(b, err)
			}
			client := benchClient(b, f, s)
			req := &demov1.GetItemRequest{Id: "a"}
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			var failed sync.Once
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if wait := time.Until(start.Add(time.Duration(i) * time.Second / rate)); wait > 0 {
					time.Sleep(wait)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					t0 := time.Now()
					if _, err := client.GetItem(context.Background(), req); err != nil {
						failed.Do(func() { b.Error(err) })
						return
					}
					lat[i] = time.Since(t0)
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			if s != nil {
				closeShadow(b, s)
				st := s.Stats()
				b.ReportMetric(float64(st.Comparisons[ResultMatch])/float64(b.N), "copied/op")
			}
		})
	}
}
