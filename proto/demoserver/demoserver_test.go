package demoserver_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conn dials s and closes the connection when the test ends.
func conn(t *testing.T, s *demoserver.Server) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

func client(t *testing.T, s *demoserver.Server) demov1.DemoServiceClient {
	t.Helper()
	return demov1.NewDemoServiceClient(conn(t, s))
}

func TestRepliesNameVersionAndInstance(t *testing.T) {
	s := demoserver.New("stable", "stable-0")
	require.NoError(t, s.Start("127.0.0.1:0"))
	defer s.Stop()
	c := client(t, s)
	ctx := context.Background()

	r, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, "stable", r.GetServedBy().GetVersion())
	assert.Equal(t, "stable-0", r.GetServedBy().GetInstance())
	assert.NotNil(t, r.GetGeneratedAt())
	again, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, r.GetItem().GetPriceCents(), again.GetItem().GetPriceCents(), "an item is the same on every call")

	_, err = c.GetItem(ctx, &demov1.GetItemRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	p, err := c.PutItem(ctx, &demov1.PutItemRequest{Item: &demov1.Item{Id: "b"}})
	require.NoError(t, err)
	assert.Equal(t, "b", p.GetItem().GetId())

	assert.Equal(t, []string{"x0", "x1", "x2", "x3"}, listIDs(t, c, 4, "x"))

	cs, err := c.CountItems(ctx)
	require.NoError(t, err)
	for range 5 {
		require.NoError(t, cs.Send(&demov1.CountItemsRequest{Id: "i"}))
	}
	cr, err := cs.CloseAndRecv()
	require.NoError(t, err)
	assert.EqualValues(t, 5, cr.GetCount())

	es, err := c.Echo(ctx)
	require.NoError(t, err)
	require.NoError(t, es.Send(&demov1.EchoRequest{Text: "hi"}))
	er, err := es.Recv()
	require.NoError(t, err)
	assert.Equal(t, "hi", er.GetText())
	require.NoError(t, es.CloseSend())
	_, err = es.Recv()
	assert.Equal(t, io.EOF, err)

	assert.EqualValues(t, 3, s.Calls("GetItem"))
	assert.EqualValues(t, 7, s.TotalCalls())
	assert.EqualValues(t, 1, s.Accepted())
}

func TestFaultsSwitchWhileRunning(t *testing.T) {
	entered := make(chan string, 8)
	s := demoserver.New("canary", "canary-0", demoserver.WithSeed(3), demoserver.WithEntered(entered))
	require.NoError(t, s.Start("127.0.0.1:0"))
	defer s.Stop()
	cc := conn(t, s)
	c := demov1.NewDemoServiceClient(cc)
	ctx := context.Background()

	s.SetFaults(demoserver.Faults{ErrorRate: 1})
	_, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, "injected failure in canary canary-0")

	s.SetFaults(demoserver.Faults{PriceDelta: 5})
	base := demoserver.New("stable", "s")
	require.NoError(t, base.Start("127.0.0.1:0"))
	defer base.Stop()
	r1, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	r2, err := client(t, base).GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, r2.GetItem().GetPriceCents()+5, r1.GetItem().GetPriceCents())

	s.SetFaults(demoserver.Faults{ExtraItems: 2})
	assert.Equal(t, []string{"y0", "y1", "y2"}, listIDs(t, c, 1, "y"), "two items past the page size")

	s.SetFaults(demoserver.Faults{FailAfterItems: 2})
	ls, err := c.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 5, Prefix: "z"})
	require.NoError(t, err)
	for range 2 {
		_, err = ls.Recv()
		require.NoError(t, err)
	}
	_, err = ls.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "the stream breaks after two items")
	assert.ErrorContains(t, err, "injected failure after 2 items")

	ls, err = c.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 2, Prefix: "z"})
	require.NoError(t, err)
	for range 2 {
		_, err = ls.Recv()
		require.NoError(t, err)
	}
	_, err = ls.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "it fails even when its last item is the page's last")

	// A hang holds the call in the handler until the fault is cleared.
	s.SetFaults(demoserver.Faults{Hang: true})
	for len(entered) > 0 {
		<-entered
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.GetItem(metadata.AppendToOutgoingContext(ctx, demoserver.ShadowHeader, "candidate"), &demov1.GetItemRequest{Id: "a"})
		done <- err
	}()
	assert.Equal(t, "GetItem", <-entered)
	// A second call on the same connection makes a full round trip to the
	// server without entering a handler (an unknown method: no fault
	// applies to it). Without the hang the first call's handler, which has
	// nothing else to do, would have ended by then; with it, the call is
	// still inside and has not returned.
	err = cc.Invoke(ctx, "/ninelives.demo.v1.DemoService/NoSuchMethod", &demov1.GetItemRequest{}, &demov1.GetItemResponse{})
	require.Equal(t, codes.Unimplemented, status.Code(err), "the second call made its round trip")
	assert.EqualValues(t, 1, s.InFlight(), "the hung call is still in its handler")
	select {
	case err := <-done:
		t.Fatalf("the hung call returned: %v", err)
	default:
	}
	s.SetFaults(demoserver.Faults{})
	require.NoError(t, <-done)
	assert.EqualValues(t, 1, s.MaxInFlight())
	assert.EqualValues(t, 1, s.ShadowCalls(), "the marked call was counted as a shadow")

	// A hung call ends with its deadline.
	s.SetFaults(demoserver.Faults{Hang: true})
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.GetItem(dctx, &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))

	// A slow tail: every call (rate 1) takes an hour more, none (rate 0)
	// does; the deadline tells them apart without timing anything.
	s.SetFaults(demoserver.Faults{TailRate: 1, TailLatency: time.Hour})
	tctx, tcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = c.GetItem(tctx, &demov1.GetItemRequest{Id: "a"})
	tcancel()
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the tail's delay")
	s.SetFaults(demoserver.Faults{TailRate: 0, TailLatency: time.Hour})
	_, err = c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	assert.NoError(t, err, "no call in the tail")
	s.Stop()
	s.Stop() // idempotent
}

func TestFleet(t *testing.T) {
	f, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{ErrorRate: 1}},
	)
	require.NoError(t, err)
	defer f.Stop()
	assert.Equal(t, []string{"stable", "canary"}, f.Versions())
	assert.Len(t, f.All(), 3)
	assert.Equal(t, "canary-0", f.Servers("canary")[0].Instance())
	assert.Equal(t, 1.0, f.Servers("canary")[0].Faults().ErrorRate)
	assert.Contains(t, f.Target(), "ninelives:///stable=passthrough:///127.0.0.1:")
	assert.Contains(t, f.TargetOf("canary"), "canary=passthrough:///"+f.Servers("canary")[0].Addr())
	f.SetFaults("canary", demoserver.Faults{})
	assert.Zero(t, f.Servers("canary")[0].Faults().ErrorRate)

	_, err = demoserver.StartFleet(demoserver.VersionSpec{Version: "x", Count: 0})
	assert.ErrorContains(t, err, `version "x": count 0, want at least 1`)
	_, err = demoserver.StartFleet(demoserver.VersionSpec{Version: "x", Count: 2, Addrs: []string{"127.0.0.1:0"}})
	assert.ErrorContains(t, err, `version "x": 1 addresses [127.0.0.1:0] for a count of 2, want one per instance`)
	s := demoserver.New("v", "i")
	assert.ErrorContains(t, s.Start("256.0.0.1:0"), "demoserver: listen 256.0.0.1:0")
}

func TestAFleetStartsAgainOnItsAddresses(t *testing.T) {
	f, err := demoserver.StartFleet(demoserver.VersionSpec{Version: "canary", Count: 2})
	require.NoError(t, err)
	target := f.Target()
	addrs := []string{f.Servers("canary")[0].Addr(), f.Servers("canary")[1].Addr()}
	f.Stop()
	again, err := demoserver.StartFleet(demoserver.VersionSpec{Version: "canary", Count: 2, Addrs: addrs})
	require.NoError(t, err)
	defer again.Stop()
	assert.Equal(t, target, again.Target())
	r, err := client(t, again.Servers("canary")[1]).GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, "canary-1", r.GetServedBy().GetInstance())
}

func TestSeedsTellFleetsApart(t *testing.T) {
	failures := func(seed uint64) string {
		f, err := demoserver.StartFleet(demoserver.VersionSpec{Version: "canary", Count: 1, Seed: seed, Faults: demoserver.Faults{ErrorRate: 0.5}})
		require.NoError(t, err)
		defer f.Stop()
		c := client(t, f.Servers("canary")[0])
		var b []byte
		for range 32 {
			_, err := c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
			mark := byte('.')
			if err != nil {
				mark = 'x'
			}
			b = append(b, mark)
		}
		return string(b)
	}
	first := failures(1)
	assert.Equal(t, first, failures(1), "a seed repeats its failures")
	assert.NotEqual(t, first, failures(2), "another seed fails other calls")
}

func TestServesHealth(t *testing.T) {
	s := demoserver.New("v", "i")
	require.NoError(t, s.Start("127.0.0.1:0"))
	defer s.Stop()
	r, err := healthpb.NewHealthClient(conn(t, s)).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, r.GetStatus())
}

func TestStopFromManyGoroutines(t *testing.T) {
	s := demoserver.New("v", "i")
	require.NoError(t, s.Start("127.0.0.1:0"))
	c := client(t, s)
	_, err := c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(s.Stop)
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(false))
	assert.Equal(t, codes.Unavailable, status.Code(err), "the server is stopped")
}

// listIDs lists a page of items and returns their ids.
func listIDs(t *testing.T, c demov1.DemoServiceClient, size int32, prefix string) []string {
	t.Helper()
	ls, err := c.ListItems(context.Background(), &demov1.ListItemsRequest{PageSize: size, Prefix: prefix})
	require.NoError(t, err)
	var ids []string
	for {
		m, err := ls.Recv()
		if err == io.EOF {
			return ids
		}
		require.NoError(t, err)
		ids = append(ids, m.GetItem().GetId())
	}
}
