package shadow

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ninelives-go/ninelives/internal/call"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func reply() *demov1.GetItemResponse {
	return &demov1.GetItemResponse{
		Item:        &demov1.Item{Id: "a", Name: "item a", PriceCents: 3197, Tags: []string{"demo", "new"}},
		ServedBy:    &demov1.ServedBy{Version: "stable", Instance: "stable-0"},
		GeneratedAt: timestamppb.New(time.Unix(100, 5)),
	}
}

func violations(desc ...string) *errdetails.BadRequest {
	b := &errdetails.BadRequest{}
	for i, d := range desc {
		b.FieldViolations = append(b.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: string(rune('a' + i)), Description: d})
	}
	return b
}

func TestDiff(t *testing.T) {
	withUnknown := reply()
	withUnknown.ProtoReflect().SetUnknown([]byte{0xa0, 0x06, 0x01}) // field 100, varint 1
	cases := []struct {
		name string
		a, b proto.Message
		want []string
	}{
		{"equal", reply(), reply(), nil},
		{"scalar", reply(), func() proto.Message { r := reply(); r.Item.PriceCents++; return r }(), []string{"item.price_cents"}},
		{"two fields", reply(), func() proto.Message { r := reply(); r.Item.Name = "x"; r.ServedBy.Instance = "y"; return r }(), []string{"item.name", "served_by.instance"}},
		{"repeated scalar element", reply(), func() proto.Message { r := reply(); r.Item.Tags[1] = "old"; return r }(), []string{"item.tags"}},
		{"repeated length", reply(), func() proto.Message { r := reply(); r.Item.Tags = r.Item.Tags[:1]; return r }(), []string{"item.tags"}},
		{"message unset", reply(), func() proto.Message { r := reply(); r.Item = nil; return r }(), []string{"item"}},
		{"scalar set to zero", reply(), func() proto.Message { r := reply(); r.Item.PriceCents = 0; return r }(), []string{"item.price_cents"}},
		{"well-known type is one value", reply(), func() proto.Message { r := reply(); r.GeneratedAt.Nanos++; return r }(), []string{"generated_at"}},
		{"repeated message element", violations("x", "y"), violations("x", "z"), []string{"field_violations.description"}},
		{"repeated message length", violations("x", "y"), violations("x"), []string{"field_violations"}},
		{"map value", &errdetails.ErrorInfo{Metadata: map[string]string{"k": "1"}}, &errdetails.ErrorInfo{Metadata: map[string]string{"k": "2"}}, []string{"metadata"}},
		{"map key", &errdetails.ErrorInfo{Metadata: map[string]string{"k": "1"}}, &errdetails.ErrorInfo{Metadata: map[string]string{"j": "1"}}, []string{"metadata"}},
		{"map equal", &errdetails.ErrorInfo{Metadata: map[string]string{"k": "1", "j": "2"}}, &errdetails.ErrorInfo{Metadata: map[string]string{"j": "2", "k": "1"}}, nil},
		{"unknown fields", reply(), withUnknown, []string{PathUnknown}},
		{"types", reply(), &demov1.PutItemResponse{}, []string{PathType}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.a, tc.b)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, len(got) == 0, proto.Equal(tc.a, tc.b), "Diff is empty exactly when proto.Equal holds")
		})
	}
}

func TestDiffValues(t *testing.T) {
	var d differ
	d.capture = true
	b := reply()
	b.Item.Tags = nil
	b.Item.PriceCents = 1
	d.top(reply(), b)
	assert.Equal(t, []FieldValues{
		{Path: "item.price_cents", Primary: "3197", Shadow: "1"},
		{Path: "item.tags", Primary: `["demo", "new"]`, Shadow: "<unset>"},
	}, d.values)
}

func TestClearPaths(t *testing.T) {
	r := reply()
	clearPaths(r, [][]string{{"generated_at"}, {"item", "tags"}, {"no_such_field"}, {"item", "price_cents", "deeper"}})
	assert.Nil(t, r.GeneratedAt)
	assert.Nil(t, r.Item.Tags)
	assert.EqualValues(t, 3197, r.Item.PriceCents, "a path through a scalar clears nothing")

	v := violations("x", "y")
	clearPaths(v, [][]string{{"field_violations", "description"}})
	assert.True(t, proto.Equal(violations("", ""), v), "the path applies to each element: %v", v)

	e := &errdetails.ErrorInfo{Reason: "r", Metadata: map[string]string{"k": "v"}}
	clearPaths(e, [][]string{{"metadata"}})
	assert.Empty(t, e.Metadata)
	assert.Equal(t, "r", e.Reason)
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "short", truncate("p", "short"))
	long := ""
	for range 40 {
		long += "é"
	}
	got := truncate("p", long)
	assert.LessOrEqual(t, len(got), redactLimit+len("…"))
	assert.Regexp(t, "^(é)+…$", got, "cut on a rune boundary")
}

func TestCopyContext(t *testing.T) {
	s, err := New(Config{Candidate: "canary", Rate: 1, DenyMetadata: []string{"authorization"}, MaxTimeout: time.Minute})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(context.Background())) }()

	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	pctx = metadata.AppendToOutgoingContext(pctx, "authorization", "secret", "x-user-id", "u1")
	pctx = call.ForceEndpoint(pctx, "127.0.0.1:9")
	c := s.allow(pctx, "/ninelives.demo.v1.DemoService/GetItem")
	require.NotNil(t, c)
	defer c.release()
	assert.InDelta(t, 30*time.Second, c.budget, float64(time.Second), "the copy gets the primary's time")

	ctx, stop, rec := c.copyContext("canary", markerCandidate)
	defer stop()
	cancel()
	assert.NoError(t, ctx.Err(), "the copy is detached from the primary's cancellation")
	md, _ := metadata.FromOutgoingContext(ctx)
	assert.Equal(t, metadata.Pairs("x-user-id", "u1", Header, markerCandidate), md)
	v, ok := call.ForcedVersion(ctx)
	assert.True(t, ok)
	assert.Equal(t, "canary", v)
	_, ok = call.ForcedEndpoint(ctx)
	assert.False(t, ok, "the primary's forced endpoint is not inherited")
	assert.Equal(t, call.Shadow, call.RoleOf(ctx))
	assert.NotNil(t, rec)
	assert.Same(t, rec, call.RecordFrom(ctx))
	dl, ok := ctx.Deadline()
	require.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(30*time.Second), dl, 2*time.Second)

	// A copy is never copied again.
	assert.Nil(t, s.allow(ctx, "/ninelives.demo.v1.DemoService/GetItem"))
	// Without a primary deadline the cap applies.
	c2 := s.allow(context.Background(), "/ninelives.demo.v1.DemoService/GetItem")
	require.NotNil(t, c2)
	assert.Equal(t, time.Minute, c2.budget)
	c2.release()

	// Metadata with no denied key is carried over as it is, plus the
	// marker; a marker the primary carried is replaced, not repeated.
	for _, tc := range []struct {
		name string
		md   metadata.MD
		want metadata.MD
	}{
		{"clean", metadata.Pairs("x-user-id", "u1"), metadata.Pairs("x-user-id", "u1", Header, markerBaseline)},
		{"none", nil, metadata.Pairs(Header, markerBaseline)},
		{"marked", metadata.Pairs(Header, "forged", "x-user-id", "u1"), metadata.Pairs("x-user-id", "u1", Header, markerBaseline)},
	} {
		pctx := context.Background()
		if tc.md != nil {
			pctx = metadata.NewOutgoingContext(pctx, tc.md)
		}
		c := s.allow(pctx, "/ninelives.demo.v1.DemoService/GetItem")
		require.NotNil(t, c, tc.name)
		ctx, stop, _ := c.copyContext("stable", markerBaseline)
		md, _ := metadata.FromOutgoingContext(ctx)
		assert.Equal(t, tc.want, md, tc.name)
		stop()
		c.release()
	}
}

func TestCopyOptions(t *testing.T) {
	var hdr metadata.MD
	opts := copyOptions([]grpc.CallOption{grpc.Header(&hdr), grpc.Trailer(&hdr), grpc.MaxCallRecvMsgSize(10), grpc.WaitForReady(true)})
	require.Len(t, opts, 3)
	assert.IsType(t, grpc.MaxRecvMsgSizeCallOption{}, opts[0])
	assert.Equal(t, grpc.FailFastCallOption{FailFast: true}, opts[2], "copies fail fast")
	assert.Equal(t, []grpc.CallOption{grpc.FailFastCallOption{FailFast: true}}, copyOptions(nil), "without options too")
}

func TestMethodSafety(t *testing.T) {
	s, err := New(Config{Candidate: "canary", Methods: []string{"/other.Svc/Do"}})
	require.NoError(t, err)
	assert.True(t, s.method("/ninelives.demo.v1.DemoService/GetItem").safe)
	assert.False(t, s.method("/ninelives.demo.v1.DemoService/PutItem").safe)
	assert.True(t, s.method("/other.Svc/Do").safe, "listed")
	assert.Nil(t, s.method("/other.Svc/Do").newReply)
	assert.False(t, s.method("/other.Svc/Unknown").safe)
	assert.Same(t, s.method("/ninelives.demo.v1.DemoService/GetItem"), s.method("/ninelives.demo.v1.DemoService/GetItem"), "cached")
	assert.IsType(t, &demov1.ListItemsResponse{}, s.method("/ninelives.demo.v1.DemoService/ListItems").newReply())
}

func TestNoiseWindow(t *testing.T) {
	n := newNoise(3, 2)
	n.observe("m", []string{"a", "b"})
	assert.Empty(t, n.noisy("m"))
	n.observe("m", []string{"a"})
	assert.Equal(t, []string{"a"}, n.noisy("m"))
	n.observe("m", nil)
	n.observe("m", nil) // the first observation leaves the window
	assert.Empty(t, n.noisy("m"), "a is in 1 of the last 3")
	assert.Empty(t, n.all())
}

func TestSamplerIsDeterministic(t *testing.T) {
	run := func(seed uint64) []bool {
		s, err := New(Config{Candidate: "c", Rate: 0.3, Seed: seed})
		require.NoError(t, err)
		out := make([]bool, 1000)
		n := 0
		for i := range out {
			out[i] = s.sample(context.Background(), s.sampling.Load())
			if out[i] {
				n++
			}
		}
		assert.InDelta(t, 300, n, 60)
		return out
	}
	assert.Equal(t, run(1), run(1))
	assert.NotEqual(t, run(1), run(2))

	assert.Equal(t, 1, newSampling(0.00001).bp, "a tiny rate still samples sticky calls")
	assert.Equal(t, 700, newSampling(0.07).bp)
	assert.Zero(t, newSampling(0).bp)
}

func TestTimeoutAboveTheDefaultCap(t *testing.T) {
	st, err := newSettings(Config{Candidate: "c", Timeout: 30 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, st.MaxTimeout, "a Timeout above the default raises the cap")
	st, err = newSettings(Config{Candidate: "c"})
	require.NoError(t, err)
	assert.Equal(t, defaultMaxTimeout, st.MaxTimeout)
}
