package rescue

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/internal/call"
	_ "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1" // registers the demo service
)

// BenchmarkInterceptorOverhead is the interceptor's own cost a call, on an
// invoker that does nothing but fill in the call record as the picker does:
// GetItem, safe to repeat, answered by the baseline, with the hedge delay
// learnt (so each call sets and stops a timer).
func BenchmarkInterceptorOverhead(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"hedge", Config{HedgeMinSamples: 1}},
		{"no_hedge", Config{DisableHedge: true}},
		{"unsafe", Config{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			method := "/ninelives.demo.v1.DemoService/GetItem"
			if tc.name == "unsafe" {
				method = "/ninelives.demo.v1.DemoService/PutItem"
			}
			tc.cfg.Candidate, tc.cfg.Baseline = "canary", "stable"
			benchOverhead(b, tc.cfg, method)
		})
	}
}

func benchOverhead(b *testing.B, cfg Config, method string) {
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	version, endpoint := "stable", "127.0.0.1:1"
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		if rec := call.RecordFrom(ctx); rec != nil {
			rec.Store(&version, &endpoint)
		}
		return nil
	}
	in := s.UnaryClientInterceptor()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_ = in(ctx, method, nil, nil, nil, invoker)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = in(ctx, method, nil, nil, nil, invoker)
	}
}
