package balancer_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestWeightsAndChangesWithoutReconnecting(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 2)
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})
	cc := dial(t, f.Target(), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 2, "canary": 2})
	conns := f.Accepted()
	require.EqualValues(t, 4, conns, "one connection per server")

	const n = 20000
	got := tally(t, cc, n, 16, bg)
	share := float64(got["canary"]) / n
	assert.InDelta(t, 0.10, share, 0.01, "canary share over %d calls: %v", n, got)
	assert.Equal(t, n, got["stable"]+got["canary"])

	require.NoError(t, split.SetWeights(Weight{"stable", 5000}, Weight{"canary", 5000}))
	got = tally(t, cc, 4000, 16, bg)
	assert.InDelta(t, 0.5, float64(got["canary"])/4000, 0.03, "50/50: %v", got)

	require.NoError(t, split.Set("canary", 10000, "stable"))
	got = tally(t, cc, 500, 4, bg)
	assert.Equal(t, map[string]int{"canary": 500}, got, "0/100 takes effect on the very next calls")
	assert.Equal(t, conns, f.Accepted(), "weight changes made no new connection")
	assert.EqualValues(t, 3, split.Generation())
}

func TestStickyKeys(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 2)
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})
	cc := dial(t, f.Target(), WithSplit(split, StickyKey("x-user-id")))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 2, "canary": 2})

	withUser := func(u string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "x-user-id", u)
	}
	// One key keeps to one version.
	one := tally(t, cc, 1000, 8, func(int) context.Context { return withUser("user-17") })
	assert.Len(t, one, 1, "user-17 reached %v", one)

	const keys = 10000
	versionsOf := func() []string {
		out := make([]string, keys)
		var wg sync.WaitGroup
		var next atomic.Int64
		var failed atomic.Value
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < keys; i = int(next.Add(1)) - 1 {
					resp, err := getItem(withUser("user-"+strconv.Itoa(i)), cc, "a")
					if err != nil {
						failed.Store(err)
						return
					}
					out[i] = resp.GetServedBy().GetVersion()
				}
			}()
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			t.Fatal(err)
		}
		return out
	}
	before := versionsOf()
	require.NoError(t, split.Set("canary", 5000, "stable"))
	after := versionsOf()

	moved, back, canaryBefore := 0, 0, 0
	for i := range keys {
		if before[i] == "canary" {
			canaryBefore++
		}
		switch {
		case before[i] == "stable" && after[i] == "canary":
			moved++
		case before[i] == "canary" && after[i] == "stable":
			back++
		}
	}
	assert.Zero(t, back, "no key may move from the candidate back to the baseline")
	assert.InDelta(t, 0.10, float64(canaryBefore)/keys, 0.01)
	assert.InDelta(t, 0.40, float64(moved)/keys, 0.02, "moved %d of %d keys", moved, keys)

	// WithStickyKey gives the same placement as the metadata key.
	r1, err := getItem(WithStickyKey(context.Background(), "user-42"), cc, "a")
	require.NoError(t, err)
	r2, err := getItem(withUser("user-42"), cc, "a")
	require.NoError(t, err)
	assert.Equal(t, r1.GetServedBy().GetVersion(), r2.GetServedBy().GetVersion())
}

func TestFallbackUnderLoad(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 2)
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	rec := new(recorder)
	defer split.AddObserver(rec)()
	cc := dial(t, f.Target(), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 2, "canary": 2})

	var phase atomic.Int32 // 0: warm, 1: canary stopped and seen gone
	var failsAfterGone, callsAfterGone, canaryAfterGone atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := phase.Load()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := getItem(ctx, cc, "a")
				cancel()
				if p == 1 {
					callsAfterGone.Add(1)
					if err != nil {
						failsAfterGone.Add(1)
					} else if resp.GetServedBy().GetVersion() == "canary" {
						canaryAfterGone.Add(1)
					}
				}
			}
		}()
	}
	addrs := []string{f.Servers("canary")[0].Addr(), f.Servers("canary")[1].Addr()}
	for _, s := range f.Servers("canary") {
		s.Stop()
	}
	// Wait until grpc sees them gone.
	deadline := time.Now().Add(10 * time.Second)
	for len(split.ReadyEndpoints("canary")) > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	require.Empty(t, split.ReadyEndpoints("canary"))
	phase.Store(1)
	for callsAfterGone.Load() < 2000 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, callsAfterGone.Load(), int64(2000))
	assert.Zero(t, failsAfterGone.Load(), "no call may fail once grpc knows the canary is gone")
	assert.Zero(t, canaryAfterGone.Load())
	assert.Greater(t, rec.fallbackCount("canary"), 500, "fallbacks are counted against the chosen version")
	assert.Zero(t, rec.fallbackCount("stable"))

	// Start them again on the same addresses: traffic returns.
	for i, addr := range addrs {
		s := demoserver.New("canary", fmt.Sprintf("canary-re-%d", i))
		require.NoError(t, s.Start(addr))
		t.Cleanup(s.Stop)
	}
	waitReady(t, split, map[string]int{"stable": 2, "canary": 2})
	close(stop)
	wg.Wait()
	got := tally(t, cc, 2000, 8, bg)
	assert.InDelta(t, 0.5, float64(got["canary"])/2000, 0.06, "traffic returns to the canary: %v", got)
}

func TestFallbackOff(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	split := MustSplit(Weight{"stable", 0}, Weight{"canary", 10000})
	cc := dial(t, f.Target(), WithSplit(split, Fallback(false)))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	f.Servers("canary")[0].Stop()
	require.Eventually(t, func() bool { return len(split.ReadyEndpoints("canary")) == 0 }, 10*time.Second, 2*time.Millisecond)
	_, err := getItem(context.Background(), cc, "a")
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, `version "canary" has no READY endpoint`)
	assert.ErrorContains(t, err, "fallback is off")
}

func TestForcedVersionAndEndpoint(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 1, "dark", 1)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0}, Weight{"dark", 0})
	cc := dial(t, f.Target(), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 2, "canary": 1, "dark": 1})

	ctx, rec := call.WithRecord(ForceVersion(context.Background(), "canary"))
	got := tally(t, cc, 100, 4, func(int) context.Context { return ctx })
	assert.Equal(t, map[string]int{"canary": 100}, got)
	assert.Equal(t, "canary", rec.Version())
	assert.Equal(t, f.Servers("canary")[0].Addr(), rec.Endpoint())
	assert.False(t, rec.Fallback())
	assert.True(t, rec.Forced(), "the record says the pick was forced")

	_, err := getItem(call.Reroute(ctx, "dark", RolePrimary), cc, "a")
	require.NoError(t, err)
	assert.Equal(t, "dark", rec.Version(), "a rerouted call fills in the same record")
	assert.True(t, rec.Forced())

	target := f.Servers("stable")[1]
	ectx := ForceEndpoint(context.Background(), target.Addr())
	for range 50 {
		resp, err := getItem(ectx, cc, "a")
		require.NoError(t, err)
		assert.Equal(t, target.Instance(), resp.GetServedBy().GetInstance())
	}
	assert.EqualValues(t, 50, target.Calls("GetItem"))

	// WithRoute replaces what the context forced and sets the role, with a
	// fresh record.
	rec2 := new(recorder)
	remove := split.AddObserver(rec2)
	base := WithStickyKey(ForceVersion(ForceEndpoint(context.Background(), target.Addr()), "stable"), "user-1")
	rctx, rrec := call.WithRoute(base, call.Route{Version: "canary", Role: RoleShadow})
	resp, err := getItem(rctx, cc, "a")
	require.NoError(t, err)
	remove()
	assert.Equal(t, "canary", resp.GetServedBy().GetVersion())
	assert.Equal(t, "canary", rrec.Version())
	assert.NotSame(t, rec, rrec)
	assert.Equal(t, RoleShadow, call.RoleOf(rctx))
	assert.Equal(t, RolePrimary, call.RoleOf(base), "the parent context is unchanged")
	if _, ok := call.ForcedEndpoint(rctx); ok {
		t.Error("WithRoute kept the forced endpoint")
	}
	if got := rec2.snapshot(); assert.Len(t, got, 1) {
		assert.Equal(t, RoleShadow, got[0].Role)
	}
	kctx, _ := call.WithRoute(call.WithRole(base, RoleWarmup), call.Route{Endpoint: target.Addr()})
	assert.Equal(t, RoleWarmup, call.RoleOf(kctx), "an empty Role keeps the context's")

	// Forced to a version that is down: Unavailable naming it, no fallback.
	f.Servers("dark")[0].Stop()
	require.Eventually(t, func() bool { return len(split.ReadyEndpoints("dark")) == 0 }, 10*time.Second, 2*time.Millisecond)
	_, err = getItem(ForceVersion(context.Background(), "dark"), cc, "a")
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, `forced version "dark" has no READY endpoint`)
	_, err = getItem(ForceEndpoint(context.Background(), f.Servers("dark")[0].Addr()), cc, "a")
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, "forced endpoint "+f.Servers("dark")[0].Addr()+" is not READY")
	_, err = getItem(ForceEndpoint(context.Background(), "127.0.0.1:1"), cc, "a")
	assert.ErrorContains(t, err, "unknown to this client")
	_, err = getItem(ForceVersion(context.Background(), "nope"), cc, "a")
	assert.Equal(t, codes.Unimplemented, status.Code(err))
	assert.ErrorContains(t, err, `forced version "nope"`)
}

// An endpoint may have several addresses; forcing a call to any of them
// reaches the endpoint, and the call is attributed to its version.
func TestForcedEndpointOfAMultiAddressEndpoint(t *testing.T) {
	f := startFleet(t, "stable", 1)
	srv := f.Servers("stable")[0]
	r := manual.NewBuilderWithScheme("nlmulti")
	r.InitialState(resolver.State{Endpoints: []resolver.Endpoint{SetVersion(resolver.Endpoint{Addresses: []resolver.Address{
		{Addr: "127.0.0.1:1"}, // refuses: pickfirst moves on to the server
		{Addr: srv.Addr()},
	}}, "stable")}})
	split := MustSplit(Weight{"stable", 10000})
	rec := new(recorder)
	defer split.AddObserver(rec)()
	cc := dial(t, "nlmulti:///fleet", grpc.WithResolvers(r), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1})

	for _, addr := range []string{"127.0.0.1:1", srv.Addr()} {
		ctx, callRec := call.WithRecord(ForceEndpoint(context.Background(), addr))
		resp, err := getItem(ctx, cc, "a")
		require.NoError(t, err, "forced to %s", addr)
		assert.Equal(t, srv.Instance(), resp.GetServedBy().GetInstance())
		assert.Equal(t, "stable", callRec.Version())
		assert.True(t, callRec.Forced())
	}
	assert.EqualValues(t, 2, srv.Calls("GetItem"))
	for _, a := range rec.snapshot() {
		assert.Equal(t, "stable", a.Version)
	}
}

func TestOverrideHeader(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0})
	cc := dial(t, f.Target(), WithSplit(split, OverrideKey("x-ninelives-version")))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-ninelives-version", "canary")
	got := tally(t, cc, 50, 2, func(int) context.Context { return ctx })
	assert.Equal(t, map[string]int{"canary": 50}, got)

	bad := metadata.AppendToOutgoingContext(context.Background(), "x-ninelives-version", "canry")
	_, err := getItem(bad, cc, "a")
	assert.Equal(t, codes.Unimplemented, status.Code(err), "not turned into Internal by grpc")
	assert.ErrorContains(t, err, `x-ninelives-version="canry" names no version`)
	assert.EqualValues(t, 0, f.Servers("stable")[0].Calls("GetItem"), "no silent fallback")

	rctx, rec := call.WithRecord(ctx)
	_, err = getItem(rctx, cc, "a")
	require.NoError(t, err)
	assert.True(t, rec.Forced(), "a version the override key names is forced")
	wctx, wrec := call.WithRecord(context.Background())
	_, err = getItem(wctx, cc, "a")
	require.NoError(t, err)
	assert.Equal(t, call.ByWeight, wrec.Choice())
}

func TestNothingReadyBehavesLikeRoundRobin(t *testing.T) {
	// Every server is gone: fail-fast calls fail with Unavailable and
	// wait-for-ready calls wait until their deadline, as with round_robin.
	f := startFleet(t, "stable", 1)
	addr := f.Servers("stable")[0].Addr()
	f.Servers("stable")[0].Stop()
	split := MustSplit(Weight{"stable", 10000})
	for _, policy := range []string{"round_robin", Name} {
		// round_robin on the plain target: a ninelives target needs our policy.
		target, opt := "passthrough:///"+addr, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`)
		if policy == Name {
			target, opt = CompositeTarget(VersionTarget{"stable", "passthrough:///" + addr}), WithSplit(split)
		}
		cc := dial(t, target, opt)
		cc.Connect()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for st := cc.GetState(); st != connectivity.TransientFailure; st = cc.GetState() {
			require.True(t, cc.WaitForStateChange(ctx, st), policy)
		}
		cancel()
		_, err := getItem(context.Background(), cc, "a")
		assert.Equal(t, codes.Unavailable, status.Code(err), policy)
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err = demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true))
		cancel()
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), policy)
	}
}

func TestAllCallKindsRoutedAlike(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0})
	rec := new(recorder)
	defer split.AddObserver(rec)()
	cc := dial(t, f.Target(), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	client := demov1.NewDemoServiceClient(cc)
	ctx := context.Background()

	callAll := func() []string {
		var got []string
		r, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "x"})
		require.NoError(t, err)
		got = append(got, r.GetServedBy().GetVersion())
		ss, err := client.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 2})
		require.NoError(t, err)
		for {
			m, err := ss.Recv()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, m.GetServedBy().GetVersion())
		}
		cs, err := client.CountItems(ctx)
		require.NoError(t, err)
		require.NoError(t, cs.Send(&demov1.CountItemsRequest{Id: "1"}))
		cr, err := cs.CloseAndRecv()
		require.NoError(t, err)
		got = append(got, cr.GetServedBy().GetVersion())
		bs, err := client.Echo(ctx)
		require.NoError(t, err)
		require.NoError(t, bs.Send(&demov1.EchoRequest{Text: "hi"}))
		br, err := bs.Recv()
		require.NoError(t, err)
		got = append(got, br.GetServedBy().GetVersion())
		require.NoError(t, bs.CloseSend())
		_, err = bs.Recv()
		require.Equal(t, io.EOF, err)
		return got
	}
	assert.Equal(t, []string{"stable", "stable", "stable", "stable", "stable"}, callAll())
	require.NoError(t, split.Set("canary", 10000, "stable"))
	assert.Equal(t, []string{"canary", "canary", "canary", "canary", "canary"}, callAll())

	// Each stream is one attempt, reported when it ends, with its method.
	require.Eventually(t, func() bool { return len(rec.snapshot()) == 8 }, 5*time.Second, time.Millisecond)
	methods := map[string]int{}
	for _, a := range rec.snapshot() {
		methods[a.Version+" "+a.Method]++
		assert.NoError(t, a.Err)
		assert.Equal(t, RolePrimary, a.Role)
		assert.Positive(t, a.Latency)
	}
	for _, v := range []string{"stable", "canary"} {
		for _, m := range []string{"GetItem", "ListItems", "CountItems", "Echo"} {
			assert.Equal(t, 1, methods[v+" /ninelives.demo.v1.DemoService/"+m], "%s %s", v, m)
		}
	}
}

func TestObserverSeesErrorsAndRoles(t *testing.T) {
	f := startFleet(t, "stable", 1)
	f.Servers("stable")[0].SetFaults(demoserver.Faults{ErrorRate: 1})
	split := MustSplit(Weight{"stable", 10000})
	rec := new(recorder)
	remove := split.AddObserver(rec)
	cc := dial(t, f.Target(), WithSplit(split))
	_, err := getItem(call.WithRole(context.Background(), RoleShadow), cc, "a")
	require.Equal(t, codes.Unavailable, status.Code(err))
	got := rec.snapshot()
	require.Len(t, got, 1)
	assert.Equal(t, "stable", got[0].Version)
	assert.Equal(t, RoleShadow, got[0].Role)
	assert.Equal(t, codes.Unavailable, status.Code(got[0].Err))
	assert.False(t, got[0].Unanswered, "a status the server sent is an answer, Unavailable too")
	remove()
	_, _ = getItem(context.Background(), cc, "a")
	assert.Len(t, rec.snapshot(), 1, "a removed observer hears nothing")
}

// A server that dies with a call in flight leaves it unanswered: the
// attempt fails Unavailable with nothing from the server, and the observer
// is told so.
func TestObserverTellsUnansweredAttempts(t *testing.T) {
	f := startFleet(t, "stable", 1)
	srv := f.Servers("stable")[0]
	split := MustSplit(Weight{"stable", 10000})
	rec := new(recorder)
	defer split.AddObserver(rec)()
	cc := dial(t, f.Target(), WithSplit(split))
	_, err := getItem(context.Background(), cc, "a")
	require.NoError(t, err)
	srv.SetFaults(demoserver.Faults{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := getItem(ctx, cc, "b")
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.InFlight() == 1 }, 10*time.Second, time.Millisecond)
	srv.Stop()
	err = <-errc
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	got := rec.snapshot()
	require.Len(t, got, 2)
	assert.False(t, got[0].Unanswered, "a call that succeeded")
	assert.True(t, got[1].Unanswered, "the call in flight when the server died: %v", got[1].Err)
	assert.Equal(t, codes.Unavailable, status.Code(got[1].Err))
}

func TestSplitSurvivesIdleness(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0})
	cc := dial(t, f.Target(), WithSplit(split), grpc.WithIdleTimeout(100*time.Millisecond))
	connect(t, cc)
	got := tally(t, cc, 20, 1, bg)
	assert.Equal(t, map[string]int{"stable": 20}, got)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for st := cc.GetState(); st != connectivity.Idle; st = cc.GetState() {
		require.True(t, cc.WaitForStateChange(ctx, st), "channel never went idle")
	}
	require.NoError(t, split.Set("canary", 10000, "stable"))
	got = tally(t, cc, 20, 1, bg)
	assert.Equal(t, map[string]int{"canary": 20}, got, "the rebuilt balancer follows the same Split")
}

func TestWatchAndSetWeightsErrors(t *testing.T) {
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})
	var seen [][]Weight
	stop := split.Watch(func(ws []Weight) { seen = append(seen, ws) })
	require.NoError(t, split.Set("canary", 2500, "stable"))
	stop()
	require.NoError(t, split.Set("canary", 5000, "stable"))
	assert.Equal(t, [][]Weight{{{"stable", 7500}, {"canary", 2500}}}, seen)
	assert.Equal(t, "stable=50.00% canary=50.00%", split.String())

	for name, ws := range map[string][]Weight{
		"weights sum to 9999":        {{"stable", 9999}, {"canary", 0}},
		`unknown version "blue"`:     {{"stable", 10000}, {"blue", 0}},
		`canary: no weight given`:    {{"stable", 10000}},
		`stable: given twice`:        {{"stable", 5000}, {"stable", 5000}},
		`canary = -1: want 0..10000`: {{"stable", 10000}, {"canary", -1}},
	} {
		err := split.SetWeights(ws...)
		assert.ErrorIs(t, err, ErrBadWeights, name)
		assert.ErrorContains(t, err, name)
	}
	assert.Equal(t, 5000, split.Weight("canary"), "a rejected change loses nothing")
	assert.ErrorContains(t, split.Set("canary", 10001, "stable"), "canary = 10001: want 0..10000")
	assert.ErrorContains(t, split.Set("canary", 1, "canary"), "twice")
	assert.ErrorContains(t, split.Set("canary", 1, "blue"), "unknown version")
	assert.ErrorContains(t, split.Set("canary", -1, "stable"), "canary = -1: want 0..10000")

	// A weight that leaves the other version less than nothing names the
	// weight asked for, not the negative one it would have made.
	three := MustSplit(Weight{"a", 5000}, Weight{"b", 2500}, Weight{"c", 2500})
	err := three.Set("b", 9000, "a")
	assert.ErrorIs(t, err, ErrBadWeights)
	assert.EqualError(t, err, `ninelives: bad weights: b = 9000: leaves -1500 for "a" (others hold 2500)`)
	assert.Equal(t, []Weight{{"a", 5000}, {"b", 2500}, {"c", 2500}}, three.Weights(), "nothing changed")
	require.NoError(t, three.Set("b", 7500, "a"), "all the room there is")
	assert.Equal(t, []Weight{{"a", 0}, {"b", 7500}, {"c", 2500}}, three.Weights())
	_, err = NewSplit()
	assert.ErrorIs(t, err, ErrBadWeights)
	_, err = NewSplit(Weight{"a;b", 10000})
	assert.EqualError(t, err, `ninelives: bad weights: weights[0].Version: version name "a;b" holds ';'; use letters, digits, '-', '_' and '.'`)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "weights[0].Version", ce.Field)
}

func TestStickyShareMatchesWeights(t *testing.T) {
	// The hash spreads keys evenly: at every weight the canary's share of
	// 20,000 keys is within 1 percentage point.
	for _, w := range []int{100, 500, 2500, 5000} {
		in := 0
		for i := range 20000 {
			if int(call.StickyPoint("user-"+strconv.Itoa(i))) >= TotalWeight-w {
				in++
			}
		}
		assert.InDelta(t, float64(w)/TotalWeight, float64(in)/20000, 0.01, "weight %d", w)
	}
}

func TestEndpointsListsReadyFirst(t *testing.T) {
	f := startFleet(t, "stable", 4, "canary", 4)
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	cc := dial(t, f.Target(), WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 4, "canary": 4})
	down := map[string]bool{}
	for _, v := range []string{"stable", "canary"} {
		for _, s := range f.Servers(v)[:2] {
			s.Stop()
			down[s.Addr()] = true
		}
	}
	waitReady(t, split, map[string]int{"stable": 2, "canary": 2})

	for _, version := range []string{"", "stable", "canary"} {
		eps := split.Endpoints(version)
		want := 8
		if version != "" {
			want = 4
		}
		require.Len(t, eps, want, version)
		for i, e := range eps {
			ready := e.State == connectivity.Ready
			assert.Equal(t, i < want/2, ready, "%q: endpoint %d %s is %s: %v", version, i, e.Addr, e.StateName, eps)
			assert.Equal(t, !ready, down[e.Addr], e.Addr)
		}
	}
}
