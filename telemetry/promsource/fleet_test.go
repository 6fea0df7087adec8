package promsource_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promsource"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// rpcRig is a client of a demo fleet through the real balancer, with shadow
// copies to the canary, its telemetry scraped by the shared Prometheus.
type rpcRig struct {
	fleet  *demoserver.Fleet
	split  *balancer.Split
	client *client
	cc     *grpc.ClientConn
	shadow *shadow.Interceptor
}

func startRPCRig(t *testing.T, tg interface{ Addr() string }, c *client, weights ...balancer.Weight) *rpcRig {
	t.Helper()
	fleet := demotest.Fleet(t,
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	split := balancer.MustSplit(weights...)
	stop, err := c.metrics.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)
	shadow, err := shadow.New(shadow.Config{
		Candidate:    "canary",
		Baseline:     "stable",
		Rate:         0.5,
		IgnoreFields: []string{"served_by"},
		Seed:         1,
		Metrics:      c.metrics,
	})
	require.NoError(t, err)
	t.Cleanup(func() { shadow.Close(context.Background()) })
	// A version in the split with no server of the fleet still needs a
	// pair in the target: one whose address nothing listens on.
	tgt := fleet.Target()
	for _, w := range weights {
		if !strings.Contains(tgt, "///"+w.Version+"=") && !strings.Contains(tgt, ";"+w.Version+"=") {
			tgt += ";" + w.Version + "=passthrough:///127.0.0.1:1"
		}
	}
	cc := demotest.Dial(t, tgt, balancer.WithSplit(split), grpc.WithChainUnaryInterceptor(shadow.UnaryClientInterceptor()))
	cc.Connect()
	demotest.WaitFleetReady(t, split, fleet)
	return &rpcRig{fleet: fleet, split: split, client: c, cc: cc, shadow: shadow}
}

// load makes n GetItem calls from 4 goroutines, every tenth with an empty
// id (InvalidArgument, which is no error of the release), and waits for the
// shadow copies. It returns the calls that failed.
func (r *rpcRig) load(t *testing.T, n int) int64 {
	t.Helper()
	client := demov1.NewDemoServiceClient(r.cc)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				id := "a"
				if i%10 == 0 {
					id = ""
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: id}); err != nil {
					failed.Add(1)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r.shadow.Wait(ctx))
	return failed.Load()
}

// TestWindowsMatchTheTelemetrySource runs real calls through the balancer
// to a demo fleet and compares, interval by interval, the windows read back
// from Prometheus with those of the telemetry Source on the same
// MeterProvider.
func TestWindowsMatchTheTelemetrySource(t *testing.T) {
	srv := prometheus(t)
	tg := target(t)
	c := newClient(t, tg)
	src := newSource(t, srv, []*promtest.Target{tg})
	// A selector on the method takes the unanswered calls with the calls.
	noGetItem := newSource(t, srv, []*promtest.Target{tg}, promsource.WithSelector(`rpc_method!="ninelives.demo.v1.DemoService/GetItem"`))
	r := startRPCRig(t, tg, c,
		balancer.Weight{Version: "stable", Weight: 8000},
		balancer.Weight{Version: "canary", Weight: 2000},
		balancer.Weight{Version: "dark", Weight: 0}, // in the split, with no server
	)

	// 1. A healthy canary under shadow traffic.
	failed := r.load(t, 400)
	want := c.collect(t)
	waitScraped(t, srv, c)
	got := collect(t, src)
	assertSameWindow(t, want, got)
	stable := got.Version("stable").Role(balancer.RolePrimary)
	canary := got.Version("canary").Role(balancer.RolePrimary)
	assert.Equal(t, int64(400), stable.Calls+canary.Calls)
	assert.Equal(t, int64(40), failed, "the empty ids")
	assert.Equal(t, int64(40), stable.Codes[codes.InvalidArgument]+canary.Codes[codes.InvalidArgument])
	assert.Zero(t, stable.Errors+canary.Errors, "InvalidArgument is the caller's error")
	assert.Positive(t, got.Version("canary").Role(balancer.RoleShadow).Calls, "shadow copies")
	assert.Positive(t, got.Version("canary").Shadow[telemetry.ShadowNoise]+got.Version("canary").Shadow[telemetry.ShadowMatch])
	assert.False(t, got.Start.After(got.End))
	t.Logf("interval 1: stable %d calls (p50 %.2f ms), canary %d calls, %d canary shadow calls, comparisons %v",
		stable.Calls, 1000*stable.Latency.P50(), canary.Calls, got.Version("canary").Role(balancer.RoleShadow).Calls, got.Version("canary").Shadow)

	// 2. The canary fails 30 % of its calls and is slower; a version
	// without servers takes 5 % and falls back.
	r.fleet.SetFaults("canary", demoserver.Faults{ErrorRate: 0.3, Latency: 15 * time.Millisecond})
	require.NoError(t, r.split.SetWeights(
		balancer.Weight{Version: "stable", Weight: 7000},
		balancer.Weight{Version: "canary", Weight: 2500},
		balancer.Weight{Version: "dark", Weight: 500},
	))
	r.load(t, 400)
	want = c.collect(t)
	waitScraped(t, srv, c)
	got = collect(t, src)
	assertSameWindow(t, want, got)
	canary = got.Version("canary").Role(balancer.RolePrimary)
	assert.Positive(t, canary.Errors, "the canary's injected failures")
	assert.Equal(t, canary.Errors, canary.Codes[codes.Unavailable])
	assert.Positive(t, got.Version("dark").Fallbacks)
	// Every canary call takes at least the injected 15 ms; a quantile read
	// from histogram buckets is interpolated within a bucket up to ~10 %
	// wide, so it may land a little below.
	assert.Greater(t, canary.Latency.P50(), 0.015*0.9, "the canary's injected latency")
	t.Logf("interval 2: canary %d calls, %d errors, p50 %.2f ms, p99 %.2f ms (telemetry %.2f, %.2f); dark fallbacks %d",
		canary.Calls, canary.Errors, 1000*canary.Latency.P50(), 1000*canary.Latency.P99(),
		1000*want.Version("canary").Role(balancer.RolePrimary).Latency.P50(), 1000*want.Version("canary").Role(balancer.RolePrimary).Latency.P99(),
		got.Version("dark").Fallbacks)

	// 3. Nothing happens: nothing is counted twice.
	want = c.collect(t)
	require.Zero(t, counted(want))
	waitScraped(t, srv, c)
	got = collect(t, src)
	assertSameWindow(t, want, got)
	assert.Empty(t, got.Versions)

	// 4. The canary's server dies with three calls in flight: they are
	// unanswered.
	canarySrv := r.fleet.Servers("canary")[0]
	canarySrv.SetFaults(demoserver.Faults{Latency: time.Minute})
	client := demov1.NewDemoServiceClient(r.cc)
	ctx, cancel := context.WithTimeout(balancer.ForceVersion(context.Background(), "canary"), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
			assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
		})
	}
	require.Eventually(t, func() bool { return canarySrv.InFlight() == 3 }, 10*time.Second, time.Millisecond)
	canarySrv.Stop()
	wg.Wait()
	want = c.collect(t)
	waitScraped(t, srv, c)
	got = collect(t, src)
	assertSameWindow(t, want, got)
	assert.Equal(t, int64(3), got.Version("canary").Unanswered)
	assert.Equal(t, int64(3), got.Version("canary").Role(balancer.RolePrimary).Errors)
	other := collect(t, noGetItem)
	assert.Zero(t, other.Version("canary").Role(balancer.RolePrimary).Calls, "every call was a GetItem")
	assert.Zero(t, other.Version("canary").Unanswered, "nor are its unanswered calls counted")
}
