package balancer_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startFleet starts count servers of each version, given as pairs
// ("stable", 3, "canary", 1), and stops them when the test ends.
func startFleet(t testing.TB, spec ...any) *demoserver.Fleet {
	t.Helper()
	var specs []demoserver.VersionSpec
	for i := 0; i < len(spec); i += 2 {
		specs = append(specs, demoserver.VersionSpec{Version: spec[i].(string), Count: spec[i+1].(int)})
	}
	return demotest.Fleet(t, specs...)
}

var (
	dial      = demotest.Dial
	waitReady = demotest.WaitReady
	connect   = demotest.Connect
)

func getItem(ctx context.Context, cc *grpc.ClientConn, id string) (*demov1.GetItemResponse, error) {
	return demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: id})
}

// tally makes n GetItem calls from workers goroutines, each with the context
// ctxFor(i) returns, and counts the versions that served them.
func tally(t testing.TB, cc *grpc.ClientConn, n, workers int, ctxFor func(i int) context.Context) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(ctxFor(i), 10*time.Second)
				resp, err := getItem(ctx, cc, "a")
				cancel()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mu.Lock()
				counts[resp.GetServedBy().GetVersion()]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		t.Fatalf("call failed: %v", err)
	}
	return counts
}

func bg(int) context.Context { return context.Background() }

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	attempts  []Attempt
	fallbacks map[string]int
}

func (r *recorder) ObserveAttempt(a *Attempt) {
	r.mu.Lock()
	r.attempts = append(r.attempts, *a)
	r.mu.Unlock()
}

func (r *recorder) ObserveFallback(chosen string) {
	r.mu.Lock()
	if r.fallbacks == nil {
		r.fallbacks = map[string]int{}
	}
	r.fallbacks[chosen]++
	r.mu.Unlock()
}

func (r *recorder) fallbackCount(v string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fallbacks[v]
}

func (r *recorder) snapshot() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

// plainTarget is a target of every server of the fleet, without versions,
// for a round_robin baseline (a ninelives target needs ninelives_split).
func plainTarget(f *demoserver.Fleet) (string, grpc.DialOption) {
	r := manual.NewBuilderWithScheme("nlplain")
	var eps []resolver.Endpoint
	for _, s := range f.All() {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: s.Addr()}}})
	}
	r.InitialState(resolver.State{Endpoints: eps})
	return r.Scheme() + ":///fleet", grpc.WithResolvers(r)
}

func splitHostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return host, port
}
