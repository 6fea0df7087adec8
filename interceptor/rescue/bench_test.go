package rescue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// BenchmarkUnaryThroughput compares calls/s through the rescue interceptor
// with a healthy canary at 10 % (so every call of the safe GetItem is
// watched and, once the delay is learnt, timed) against no interceptor:
// 64 concurrent callers, 2 stable and 2 canary servers, the two clients
// taking turns in rounds of 2,000 calls so that both see the same
// background load.
func BenchmarkUnaryThroughput(b *testing.B) {
	f := demotest.Fleet(b, spec("stable", 2, healthy), spec("canary", 2, healthy))
	client := func(opts ...grpc.DialOption) demov1.DemoServiceClient {
		split := balancer.MustSplit(
			balancer.Weight{Version: "stable", Weight: 9000},
			balancer.Weight{Version: "canary", Weight: 1000})
		cc := demotest.Dial(b, f.Target(), append(opts, balancer.WithSplit(split))...)
		demotest.Connect(b, cc)
		demotest.WaitFleetReady(b, split, f)
		return demov1.NewDemoServiceClient(cc)
	}
	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable"})
	require.NoError(b, err)
	req := &demov1.GetItemRequest{Id: "a"}
	call := func(c demov1.DemoServiceClient) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.GetItem(ctx, req); return err }
	}
	demotest.Paired(b, 2000, 64, [2]demotest.Side{
		{Name: "none", Call: call(client())},
		{Name: "rescue", Call: call(client(grpc.WithChainUnaryInterceptor(rs.UnaryClientInterceptor())))},
	})
	if _, ok := rs.HedgeDelay("/ninelives.demo.v1.DemoService/GetItem"); !ok {
		b.Error("the hedge delay was never learnt: the timers were not measured")
	}
}
