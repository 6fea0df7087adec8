package shadow

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// fastEqual is the fast path's verdict on a pair under the ignored paths.
func fastEqual(t *testing.T, a, b proto.Message, paths [][]string) bool {
	t.Helper()
	wa, wb := marshalWire(a), marshalWire(b)
	require.NotNil(t, wa)
	require.NotNil(t, wb)
	defer putWire(wa)
	defer putWire(wb)
	trees := ignoreTrees{paths: paths}
	return equalWire(*wa, *wb, trees.of(a.ProtoReflect().Descriptor()))
}

// slowEqual is the field walk's verdict: equal once the ignored fields are
// cleared on both sides.
func slowEqual(a, b proto.Message, paths [][]string) bool {
	a, b = proto.Clone(a), proto.Clone(b)
	clearPaths(a, paths)
	clearPaths(b, paths)
	return len(Diff(a, b)) == 0
}

func TestEqualWire(t *testing.T) {
	later := func(r *demov1.GetItemResponse) { r.GeneratedAt = timestamppb.New(r.GeneratedAt.AsTime().Add(1)) }
	cases := []struct {
		name   string
		paths  [][]string
		change func(*demov1.GetItemResponse)
		want   bool
	}{
		{"equal, nothing ignored", nil, func(*demov1.GetItemResponse) {}, true},
		{"differs, nothing ignored", nil, later, false},
		{"ignored top-level field", [][]string{{"generated_at"}}, later, true},
		{"ignored by JSON name", [][]string{{"generatedAt"}}, later, true},
		{"ignored nested field", [][]string{{"served_by", "instance"}}, func(r *demov1.GetItemResponse) { r.ServedBy.Instance = "canary-0" }, true},
		{"nested field beside the ignored one", [][]string{{"served_by", "instance"}}, func(r *demov1.GetItemResponse) { r.ServedBy.Version = "canary" }, false},
		{"ignored field unset on one side", [][]string{{"generated_at"}}, func(r *demov1.GetItemResponse) { r.GeneratedAt = nil }, true},
		{"other field differs", [][]string{{"generated_at"}, {"served_by"}}, func(r *demov1.GetItemResponse) { r.Item.PriceCents++ }, false},
		{"repeated field ignored", [][]string{{"item", "tags"}}, func(r *demov1.GetItemResponse) { r.Item.Tags = nil }, true},
		{"a path that names no field", [][]string{{"no_such_field"}}, later, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := reply()
			tc.change(b)
			assert.Equal(t, tc.want, fastEqual(t, reply(), b, tc.paths))
			assert.Equal(t, tc.want, slowEqual(reply(), b, tc.paths), "the field walk agrees")
		})
	}

	// Maps: the entries' values are walked with the path's rest.
	s1, err := structpb.NewStruct(map[string]any{"a": map[string]any{"at": "1", "n": 1.0}, "b": "x"})
	require.NoError(t, err)
	s2, err := structpb.NewStruct(map[string]any{"a": map[string]any{"at": "2", "n": 1.0}, "b": "x"})
	require.NoError(t, err)
	deep := [][]string{{"fields", "struct_value", "fields", "string_value"}}
	assert.True(t, fastEqual(t, s1, s2, deep))
	assert.False(t, fastEqual(t, s1, s2, nil))
}

// The fast path may only say "equal" when the field walk would: a
// deterministic sweep of random pairs, each with a random set of ignored
// paths.
func TestEqualWireNeverDisagreesWithTheWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	gen := func() *demov1.GetItemResponse {
		r := &demov1.GetItemResponse{}
		if rng.IntN(4) > 0 {
			r.Item = &demov1.Item{Id: pick("a", "b"), Name: pick("", "n"), PriceCents: int64(rng.IntN(2))}
			for range rng.IntN(3) {
				r.Item.Tags = append(r.Item.Tags, pick("x", "y"))
			}
		}
		if rng.IntN(3) > 0 {
			r.ServedBy = &demov1.ServedBy{Version: pick("stable", "canary"), Instance: pick("", "0", "1")}
		}
		if rng.IntN(3) > 0 {
			r.GeneratedAt = timestamppb.New(time.Unix(100, int64(rng.IntN(2))))
		}
		return r
	}
	all := [][]string{{"item"}, {"item", "tags"}, {"item", "name"}, {"served_by", "instance"}, {"servedBy"}, {"generated_at"}, {"item", "price_cents", "deeper"}}
	var fastYes, slowYes int
	for range 5000 {
		var paths [][]string
		for _, p := range all {
			if rng.IntN(3) == 0 {
				paths = append(paths, p)
			}
		}
		a, b := gen(), gen()
		if rng.IntN(2) == 0 {
			b = proto.Clone(a).(*demov1.GetItemResponse)
			if b.ServedBy != nil {
				b.ServedBy.Instance = pick("", "0", "1")
			}
		}
		fast, slow := fastEqual(t, a, b, paths), slowEqual(a, b, paths)
		if fast && !slow {
			t.Fatalf("the fast path says equal, the walk does not, ignoring %v:\n%v\n%v", paths, a, b)
		}
		if fast {
			fastYes++
		}
		if slow {
			slowYes++
		}
	}
	t.Logf("equal pairs: %d by the fast path, %d by the walk", fastYes, slowYes)
	// The fast path settles most of the equal pairs by itself.
	assert.Greater(t, fastYes, slowYes*9/10, "fast %d of %d equal pairs", fastYes, slowYes)
}

// A message that cannot be marshalled (a string that is not UTF-8) is
// kept as a clone, and compared by the field walk.
func TestSnapshotOfAMessageWithNoWireForm(t *testing.T) {
	bad := reply()
	bad.Item.Name = "\xff"
	p := takeSnapshot(bad)
	defer p.release()
	require.False(t, p.hasWire)
	bad.Item.Name = "changed by its caller"
	assert.Equal(t, "\xff", p.message().(*demov1.GetItemResponse).GetItem().GetName())

	s, err := New(Config{Candidate: "canary", IgnoreFields: []string{"generated_at"}})
	require.NoError(t, err)
	c := &shadowed{s: s, route: route{method: "/m"}}
	var d differ
	other := reply()
	other.Item.Name = "\xff"
	other.GeneratedAt = nil
	c.compare(&d, p, other)
	assert.Empty(t, d.sorted())
	other.Item.PriceCents++
	c.compare(&d, p, other)
	assert.Equal(t, []string{"item.price_cents"}, d.sorted())

	good := takeSnapshot(reply())
	defer good.release()
	require.True(t, good.hasWire)
	d = differ{}
	c.compare(&d, good, other)
	assert.Equal(t, []string{"item.name", "item.price_cents"}, d.sorted())
}

// A request's wire form outlives the call that took it while grpc holds a
// reference, as its transport may after an early reply.
func TestWireRequestIsSharedByReference(t *testing.T) {
	req := &demov1.GetItemRequest{Id: "a"}
	want, err := proto.Marshal(req)
	require.NoError(t, err)
	var r wireRequest
	require.True(t, r.take(req))
	var legs []mem.BufferSlice
	for range 2 {
		data, err := wireCodec{}.Marshal(&r)
		require.NoError(t, err)
		legs = append(legs, data)
	}
	r.release()
	for _, data := range legs {
		assert.Equal(t, want, data.Materialize(), "still held by grpc")
		data.Free()
	}
	assert.False(t, r.take(&demov1.GetItemRequest{Id: "\xff"}), "a request that does not marshal has no wire form")
}

func TestWireCodecHandsMessagesToProto(t *testing.T) {
	data, err := wireCodec{}.Marshal(reply())
	require.NoError(t, err)
	var got demov1.GetItemResponse
	require.NoError(t, wireCodec{}.Unmarshal(data, &got))
	assert.True(t, proto.Equal(reply(), &got))

	var w wireReply
	defer w.release()
	require.NoError(t, wireCodec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer("ab"), mem.SliceBuffer("c")}, &w))
	assert.Equal(t, []byte("abc"), w.bytes(), "a reply in wire form is kept as it came")
	require.NoError(t, wireCodec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer("de")}, &w))
	assert.Equal(t, []byte("de"), w.bytes(), "the last reply, in one piece")
	assert.Empty(t, wireCodec{}.Name(), "copies keep their primary's content type")
}

func TestPlainCodec(t *testing.T) {
	for _, tc := range []struct {
		opts []grpc.CallOption
		want bool
	}{
		{nil, true},
		{[]grpc.CallOption{grpc.WaitForReady(true), grpc.CallContentSubtype("proto")}, true},
		{[]grpc.CallOption{grpc.CallContentSubtype("json")}, false},
		{[]grpc.CallOption{grpc.ForceCodecV2(wireCodec{})}, false},
	} {
		assert.Equal(t, tc.want, plainCodec(tc.opts), "%v", tc.opts)
	}
	assert.Equal(t, failFastWire, wireOptions(nil))
	var hdr metadata.MD
	opts := wireOptions([]grpc.CallOption{grpc.Header(&hdr), grpc.MaxCallRecvMsgSize(10)})
	require.Len(t, opts, 3)
	assert.IsType(t, grpc.MaxRecvMsgSizeCallOption{}, opts[0])
	assert.Equal(t, wireCodecOption, opts[2])
}

// A copy's reply that does not decode fails the copy, as grpc fails a call
// whose reply does not decode.
func TestCompareWireOfAReplyThatDoesNotDecode(t *testing.T) {
	s, err := New(Config{Candidate: "canary"})
	require.NoError(t, err)
	c := &shadowed{s: s, route: route{method: "/m"}}
	p := takeSnapshot(reply())
	defer p.release()
	var d differ
	err = c.compareWire(&d, p, []byte{0xff})
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.ErrorContains(t, err, "does not decode as ninelives.demo.v1.GetItemResponse")

	w := marshalWire(reply())
	defer putWire(w)
	require.NoError(t, c.compareWire(&d, p, *w))
	assert.Empty(t, d.sorted())
	changed := reply()
	changed.Item.PriceCents++
	b, err := proto.Marshal(changed)
	require.NoError(t, err)
	require.NoError(t, c.compareWire(&d, p, b))
	assert.Equal(t, []string{"item.price_cents"}, d.sorted())
}

// The record walk's shortcuts read what protowire reads: a deterministic
// sweep of short random inputs, tags and lengths of one byte and more,
// truncated ones and field number 0 among them.
func TestRecordShortcutsAgreeWithProtowire(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, 1+rng.IntN(6))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(2) == 0 {
				b[i] &= 0x7f // one-byte varints, often
			}
		}
		num, typ, body, size := readRecord(b)
		wnum, wtyp, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			require.Negative(t, size, "tag of %x", b)
			continue
		}
		vl := protowire.ConsumeFieldValue(wnum, wtyp, b[tl:])
		if vl < 0 {
			require.Negative(t, size, "value of %x", b)
			continue
		}
		require.Equal(t, []any{wnum, wtyp, tl + vl}, []any{num, typ, size}, "record %x", b)
		want := b[tl : tl+vl]
		if typ == protowire.BytesType {
			want, _ = protowire.ConsumeBytes(want)
		}
		require.Equal(t, want, body, "value of %x", b)
	}
}
