package shadow

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ninelives-go/ninelives/internal/call"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

const getItem = "/ninelives.demo.v1.DemoService/GetItem"

// fakeGRPC stands for grpc and the servers behind it, with no network: it
// encodes the request and decodes a canned reply with the call's codec, as
// grpc does, and records the version it was sent to. Copies wait while the
// gate is shut.
type fakeGRPC struct {
	reply []byte
	// replies, if set, is the pool the replies are received into, in
	// pieces of at most piece bytes (0: one piece), as grpc's transport
	// receives them; else they are received as plain slices.
	replies *countingPool
	piece   int
	// primaryTo is where the primaries go; "" is stable.
	primaryTo string

	mu      sync.Mutex
	gate    chan struct{}         // nil: open
	sent    [][]byte              // the copies' requests as they went out
	first   map[call.Role][]*byte // the first byte of each request's buffer, by role
	copies  atomic.Int32          // copies that reached it
	entered chan struct{}         // a copy reached it
}

func newFakeGRPC(t *testing.T) *fakeGRPC {
	b, err := proto.Marshal(reply())
	require.NoError(t, err)
	return &fakeGRPC{reply: b, entered: make(chan struct{}, 64)}
}

// await waits for n more copies to reach f.
func (f *fakeGRPC) await(t *testing.T, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for range n {
		select {
		case <-f.entered:
		case <-timeout.C:
			t.Fatalf("a copy did not reach grpc; %d did in all", f.copies.Load())
		}
	}
}

func (f *fakeGRPC) shut() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeGRPC) open() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
	f.mu.Unlock()
}

func (f *fakeGRPC) invoke(ctx context.Context, _ string, req, reply any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
	codec := encoding.GetCodecV2("proto")
	for _, o := range opts {
		if fc, ok := o.(grpc.ForceCodecV2CallOption); ok {
			codec = fc.CodecV2
		}
	}
	version := cmp.Or(f.primaryTo, "stable")
	if v, ok := call.ForcedVersion(ctx); ok {
		version = v
	}
	if rec := call.RecordFrom(ctx); rec != nil {
		ep := version + "-0"
		rec.Store(&version, &ep)
	}
	data, err := codec.Marshal(req)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.first == nil {
		f.first = map[call.Role][]*byte{}
	}
	f.first[call.RoleOf(ctx)] = append(f.first[call.RoleOf(ctx)], &data[0].ReadOnlyData()[0])
	f.mu.Unlock()
	if call.RoleOf(ctx) == call.Shadow {
		f.copies.Add(1)
		f.mu.Lock()
		f.sent = append(f.sent, data.Materialize())
		gate := f.gate
		f.mu.Unlock()
		f.entered <- struct{}{}
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				data.Free()
				return status.FromContextError(ctx.Err()).Err()
			}
		}
	}
	data.Free()
	in := f.received()
	defer in.Free() // as grpc frees what it received once it is decoded
	return codec.Unmarshal(in, reply)
}

// received is the canned reply as grpc's transport hands it to a codec.
func (f *fakeGRPC) received() mem.BufferSlice {
	if f.replies == nil {
		return mem.BufferSlice{mem.SliceBuffer(f.reply)}
	}
	var out mem.BufferSlice
	for rest := f.reply; len(rest) > 0; {
		n := len(rest)
		if f.piece > 0 {
			n = min(n, f.piece)
		}
		b := f.replies.Get(n)
		copy(*b, rest[:n])
		out = append(out, mem.NewBuffer(b, f.replies))
		rest = rest[n:]
	}
	return out
}

// countingPool is a buffer pool that counts the buffers out of it.
type countingPool struct{ out atomic.Int64 }

func (p *countingPool) Get(n int) *[]byte {
	p.out.Add(1)
	b := make([]byte, n)
	return &b
}

func (p *countingPool) Put(*[]byte) { p.out.Add(-1) }

// newShadow returns an Interceptor closed when the test ends.
func newShadow(t *testing.T, cfg Config) *Interceptor {
	t.Helper()
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s
}

func callThrough(t *testing.T, s *Interceptor, f *fakeGRPC, req *demov1.GetItemRequest) *demov1.GetItemResponse {
	t.Helper()
	var resp demov1.GetItemResponse
	require.NoError(t, s.UnaryClientInterceptor()(context.Background(), getItem, req, &resp, nil, f.invoke))
	return &resp
}

func waitCopies(t *testing.T, s *Interceptor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Wait(ctx))
}

func TestWorkersAreReused(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by"}})
	for range 20 {
		callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
		waitCopies(t, s)
	}
	assert.EqualValues(t, 20, s.Stats().Comparisons[ResultMatch])
	running, parked := s.workers.size()
	assert.Equal(t, 1, running, "one worker made every copy, one after the other")
	assert.Equal(t, 1, parked)
}

// The pool is never the reason a primary waits: past its bound a copy is
// dropped at once and its slot given back.
func TestFullPoolNeverBlocksThePrimary(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1, MaxConcurrent: 4})
	s.workers.max = 1
	f.shut()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	f.await(t, 1)

	returned := make(chan struct{})
	go func() {
		defer close(returned)
		callThrough(t, s, f, &demov1.GetItemRequest{Id: "b"})
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the primary waited for a worker")
	}
	st := s.Stats()
	assert.EqualValues(t, 1, st.Dropped[DropConcurrency], "%+v", st)
	assert.Equal(t, 1, st.InFlight, "the dropped copy gave its slot back")

	f.open()
	waitCopies(t, s)
	assert.EqualValues(t, 1, f.copies.Load())
	assert.EqualValues(t, 1, s.Stats().Comparisons[ResultMatch])
}

// The baseline's copy runs on a worker of its own, beside the candidate's.
func TestBaselineCopyHasAWorkerOfItsOwn(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Baseline: "stable", Rate: 1, IgnoreFields: []string{"served_by"}})
	f.shut()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	f.await(t, 2) // both copies are made at once
	running, _ := s.workers.size()
	assert.Equal(t, 2, running)
	f.open()
	waitCopies(t, s)
	assert.EqualValues(t, 1, s.Stats().Comparisons[ResultMatch])
	want, err := proto.Marshal(&demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{want, want}, f.sent, "both legs send the one wire form of the request")
}

// The caller owns its request and reply once the primary returns: what it
// does to them later reaches no copy.
func TestCopiesWorkOnTheWireFormsTakenAtReturn(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by"}})
	f.shut()
	req := &demov1.GetItemRequest{Id: "a"}
	resp := callThrough(t, s, f, req)
	req.Id = "changed"
	resp.Item.PriceCents++
	f.open()
	waitCopies(t, s)
	assert.EqualValues(t, 1, s.Stats().Comparisons[ResultMatch], "%+v", s.Stats())
	want, err := proto.Marshal(&demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{want}, f.sent)
}

func TestWorkersLeaveAtClose(t *testing.T) {
	f := newFakeGRPC(t)
	s, err := New(Config{Candidate: "canary", Rate: 1})
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()
	f.shut()
	for range 3 {
		callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	}
	f.await(t, 3)
	running, _ := s.workers.size()
	require.Equal(t, 3, running)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.Close(ctx), context.Canceled, "Close cut the copies short")
	running, parked := s.workers.size()
	assert.Zero(t, running)
	assert.Zero(t, parked)
	goleak.VerifyNone(t, before)
	assert.Zero(t, s.Stats().Comparisons[ResultShadowError], "copies cut short by Close are not counted")

	// After Close the pool takes nothing.
	assert.False(t, s.workers.submit(&unaryLeg{}))
}

// A worker left parked for the idle time is let go when another parks.
func TestIdleWorkersAreLetGo(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1})
	var now atomic.Int64 // ahead of the clock
	s.workers.now = func() time.Time { return time.Now().Add(time.Duration(now.Load())) }
	f.shut()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "b"})
	f.await(t, 2)
	f.open()
	waitCopies(t, s)
	running, parked := s.workers.size()
	require.Equal(t, 2, running)
	require.Equal(t, 2, parked)

	now.Add(int64(workerIdle) + 1)
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "c"})
	waitCopies(t, s)
	running, parked = s.workers.size()
	assert.Equal(t, 1, running, "the worker parked longest has left")
	assert.Equal(t, 1, parked)
}

// A copy that a worker starts after Close has cancelled the copies in
// flight is cancelled at once too.
func TestCopyStartedAfterCloseCancelsIsCancelled(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1})
	f.shut()
	s.stop() // the first step of Close, as if it came just before the copy
	s.workers.cancelCopies()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	f.await(t, 1)
	waitCopies(t, s) // the shut gate would hold a copy that was not cancelled
	st := s.Stats()
	assert.Zero(t, st.InFlight)
	assert.Zero(t, st.Comparisons[ResultShadowError]+st.Comparisons[ResultMatch], "a copy cut short by Close is not counted: %+v", st)
}

// A primary that uses the proto codec is marshalled once: its copies, to
// the candidate and to the baseline, send the very buffer grpc marshalled
// its request into.
func TestCopiesSendThePrimarysOwnBuffer(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Baseline: "stable", Rate: 1, IgnoreFields: []string{"served_by"}})
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	waitCopies(t, s)
	assert.EqualValues(t, 1, s.Stats().Comparisons[ResultMatch])
	require.Len(t, f.first[call.Primary], 1)
	require.Len(t, f.first[call.Shadow], 2)
	for _, b := range f.first[call.Shadow] {
		assert.Same(t, f.first[call.Primary][0], b)
	}
}

// Every buffer a shadowed call holds goes back to its pool once its copies
// are done, dropped or skipped: the replies grpc received for the
// primaries, in pieces as a large one comes, included.
func TestReceivedBuffersGoBackToTheirPool(t *testing.T) {
	f := newFakeGRPC(t)
	large := reply()
	large.Item.Name = strings.Repeat("n", 5<<10)
	var err error
	f.reply, err = proto.Marshal(large)
	require.NoError(t, err)
	// Pieces above grpc's pooling threshold, or they are never pooled.
	f.replies, f.piece = new(countingPool), 2<<10
	s := newShadow(t, Config{Candidate: "canary", Baseline: "stable", Rate: 1, MaxConcurrent: 1, IgnoreFields: []string{"served_by"}})
	f.shut()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	f.await(t, 2)
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "b"}) // the bound is full
	f.primaryTo = "canary"
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "c"}) // nothing to compare
	f.open()
	waitCopies(t, s)
	st := s.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultMatch], "the reply in pieces compared equal: %+v", st)
	assert.EqualValues(t, 1, st.Dropped[DropConcurrency])
	assert.EqualValues(t, 1, st.SkippedOnCandidate)
	assert.Zero(t, f.replies.out.Load(), "buffers not given back")
}
