package rescue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	getItem = "/ninelives.demo.v1.DemoService/GetItem"
	putItem = "/ninelives.demo.v1.DemoService/PutItem"
)

// env is a demo fleet of stable and canary, a split between them and a
// client with the rescue interceptors on a clock the test moves.
type env struct {
	fleet  *demoserver.Fleet
	split  *balancer.Split
	client demov1.DemoServiceClient
	rs     *rescue.Interceptor
	clock  *fakeClock
	obs    *recorder
}

// newEnv starts the fleet with the canary at canaryBP basis points.
func newEnv(t testing.TB, cfg rescue.Config, canaryBP int, specs ...demoserver.VersionSpec) *env {
	t.Helper()
	e := &env{fleet: demotest.Fleet(t, specs...), clock: new(fakeClock), obs: new(recorder)}
	e.split = balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: balancer.TotalWeight - canaryBP},
		balancer.Weight{Version: "canary", Weight: canaryBP})
	t.Cleanup(e.split.AddObserver(e.obs))
	cfg.Candidate, cfg.Baseline = "canary", "stable"
	if cfg.Split == nil {
		cfg.Split = e.split
	}
	if cfg.Clock == nil {
		cfg.Clock = e.clock
	}
	var err error
	e.rs, err = rescue.New(cfg)
	require.NoError(t, err)
	cc := demotest.Dial(t, e.fleet.Target(),
		balancer.WithSplit(e.split, balancer.OverrideKey("x-version")),
		grpc.WithChainUnaryInterceptor(e.rs.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(e.rs.StreamClientInterceptor()))
	e.client = demov1.NewDemoServiceClient(cc)
	demotest.Connect(t, cc)
	demotest.WaitFleetReady(t, e.split, e.fleet)
	demotest.Settle(t, cc, e.split)
	e.obs.reset()
	return e
}

func spec(version string, count int, faults demoserver.Faults, opts ...demoserver.Option) demoserver.VersionSpec {
	return demoserver.VersionSpec{Version: version, Count: count, Faults: faults, Options: opts}
}

var (
	healthy = demoserver.Faults{}
	failing = demoserver.Faults{ErrorRate: 1}
	hanging = demoserver.Faults{Hang: true}
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), demotest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond a bounded number of times, for what happens on other
// goroutines (a timer being set, a server handler returning).
func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// fakeClock is a Clock whose time stands still and whose timers run only
// when the test fires them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	d       time.Duration
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) rescue.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// pending is the number of timers set and neither stopped nor fired.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// fire moves the clock past every pending timer and runs them; it returns
// their delays.
func (c *fakeClock) fire() []time.Duration {
	c.mu.Lock()
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.timers = nil
	c.mu.Unlock()
	var ds []time.Duration
	for _, t := range due {
		ds = append(ds, t.d)
		t.f()
	}
	return ds
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

// count counts the attempts by "version/role/code".
func (r *recorder) count() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, a := range r.attempts {
		out[a.Version+"/"+string(a.Role)+"/"+status.Code(a.Err).String()]++
	}
	return out
}

// roles counts the attempts by "version/role". Codes are left out: when a
// client or bidi stream's server fails it while the client still sends,
// gRPC (v1.85.0, clientStream.retryLocked) ends the attempt with io.EOF
// and reports it to the balancer as a success, although the caller gets
// the server's status.
func (r *recorder) roles() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, a := range r.attempts {
		out[a.Version+"/"+string(a.Role)]++
	}
	return out
}

func codeOf(err error) codes.Code { return status.Code(err) }
