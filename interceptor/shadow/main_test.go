package shadow_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	getItemMethod    = "/ninelives.demo.v1.DemoService/GetItem"
	putItemMethod    = "/ninelives.demo.v1.DemoService/PutItem"
	listItemsMethod  = "/ninelives.demo.v1.DemoService/ListItems"
	countItemsMethod = "/ninelives.demo.v1.DemoService/CountItems"
	echoMethod       = "/ninelives.demo.v1.DemoService/Echo"
)

// env is a demo fleet, a split that sends every primary call to "stable",
// and a client with the shadow's interceptors installed.
type env struct {
	fleet  *demoserver.Fleet
	split  *balancer.Split
	cc     *grpc.ClientConn
	client demov1.DemoServiceClient
	shadow *Interceptor
	obs    *recorder
}

var (
	startFleet = demotest.Fleet
	dial       = demotest.Dial
	waitReady  = demotest.WaitReady
	connect    = demotest.Connect
	settle     = demotest.Settle
)

// newEnv starts the fleet and a client whose primaries all go to stable. A
// nil cfg installs no shadow.
func newEnv(t testing.TB, cfg *Config, specs ...demoserver.VersionSpec) *env {
	t.Helper()
	e := &env{fleet: startFleet(t, specs...), obs: new(recorder)}
	var ws []balancer.Weight
	want := map[string]int{}
	for _, sp := range specs {
		w := 0
		if sp.Version == "stable" {
			w = balancer.TotalWeight
		}
		ws = append(ws, balancer.Weight{Version: sp.Version, Weight: w})
		want[sp.Version] = sp.Count
	}
	e.split = balancer.MustSplit(ws...)
	remove := e.split.AddObserver(e.obs)
	t.Cleanup(remove)
	opts := []grpc.DialOption{balancer.WithSplit(e.split)}
	if cfg != nil {
		s, err := New(*cfg)
		require.NoError(t, err)
		e.shadow = s
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(s.StreamClientInterceptor()))
	}
	e.cc = dial(t, e.fleet.Target(), opts...)
	if e.shadow != nil {
		// Cleanups run last first: the shadow closes before the client.
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, e.shadow.Close(ctx))
		})
	}
	e.client = demov1.NewDemoServiceClient(e.cc)
	connect(t, e.cc)
	waitReady(t, e.split, want)
	settle(t, e.cc, e.split)
	e.obs.reset()
	return e
}

// wait waits for every copy in flight.
func (e *env) wait(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, e.shadow.Wait(ctx))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entered waits for n calls to reach a server that reports on ch.
func entered(t testing.TB, ch chan string, n int) []string {
	t.Helper()
	var got []string
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-timeout.C:
			t.Fatalf("only %d of %d calls reached the server: %v", len(got), n, got)
		}
	}
	return got
}

// eventually polls cond, a bounded number of times, for something that
// happens asynchronously (a server handler returning after a cancel).
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal(msg)
}

// recorder is a balancer.Observer that keeps the attempts.
type recorder struct {
	mu       sync.Mutex
	attempts []balancer.Attempt
}

func (r *recorder) ObserveAttempt(a *balancer.Attempt) {
	r.mu.Lock()
	r.attempts = append(r.attempts, *a)
	r.mu.Unlock()
}

func (r *recorder) ObserveFallback(string) {}

func (r *recorder) reset() {
	r.mu.Lock()
	r.attempts = nil
	r.mu.Unlock()
}

// roles counts the attempts by version and role, "canary/shadow".
func (r *recorder) roles() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, a := range r.attempts {
		out[a.Version+"/"+string(a.Role)]++
	}
	return out
}

// metricsSink is a Metrics that keeps what it is told.
type metricsSink struct {
	mu          sync.Mutex
	comparisons map[string]int // "version method result"
	dropped     map[string]int
}

func (m *metricsSink) RecordShadowComparison(_ context.Context, version, method, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.comparisons == nil {
		m.comparisons = map[string]int{}
	}
	m.comparisons[version+" "+method+" "+result]++
}

func (m *metricsSink) RecordShadowDropped(_ context.Context, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dropped == nil {
		m.dropped = map[string]int{}
	}
	m.dropped[reason]++
}

func (m *metricsSink) snapshot() (map[string]int, map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, d := map[string]int{}, map[string]int{}
	for k, v := range m.comparisons {
		c[k] = v
	}
	for k, v := range m.dropped {
		d[k] = v
	}
	return c, d
}

func spec(version string, count int, faults demoserver.Faults, opts ...demoserver.Option) demoserver.VersionSpec {
	return demoserver.VersionSpec{Version: version, Count: count, Faults: faults, Options: opts}
}
