package fleet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The fleet's tests run real parts end to end: embedded etcd members on
// loopback, a demo fleet of real gRPC servers, and per replica its own etcd
// client, gRPC connection, Split, OpenTelemetry provider, telemetry Source,
// Follower and Reporter. Ticks are driven by hand on a fake clock: each
// tick every replica makes a fixed number of calls and reports, then the
// leader ticks once.

const prefix = "/ninelives/test"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fakeClock = sentineltest.Clock

func newFakeClock() *fakeClock {
	return sentineltest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
}

// startEtcd starts a one-member etcd for the test.
func startEtcd(t testing.TB) *fleettest.Server {
	t.Helper()
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// newClient makes an etcd client that is closed when the test ends.
func newClient(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	c, err := fleettest.Client(endpoints...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

var initial = []balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}}

// replica is one client process of the fleet.
type replica struct {
	name     string
	client   *clientv3.Client
	split    *balancer.Split
	cc       *grpc.ClientConn
	follower *fleet.Follower
	reporter *fleet.Reporter
	failed   atomic.Int64
	calls    atomic.Int64
	// changes records the split's canary weight at each change.
	mu      sync.Mutex
	changes []int
}

func (r *replica) weightChanges() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.changes...)
}

// world is a fleet under test.
type world struct {
	t        *testing.T
	clock    *fakeClock
	servers  *demoserver.Fleet
	replicas []*replica
	opts     []fleet.Option
}

// newWorld starts the demo servers (two per version) and n replicas
// against endpoints; every replica's split starts at 100 % stable.
func newWorld(t *testing.T, n int, endpoints []string, opts ...fleet.Option) *world {
	t.Helper()
	servers, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 2},
	)
	require.NoError(t, err)
	t.Cleanup(servers.Stop)
	w := &world{t: t, clock: newFakeClock(), servers: servers}
	w.opts = append([]fleet.Option{fleet.WithClock(w.clock), fleet.WithLogger(quiet), fleet.WithTimeout(time.Second)}, opts...)
	for i := range n {
		w.replicas = append(w.replicas, w.newReplica(fmt.Sprintf("replica-%d", i), endpoints))
	}
	for _, r := range w.replicas {
		require.Eventually(t, func() bool {
			return len(r.split.ReadyEndpoints("stable")) == 2 && len(r.split.ReadyEndpoints("canary")) == 2
		}, 10*time.Second, 5*time.Millisecond, "endpoints not READY: %v", r.split.Endpoints(""))
	}
	return w
}

func (w *world) newReplica(name string, endpoints []string) *replica {
	t := w.t
	r := &replica{name: name, client: newClient(t, endpoints...), split: balancer.MustSplit(initial...)}
	stopWatch := r.split.Watch(func(ws []balancer.Weight) {
		r.mu.Lock()
		for _, x := range ws {
			if x.Version == "canary" {
				r.changes = append(r.changes, x.Weight)
			}
		}
		r.mu.Unlock()
	})
	t.Cleanup(stopWatch)
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	stop, err := m.Instrument(r.split)
	require.NoError(t, err)
	t.Cleanup(stop)
	r.cc, err = grpc.NewClient(w.servers.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(r.split))
	require.NoError(t, err)
	t.Cleanup(func() { r.cc.Close() })
	r.cc.Connect()

	r.follower, err = fleet.NewFollower(r.client, prefix, r.split, w.opts...)
	require.NoError(t, err)
	t.Cleanup(func() { r.follower.Close() })
	r.reporter, err = fleet.NewReporter(r.client, prefix, name, src, r.follower, w.opts...)
	require.NoError(t, err)
	t.Cleanup(func() { r.reporter.Close() })
	require.NoError(t, r.follower.Start(context.Background()))
	return r
}

// load makes n GetItem calls on every replica, from two goroutines each.
func (w *world) load(n int) {
	var wg sync.WaitGroup
	for _, r := range w.replicas {
		client := demov1.NewDemoServiceClient(r.cc)
		for range 2 {
			wg.Go(func() {
				for range n / 2 {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
					cancel()
					r.calls.Add(1)
					if err != nil {
						r.failed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
}

// report makes every replica report once, and returns the errors.
func (w *world) report() []error {
	var errs []error
	for _, r := range w.replicas {
		if err := r.reporter.Report(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// waitApplied waits until every replica has applied the state seq.
func (w *world) waitApplied(seq uint64) {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		for _, r := range w.replicas {
			if st, ok := r.follower.Applied(); !ok || st.Seq < seq {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond, "not every replica applied seq %d", seq)
}

func (w *world) failures() int64 {
	var n int64
	for _, r := range w.replicas {
		n += r.failed.Load()
	}
	return n
}

// canary is the strategy of the tests: 10 %, 50 %, 100 %, each step at
// least 2 s and 100 canary calls.
func canary(t *testing.T) sentinel.Strategy {
	t.Helper()
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 2 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	return c
}

var judgeOption = fleet.WithSentinelOptions(sentinel.WithJudge(judge.Config{
	Errors:  judge.ErrorConfig{MinStepCalls: 150},
	Latency: judge.LatencyConfig{MinStepCalls: 150},
}))

// newLeader makes a sentinel of the rollout with its own etcd client.
func (w *world) newLeader(name string, client *clientv3.Client, opts ...fleet.Option) *fleet.Leader {
	w.t.Helper()
	l, err := fleet.NewLeader(client, prefix, name, initial, canary(w.t), append(append([]fleet.Option{judgeOption}, w.opts...), opts...)...)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { l.Close() })
	return l
}

// tick is one round: the clock moves a second, every replica makes calls
// and reports, the leader ticks; when it publishes a state, tick waits
// until every replica has applied it.
func (w *world) tick(l *fleet.Leader, calls int) (sentinel.Event, error) {
	w.t.Helper()
	w.clock.Advance(time.Second)
	w.load(calls)
	require.Empty(w.t, w.report())
	before := l.Status().State
	ev, err := l.Tick(context.Background())
	if after := l.Status().State; after != nil && (before == nil || after.Seq != before.Seq) {
		w.waitApplied(after.Seq)
	}
	return ev, err
}
