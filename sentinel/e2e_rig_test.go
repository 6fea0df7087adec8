package sentinel_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/telemetry"
)

// e2e is a rollout against real servers: a demo fleet on loopback, a
// client steered by the real balancer, the real telemetry on an SDK
// MeterProvider, and a sentinel ticked by hand on a fake clock.
type e2e struct {
	t                   *testing.T
	baseline, candidate string
	fleet               *demoserver.Fleet
	split               *balancer.Split
	source              *telemetry.Source
	metrics             *telemetry.Metrics
	cc                  *grpc.ClientConn
	clock               *fakeClock
	alerts              *alerts
	s                   *sentinel.Sentinel
	shadow              interface{ Wait(context.Context) error }
}

// e2eServers is how many servers each version runs.
const e2eServers = 2

// startE2E starts the fleet with the given faults, the telemetry and a
// client with the baseline at 100 %, and waits until every endpoint is
// READY. dial, if not nil, gives more dial options, made with the
// telemetry.
func startE2E(t *testing.T, baseline string, baseFaults demoserver.Faults, candidate string, candFaults demoserver.Faults,
	dial func(*telemetry.Metrics) []grpc.DialOption) *e2e {
	t.Helper()
	fleet := demotest.Fleet(t,
		demoserver.VersionSpec{Version: baseline, Count: e2eServers, Faults: baseFaults},
		demoserver.VersionSpec{Version: candidate, Count: e2eServers, Faults: candFaults},
	)

	split := balancer.MustSplit(balancer.Weight{Version: baseline, Weight: balancer.TotalWeight}, balancer.Weight{Version: candidate, Weight: 0})
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)

	opts := []grpc.DialOption{balancer.WithSplit(split)}
	if dial != nil {
		opts = append(opts, dial(m)...)
	}
	cc := demotest.Dial(t, fleet.Target(), opts...)
	cc.Connect()
	e := &e2e{t: t, baseline: baseline, candidate: candidate, fleet: fleet, split: split, source: src, metrics: m, cc: cc,
		clock: newFakeClock(), alerts: new(alerts)}
	e.waitReady(baseline, candidate)
	return e
}

// waitReady waits until every server of the versions is READY in the split.
func (e *e2e) waitReady(versions ...string) {
	e.t.Helper()
	want := map[string]int{}
	for _, v := range versions {
		want[v] = e2eServers
	}
	demotest.WaitReady(e.t, e.split, want)
}

// start makes the sentinel of the rollout.
func (e *e2e) start(strategy sentinel.Strategy, opts ...sentinel.Option) {
	e.t.Helper()
	opts = append([]sentinel.Option{
		sentinel.WithVersions(e.baseline, e.candidate),
		sentinel.WithClock(e.clock),
		sentinel.WithLogger(quiet),
		sentinel.WithAlerters(e.alerts),
		sentinel.WithDecisionRecorder(e.metrics),
	}, opts...)
	s, err := sentinel.New(e.split, e.source, strategy, opts...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	e.s = s
}

// served counts calls by the version that served them (or, for failed
// calls, the version they were sent to).
type served struct {
	ok, failed map[string]int
}

func (s served) total(version string) int { return s.ok[version] + s.failed[version] }

func (s served) failures() int {
	n := 0
	for _, c := range s.failed {
		n += c
	}
	return n
}

const e2eWorkers = 4

// load makes n GetItem calls from a few goroutines and waits for them and
// for their shadow copies.
func (e *e2e) load(n int) served {
	e.t.Helper()
	return e.loadOf(n, func(ctx context.Context, client demov1.DemoServiceClient) (*demov1.ServedBy, error) {
		resp, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		return resp.GetServedBy(), err
	})
}

// loadOf makes n calls of do, as load does.
func (e *e2e) loadOf(n int, do func(context.Context, demov1.DemoServiceClient) (*demov1.ServedBy, error)) served {
	e.t.Helper()
	var (
		mu   sync.Mutex
		res  = served{ok: map[string]int{}, failed: map[string]int{}}
		next atomic.Int64
		wg   sync.WaitGroup
	)
	client := demov1.NewDemoServiceClient(e.cc)
	for range e2eWorkers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ctx, rec := call.WithRecord(ctx)
				by, err := do(ctx, client)
				cancel()
				mu.Lock()
				if err != nil {
					res.failed[rec.Version()]++
				} else {
					res.ok[by.GetVersion()]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if e.shadow != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(e.t, e.shadow.Wait(ctx))
	}
	return res
}

// tick moves the fake clock on by a second and runs one round of the loop.
func (e *e2e) tick() sentinel.Event {
	e.clock.Advance(time.Second)
	return e.s.Tick(context.Background())
}

// assertAlerted closes the sentinel, which delivers the alerts queued for
// the alerters' goroutine, and checks that they were told of an event with
// the action. The sentinel does nothing more after it.
func (e *e2e) assertAlerted(a sentinel.Action) {
	e.t.Helper()
	require.NoError(e.t, e.s.Close())
	assert.True(e.t, slices.Contains(e.alerts.actions(), a), "no %s alert among %v", a, e.alerts.actions())
}

// getItem is the warm-up call.
func getItem(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warm"})
	return err
}

// kill stops every server of version and waits until the split's clients
// see none of them READY; it returns their addresses, for restore.
func (e *e2e) kill(version string) []string {
	e.t.Helper()
	var addrs []string
	for _, srv := range e.fleet.Servers(version) {
		addrs = append(addrs, srv.Addr())
		srv.Stop()
	}
	demotest.WaitReady(e.t, e.split, map[string]int{version: 0})
	return addrs
}

// restore starts servers of version again on addrs, as a restarted
// deployment would, and waits until the split's clients have them READY.
func (e *e2e) restore(version string, addrs []string) {
	e.t.Helper()
	for i, addr := range addrs {
		lis, err := net.Listen("tcp", addr)
		require.NoError(e.t, err)
		srv := demoserver.New(version, fmt.Sprintf("%s-restored-%d", version, i))
		require.NoError(e.t, srv.Serve(lis))
		e.t.Cleanup(srv.Stop)
	}
	// The client's reconnection backoff has grown while the servers were
	// gone; try again now rather than when it ends.
	e.cc.ResetConnectBackoff()
	e.waitReady(version)
}

// about returns the reasons of the alerts that contain text.
func (a *alerts) about(text string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		if strings.Contains(e.Reason, text) {
			out = append(out, e.Reason)
		}
	}
	return out
}
