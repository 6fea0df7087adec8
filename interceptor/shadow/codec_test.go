package shadow_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// contentTypes keeps the content type of every call a server took, by
// role ("primary" or "shadow").
type contentTypes struct {
	mu     sync.Mutex
	byRole map[string][]string
}

func (c *contentTypes) interceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	role := "primary"
	if demoserver.IsShadow(ctx) {
		role = "shadow"
	}
	c.mu.Lock()
	if c.byRole == nil {
		c.byRole = map[string][]string{}
	}
	c.byRole[role] = append(c.byRole[role], md.Get("content-type")...)
	c.mu.Unlock()
	return handler(ctx, req)
}

func (c *contentTypes) take() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.byRole
	c.byRole = nil
	return out
}

// serveRecorded serves a demo server of version on loopback behind ct.
func serveRecorded(t *testing.T, version string, ct *contentTypes) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(ct.interceptor))
	demov1.RegisterDemoServiceServer(srv, demoserver.New(version, version+"-0"))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// protoCounter is the proto codec under its own name, counting the
// messages it encodes.
type protoCounter struct{ marshals atomic.Int32 }

func (c *protoCounter) Marshal(v any) (mem.BufferSlice, error) {
	c.marshals.Add(1)
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (c *protoCounter) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}

func (c *protoCounter) Name() string { return "proto" }

// A copy reaches the candidate as its primary reaches the baseline: with
// the same content type, whether the copy travels in wire form or, when
// the caller chose a codec, as a message encoded by that codec.
func TestCopiesAreSentAsTheirPrimaries(t *testing.T) {
	ct := new(contentTypes)
	target := balancer.CompositeTarget(
		balancer.VersionTarget{Version: "stable", Target: "passthrough:///" + serveRecorded(t, "stable", ct)},
		balancer.VersionTarget{Version: "canary", Target: "passthrough:///" + serveRecorded(t, "canary", ct)})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: balancer.TotalWeight}, balancer.Weight{Version: "canary"})
	s, err := New(Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by", "generated_at"}})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctxT(t))) }()
	cc := dial(t, target, balancer.WithSplit(split), grpc.WithChainUnaryInterceptor(s.UnaryClientInterceptor()))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	client := demov1.NewDemoServiceClient(cc)

	counter := new(protoCounter)
	cases := []struct {
		name string
		opts []grpc.CallOption
		want string
	}{
		{"no codec option", nil, "application/grpc"},
		{"the proto content subtype", []grpc.CallOption{grpc.CallContentSubtype("proto")}, "application/grpc+proto"},
		{"a codec of the caller's", []grpc.CallOption{grpc.ForceCodecV2(counter)}, "application/grpc+proto"},
	}
	for i, tc := range cases {
		_, err := client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"}, tc.opts...)
		require.NoError(t, err, tc.name)
		require.NoError(t, s.Wait(ctxT(t)))
		assert.Equal(t, map[string][]string{"primary": {tc.want}, "shadow": {tc.want}}, ct.take(), tc.name)
		assert.EqualValues(t, i+1, s.Stats().Comparisons[ResultMatch], tc.name)
	}
	assert.EqualValues(t, 2, counter.marshals.Load(), "the caller's codec encoded the copy's request too")
}

// A stream's client messages reach every copy the same, whether they go in
// wire form or, under a codec of the caller's, as clones it encodes.
func TestStreamCopiesUnderACodecOfTheCallers(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Baseline: "stable", Rate: 1, IgnoreFields: []string{"served_by"}},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	counter := new(protoCounter)
	for _, opts := range [][]grpc.CallOption{nil, {grpc.ForceCodecV2(counter)}} {
		st, err := e.client.CountItems(ctxT(t), opts...)
		require.NoError(t, err)
		for _, id := range []string{"a", "b", "c"} {
			require.NoError(t, st.Send(&demov1.CountItemsRequest{Id: id}))
		}
		resp, err := st.CloseAndRecv()
		require.NoError(t, err)
		assert.EqualValues(t, 3, resp.GetCount())
		e.wait(t)
	}
	assert.EqualValues(t, 2, e.shadow.Stats().Comparisons[ResultMatch], "%+v", e.shadow.Stats())
	assert.EqualValues(t, 2, e.fleet.Calls("canary", "CountItems"))
	assert.EqualValues(t, 3*3, counter.marshals.Load(), "the primary's three messages and each copy's, under the caller's codec")
}
