package warmup_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a demo fleet, a split that sends every call to "stable", a
// client, and an observer of the client's attempts.
type env struct {
	fleet *demoserver.Fleet
	split *balancer.Split
	cc    *grpc.ClientConn
	obs   *recorder
}

// newEnv starts the fleet and a client whose calls all go to stable, and
// waits until the client's picker has every endpoint READY.
func newEnv(t testing.TB, specs ...demoserver.VersionSpec) *env {
	t.Helper()
	e := &env{fleet: demotest.Fleet(t, specs...), obs: new(recorder)}
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
	t.Cleanup(e.split.AddObserver(e.obs))
	e.cc = demotest.Dial(t, e.fleet.Target(), balancer.WithSplit(e.split))
	demotest.Connect(t, e.cc)
	demotest.WaitReady(t, e.split, want)
	demotest.Settle(t, e.cc, e.split)
	e.obs.reset()
	return e
}

func spec(version string, count int, opts ...demoserver.Option) demoserver.VersionSpec {
	return demoserver.VersionSpec{Version: version, Count: count, Options: opts}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
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

func getItemCall(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "w"})
	return err
}

// recorder is a balancer.Observer that counts the attempts by version and
// role, "stable/warmup".
type recorder struct {
	mu    sync.Mutex
	count map[string]int
}

func (r *recorder) ObserveAttempt(a *balancer.Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == nil {
		r.count = map[string]int{}
	}
	r.count[a.Version+"/"+string(a.Role)]++
}

func (r *recorder) ObserveFallback(string) {}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count = map[string]int{}
}

func (r *recorder) roles() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.count))
	for k, v := range r.count {
		out[k] = v
	}
	return out
}
