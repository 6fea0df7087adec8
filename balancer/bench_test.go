package balancer_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	gbalancer "google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/serviceconfig"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

// capture wraps a real policy and keeps the last picker it made while READY,
// so Pick can be measured alone on real, connected SubConns.
type capture struct {
	name  string
	child gbalancer.Builder
	last  *atomic.Pointer[gbalancer.Picker]
}

type captureParsing struct{ capture }

func (c capture) Name() string { return c.name }

func (c capture) Build(cc gbalancer.ClientConn, opts gbalancer.BuildOptions) gbalancer.Balancer {
	return c.child.Build(&captureCC{ClientConn: cc, last: c.last}, opts)
}

func (c captureParsing) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	return c.child.(gbalancer.ConfigParser).ParseConfig(js)
}

type captureCC struct {
	gbalancer.ClientConn
	last *atomic.Pointer[gbalancer.Picker]
}

func (c *captureCC) UpdateState(s gbalancer.State) {
	if s.ConnectivityState == connectivity.Ready {
		c.last.Store(&s.Picker)
	}
	c.ClientConn.UpdateState(s)
}

var (
	rrPicker    atomic.Pointer[gbalancer.Picker]
	splitPicker atomic.Pointer[gbalancer.Picker]
	// stickyPicker is ninelives_split with a stickyKey configured.
	stickyPicker atomic.Pointer[gbalancer.Picker]
)

func init() {
	gbalancer.Register(capture{name: "capture_rr", child: gbalancer.Get(roundrobin.Name), last: &rrPicker})
	gbalancer.Register(captureParsing{capture{name: "capture_split", child: gbalancer.Get(Name), last: &splitPicker}})
	gbalancer.Register(captureParsing{capture{name: "capture_split_sticky", child: gbalancer.Get(Name), last: &stickyPicker}})
}

// countingObserver is the cheapest useful observer: it counts attempts.
type countingObserver struct{ n, fallbacks atomic.Int64 }

func (o *countingObserver) ObserveAttempt(*Attempt) { o.n.Add(1) }
func (o *countingObserver) ObserveFallback(string)  { o.fallbacks.Add(1) }

// BenchmarkPick measures one Pick of ninelives_split beside round_robin's on
// the same four connected endpoints.
func BenchmarkPick(b *testing.B) {
	f := startFleet(b, "stable", 2, "canary", 2)
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})

	plain, withPlain := plainTarget(f)
	rr := dial(b, plain, withPlain, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"capture_rr":{}}]}`))
	sc, err := ServiceConfig(split)
	require.NoError(b, err)
	nl := dial(b, f.Target(), grpc.WithDefaultServiceConfig(strings.Replace(sc, `"`+Name+`"`, `"capture_split"`, 1)))
	sc, err = ServiceConfig(split, StickyKey("x-user-id"))
	require.NoError(b, err)
	nlSticky := dial(b, f.Target(), grpc.WithDefaultServiceConfig(strings.Replace(sc, `"`+Name+`"`, `"capture_split_sticky"`, 1)))
	connect(b, rr)
	connect(b, nl)
	connect(b, nlSticky)
	waitReady(b, split, map[string]int{"stable": 2, "canary": 2})
	// Both pickers must hold all four endpoints.
	require.Eventually(b, func() bool {
		_, err1 := tallyPicker(rrPicker.Load(), 4)
		n, err2 := tallyPicker(splitPicker.Load(), 200)
		m, err3 := tallyPicker(stickyPicker.Load(), 200)
		return err1 == nil && err2 == nil && err3 == nil && n == 4 && m == 4
	}, 10*time.Second, time.Millisecond)

	method := "/ninelives.demo.v1.DemoService/GetItem"
	run := func(b *testing.B, p gbalancer.Picker, ctx context.Context) {
		info := gbalancer.PickInfo{FullMethodName: method, Ctx: ctx}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			res, err := p.Pick(info)
			if err != nil {
				b.Fatal(err)
			}
			if res.Done != nil {
				res.Done(gbalancer.DoneInfo{BytesSent: true})
			}
		}
	}
	bg := context.Background()
	b.Run("policy=round_robin", func(b *testing.B) { run(b, *rrPicker.Load(), bg) })
	b.Run("policy=ninelives_split", func(b *testing.B) { run(b, *splitPicker.Load(), bg) })
	b.Run("policy=ninelives_split+observer", func(b *testing.B) {
		obs := new(countingObserver)
		defer split.AddObserver(obs)()
		run(b, *splitPicker.Load(), bg)
		if obs.n.Load() == 0 {
			b.Fatal("the observer saw no attempt")
		}
	})
	// With stickyKey configured: a call without the key, and calls whose key
	// comes from the context or from the outgoing metadata.
	b.Run("policy=ninelives_split+sticky_absent", func(b *testing.B) { run(b, *stickyPicker.Load(), bg) })
	b.Run("policy=ninelives_split+sticky_context", func(b *testing.B) {
		run(b, *stickyPicker.Load(), WithStickyKey(bg, "user-42"))
	})
	b.Run("policy=ninelives_split+sticky_metadata", func(b *testing.B) {
		run(b, *stickyPicker.Load(), metadata.AppendToOutgoingContext(bg, "x-user-id", "user-42"))
	})
}

// tallyPicker counts the distinct SubConns a picker returns in n picks.
func tallyPicker(p *gbalancer.Picker, n int) (int, error) {
	if p == nil {
		return 0, context.Canceled
	}
	seen := map[gbalancer.SubConn]bool{}
	for range n {
		res, err := (*p).Pick(gbalancer.PickInfo{FullMethodName: "/x/y", Ctx: context.Background()})
		if err != nil {
			return 0, err
		}
		if res.Done != nil {
			res.Done(gbalancer.DoneInfo{})
		}
		seen[res.SubConn] = true
	}
	return len(seen), nil
}

// BenchmarkUnaryCalls measures calls/s over loopback from 64 concurrent
// callers to the same four servers, round_robin beside ninelives_split (two
// versions of two servers, 50/50). The two clients take turns in rounds of
// 2,000 calls, so both see the same background load.
func BenchmarkUnaryCalls(b *testing.B) {
	f := startFleet(b, "stable", 2, "canary", 2)
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	plain, withPlain := plainTarget(f)
	rr := dial(b, plain, withPlain, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	nl := dial(b, f.Target(), WithSplit(split))
	connect(b, rr)
	connect(b, nl)
	waitReady(b, split, map[string]int{"stable": 2, "canary": 2})
	call := func(cc *grpc.ClientConn) func(context.Context) error {
		return func(ctx context.Context) error { _, err := getItem(ctx, cc, "a"); return err }
	}
	demotest.Paired(b, 2000, 64, [2]demotest.Side{
		{Name: "round_robin", Call: call(rr)},
		{Name: "ninelives_split", Call: call(nl)},
	})
}
