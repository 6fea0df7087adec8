package shadow

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ninelives-go/ninelives/internal/call"
)

// StreamClientInterceptor returns the interceptor that shadows streams of
// all three kinds. The copy is opened on the candidate beside the primary
// and fed the primary's client messages from a bounded buffer; the server
// messages of both sides are compared in order, pair by pair, and the status
// codes at the end. The primary's SendMsg and RecvMsg only copy the message
// into the buffer: they never wait for the shadow. A stream that uses the
// proto codec goes out with a codec that hands the shadow grpc's own
// buffers of each message, so the primary's path marshals none of them.
func (s *Interceptor) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		c := s.allow(ctx, method)
		if c == nil {
			return streamer(ctx, desc, cc, method, opts...)
		}
		pctx, rec := call.Recorded(ctx, nil)
		capt, popts := s.captureOptions(opts)
		cs, err := streamer(pctx, desc, cc, method, popts...)
		if err != nil {
			return cs, err
		}
		version := rec.Version()
		if version == c.candidate {
			s.skipped.Add(1)
			return cs, nil
		}
		if !c.start() {
			return cs, nil
		}
		st := newStreamShadow(c, ctx, desc, cc, streamer, opts, version)
		go st.run()
		return &shadowedStream{ClientStream: cs, st: st, capt: capt, serverStreams: desc.ServerStreams}, nil
	}
}

// captureOptions returns the capture codec of a primary stream that uses
// the proto codec, and its options with that codec; nil and opts for one
// under a codec of the caller's.
func (s *Interceptor) captureOptions(opts []grpc.CallOption) (*capture, []grpc.CallOption) {
	if !plainCodec(opts) {
		return nil, opts
	}
	c := &capture{codec: s.codec}
	return c, append(opts[:len(opts):len(opts)], grpc.ForceCodecV2(c))
}

// shadowedStream is the primary stream as the caller sees it.
type shadowedStream struct {
	grpc.ClientStream
	st            *streamShadow
	capt          *capture // nil under a codec of the caller's
	serverStreams bool
}

func (w *shadowedStream) SendMsg(m any) error {
	err := w.ClientStream.SendMsg(m)
	if err == nil {
		w.st.clientMsg(m, w.capt.takeRequest())
	}
	return err
}

func (w *shadowedStream) CloseSend() error {
	err := w.ClientStream.CloseSend()
	w.st.closeSend()
	return err
}

func (w *shadowedStream) RecvMsg(m any) error {
	w.st.learnType(m)
	err := w.ClientStream.RecvMsg(m)
	switch {
	case err == nil:
		data, kept := w.capt.takeReply()
		w.st.serverMsg(m, data, kept)
		if !w.serverStreams {
			w.st.primaryDone(nil) // one reply ends a client stream
		}
	case errors.Is(err, io.EOF):
		w.st.primaryDone(nil)
	default:
		w.st.primaryDone(err)
	}
	return err
}

// queued is a message held for a shadow, with its size.
type queued struct {
	m    proto.Message // the copies' replies
	send any           // client messages: a *wireRequest, or a clone
	snap *snapshot     // the primary's server messages, kept for comparison
	size int
}

// quiet is the abandon reason that is not counted (Close, messages that are
// not protocol buffers).
const quiet = "-"

// streamLeg is one copy of a stream: to the candidate or to the baseline.
type streamLeg struct {
	version string
	ctx     context.Context
	cancel  context.CancelFunc
	rec     *call.Record
	signal  chan struct{} // client messages or close-send are waiting

	// Under streamShadow.mu.
	sendQ       []queued
	sendStopped bool
	q           []queued // server messages not yet compared
	matched     int      // server messages compared so far
	count       int      // server messages received
	finished    bool

	// Written by the leg before it finishes, read by the coordinator after.
	out outcome
}

// streamShadow is the shared state of one shadowed stream. Lock order: mu
// only; no callback runs under it.
type streamShadow struct {
	c        *shadowed
	pctx     context.Context // the primary's own context
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	streamer grpc.Streamer
	opts     []grpc.CallOption
	wire     bool // client messages travel in wire form
	legs     []*streamLeg

	abandonedFlag atomic.Bool
	doneCh        chan struct{} // closed when the primary is done
	wake          chan struct{} // wakes the coordinator
	typed         chan struct{} // closed once newReply is known
	typeOnce      sync.Once
	newReply      func() proto.Message

	mu        sync.Mutex
	pq        []queued // primary server messages [pBase, pCount)
	pBase     int
	pCount    int
	pDone     bool
	pErr      error
	closeSent bool
	msgs      int
	bytes     int
	abandoned string
	legsLeft  int
}

func newStreamShadow(c *shadowed, pctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, streamer grpc.Streamer, opts []grpc.CallOption, version string) *streamShadow {
	st := &streamShadow{
		c: c, pctx: pctx, desc: desc, cc: cc, streamer: streamer, opts: copyOptions(opts),
		doneCh: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		typed:  make(chan struct{}),
	}
	if plainCodec(opts) {
		st.wire, st.opts = true, wireOptions(opts)
	}
	if c.info.newReply != nil {
		st.newReply = c.info.newReply
		st.typeOnce.Do(func() { close(st.typed) })
	}
	st.addLeg(c.candidate, markerCandidate)
	st.legs[0].out.diff.capture = c.s.cfg.ShowValues
	if c.wantBaseline(version) {
		st.addLeg(c.baseline, markerBaseline)
	}
	st.legsLeft = len(st.legs)
	return st
}

func (st *streamShadow) addLeg(version, marker string) {
	ctx, cancel, rec := st.c.copyContext(version, marker)
	st.legs = append(st.legs, &streamLeg{version: version, ctx: ctx, cancel: cancel, rec: rec, signal: make(chan struct{}, 1)})
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (st *streamShadow) pokeLegs() {
	for _, l := range st.legs {
		poke(l.signal)
	}
}

// overLocked reports whether the buffer passed a bound.
func (st *streamShadow) overLocked() bool {
	cfg := st.c.s.cfg
	return st.msgs > cfg.StreamMaxMessages || st.bytes > cfg.StreamMaxBytes
}

// abandonLocked cancels every leg and frees the buffer; reason is counted
// at the end unless it is quiet.
func (st *streamShadow) abandonLocked(reason string) {
	if st.abandoned != "" {
		return
	}
	st.abandoned = reason
	st.abandonedFlag.Store(true)
	st.pq, st.msgs, st.bytes = nil, 0, 0
	for _, l := range st.legs {
		l.sendQ, l.q = nil, nil
		l.cancel()
	}
	poke(st.wake)
}

func (st *streamShadow) abandon(reason string) {
	st.mu.Lock()
	st.abandonLocked(reason)
	st.mu.Unlock()
}

// message returns m as a protocol buffer, or abandons the shadow (quietly:
// there is nothing to compare) when it is not one or the shadow is over.
func (st *streamShadow) message(m any) (proto.Message, bool) {
	if st.abandonedFlag.Load() {
		return nil, false
	}
	pm, ok := m.(proto.Message)
	if !ok {
		st.abandon(quiet)
	}
	return pm, ok
}

// copyOf returns what every leg sends for a client message: its wire
// form (data, as grpc marshalled it, or marshalled here once), or a clone
// when the stream uses a codec of its own or the message does not marshal.
func (st *streamShadow) copyOf(m any, data mem.BufferSlice) (queued, bool) {
	pm, ok := st.message(m)
	if !ok {
		return queued{}, false
	}
	if data != nil {
		return queued{send: &wireRequest{data: data}, size: data.Len()}, true
	}
	if st.wire {
		if b, err := (proto.MarshalOptions{}).Marshal(pm); err == nil {
			// Not pooled: the legs send it at times of their own.
			return queued{send: &wireRequest{data: mem.BufferSlice{mem.SliceBuffer(b)}}, size: len(b)}, true
		}
	}
	c := proto.Clone(pm)
	return queued{send: c, size: proto.Size(c)}, true
}

// snapshotOf returns a server message of the primary, which is only ever
// compared: its snapshot (taken once, for every leg), sized by its wire
// form; data is that form as it came, if the capture codec kept it.
func (st *streamShadow) snapshotOf(m any, data mem.BufferSlice, kept bool) (queued, bool) {
	pm, ok := st.message(m)
	if !ok {
		return queued{}, false
	}
	if kept {
		q := queued{snap: new(snapshot), size: data.Len()}
		q.snap.view(pm.ProtoReflect().Type(), data)
		return q, true
	}
	q := queued{snap: takeSnapshot(pm)}
	if q.snap.hasWire {
		q.size = len(q.snap.wire)
	} else {
		q.size = proto.Size(q.snap.msg)
	}
	return q, true
}

// clientMsg queues a client message the primary sent for every leg.
func (st *streamShadow) clientMsg(m any, data mem.BufferSlice) {
	q, ok := st.copyOf(m, data)
	if !ok {
		return
	}
	st.mu.Lock()
	if st.abandoned != "" || st.closeSent {
		st.mu.Unlock()
		return
	}
	for _, l := range st.legs {
		if !l.finished && !l.sendStopped {
			l.sendQ = append(l.sendQ, q)
			st.msgs++
			st.bytes += q.size
		}
	}
	if st.overLocked() {
		st.abandonLocked(DropStreamBuffer)
	}
	st.mu.Unlock()
	st.pokeLegs()
}

// closeSend marks the end of the client messages.
func (st *streamShadow) closeSend() {
	st.mu.Lock()
	st.closeSent = true
	st.mu.Unlock()
	st.pokeLegs()
}

// learnType records the reply type from the primary's first RecvMsg, for
// methods the registry does not know.
func (st *streamShadow) learnType(m any) {
	st.typeOnce.Do(func() {
		if pm, ok := m.(proto.Message); ok {
			t := pm.ProtoReflect().Type()
			st.newReply = func() proto.Message { return t.New().Interface() }
		} else {
			st.abandon(quiet)
		}
		close(st.typed)
	})
}

// serverMsg keeps a server message the primary received until every leg
// has compared its own message of the same index with it.
func (st *streamShadow) serverMsg(m any, data mem.BufferSlice, kept bool) {
	q, ok := st.snapshotOf(m, data, kept)
	if !ok {
		return
	}
	st.mu.Lock()
	if st.abandoned != "" {
		st.mu.Unlock()
		return
	}
	st.pCount++
	needed := false
	for _, l := range st.legs {
		if !l.finished || len(l.q) > 0 {
			needed = true
		}
	}
	if needed {
		st.pq = append(st.pq, q)
		st.msgs++
		st.bytes += q.size
		if st.overLocked() {
			st.abandonLocked(DropStreamBuffer)
		}
	} else {
		st.dropPrimaryLocked(len(st.pq))
		st.pBase = st.pCount
	}
	st.mu.Unlock()
	poke(st.wake)
}

func (st *streamShadow) dropPrimaryLocked(n int) {
	for i := range n {
		st.msgs--
		st.bytes -= st.pq[i].size
		st.pq[i] = queued{}
	}
	st.pq = st.pq[n:]
	st.pBase += n
}

// primaryDone records the end of the primary; it is idempotent.
func (st *streamShadow) primaryDone(err error) {
	st.mu.Lock()
	if st.pDone {
		st.mu.Unlock()
		return
	}
	st.pDone, st.pErr = true, err
	st.closeSent = true
	st.mu.Unlock()
	if err != nil {
		// A failed primary is compared by status code alone: its noise
		// copies are of no use, and their baseline may be failing too.
		for _, l := range st.legs[1:] {
			l.cancel()
		}
	}
	close(st.doneCh)
	st.pokeLegs()
	poke(st.wake)
}

// legMsg keeps a server message of a leg for comparison. It returns false
// when the leg need read no more: the primary succeeded (or its caller
// ended it) and the message is past its last, which pairs with none. That message is counted, for the
// count mismatch, and not kept, and the leg ends there, whatever more it
// would send.
func (st *streamShadow) legMsg(l *streamLeg, m proto.Message) bool {
	q := queued{m: m, size: proto.Size(m)}
	st.mu.Lock()
	if st.pDone && st.abandoned == "" && (st.pErr != nil || l.count >= st.pCount) {
		l.count++
		// A primary the server failed is judged by status codes alone: the
		// leg reads on, keeping nothing, for its own status. One the
		// caller ended has nothing to learn from the rest.
		readOn := st.pErr != nil && st.pctx.Err() == nil
		st.mu.Unlock()
		return readOn
	}
	if st.abandoned == "" {
		l.q = append(l.q, q)
		l.count++
		st.msgs++
		st.bytes += q.size
		if st.overLocked() {
			st.abandonLocked(DropStreamBuffer)
		}
	}
	st.mu.Unlock()
	poke(st.wake)
	return true
}

func (st *streamShadow) legFinished(l *streamLeg, err error, reached bool) {
	st.mu.Lock()
	l.finished = true
	l.out.err, l.out.reached, l.out.ok = err, reached, true
	st.stopSendingLocked(l)
	st.legsLeft--
	st.mu.Unlock()
	poke(l.signal)
	poke(st.wake)
}

func (st *streamShadow) stopSendingLocked(l *streamLeg) {
	l.sendStopped = true
	for _, q := range l.sendQ {
		st.msgs--
		st.bytes -= q.size
	}
	l.sendQ = nil
}

// run is the coordinator: it starts the legs, compares messages as pairs
// form, and judges the stream once the primary and every leg are done. No
// lock is held while it compares.
func (st *streamShadow) run() {
	defer st.c.release()
	var wg sync.WaitGroup
	for _, l := range st.legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.runLeg(l)
		}()
	}
	timer := time.NewTimer(st.c.budget)
	defer timer.Stop()
	timeout := timer.C
	primaryCtx := st.pctx.Done()
	stopped := st.c.s.stopCtx.Done()
	for {
		st.compareReady()
		if st.finished() {
			break
		}
		select {
		case <-st.wake:
		case <-primaryCtx:
			primaryCtx = nil
			st.primaryDone(status.FromContextError(st.pctx.Err()).Err())
		case <-timeout:
			timeout = nil
			st.mu.Lock()
			if !st.pDone {
				st.abandonLocked(DropTimeout)
			}
			st.mu.Unlock()
		case <-stopped:
			stopped = nil
			st.abandon(quiet)
		}
	}
	wg.Wait()
	for _, l := range st.legs {
		l.cancel()
	}
	st.compareReady() // the pairs that formed after the last look
	st.judge()
}

func (st *streamShadow) finished() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.legsLeft == 0 && (st.pDone || st.abandoned != "")
}

type pair struct {
	leg     *streamLeg
	primary *snapshot
	shadow  proto.Message
}

// compareReady compares every pair of messages that has formed.
func (st *streamShadow) compareReady() {
	st.mu.Lock()
	var work []pair
	for _, l := range st.legs {
		for l.matched < st.pCount && len(l.q) > 0 && l.matched >= st.pBase {
			work = append(work, pair{leg: l, primary: st.pq[l.matched-st.pBase].snap, shadow: l.q[0].m})
			st.msgs--
			st.bytes -= l.q[0].size
			l.q[0] = queued{}
			l.q = l.q[1:]
			l.matched++
		}
	}
	// Free the primary messages no leg needs any more.
	low := st.pCount
	for _, l := range st.legs {
		if !l.finished || len(l.q) > 0 {
			low = min(low, l.matched)
		}
	}
	if n := low - st.pBase; n > 0 {
		st.dropPrimaryLocked(min(n, len(st.pq)))
	}
	st.mu.Unlock()
	// The snapshots' buffers are left to the collector, not given back to
	// the pool: another leg may still compare with the same snapshot.
	for _, p := range work {
		p.primary.settle()
		st.c.compare(&p.leg.out.diff, p.primary, p.shadow)
	}
}

// runLeg opens one copy of the stream and runs it to its end.
func (st *streamShadow) runLeg(l *streamLeg) {
	cs, err := st.streamer(l.ctx, st.desc, st.cc, st.c.method, st.opts...)
	if err != nil {
		st.legFinished(l, err, l.rec.Version() != "")
		return
	}
	var sender sync.WaitGroup
	sender.Add(1)
	go func() {
		defer sender.Done()
		st.sendLoop(l, cs)
	}()
	var rerr error
	newReply := st.replyFactory(l.ctx)
	if newReply == nil {
		rerr = status.FromContextError(context.Canceled).Err()
	}
	for newReply != nil {
		m := newReply()
		if rerr = cs.RecvMsg(m); rerr != nil {
			if errors.Is(rerr, io.EOF) {
				rerr = nil
			}
			break
		}
		if !st.legMsg(l, m) || !st.desc.ServerStreams {
			break
		}
	}
	l.cancel() // the stream is over; this also ends a sender still waiting
	st.legFinished(l, rerr, true)
	sender.Wait()
}

// replyFactory returns the maker of reply messages once it is known, or nil
// if the leg ends (or the primary ends) first.
func (st *streamShadow) replyFactory(ctx context.Context) func() proto.Message {
	select {
	case <-st.typed:
		return st.newReply
	case <-ctx.Done():
		return nil
	case <-st.doneCh:
		select {
		case <-st.typed:
			return st.newReply
		default:
			return nil
		}
	}
}

// sendLoop feeds a leg the client messages in order, then closes its send
// side once the primary closed its own.
func (st *streamShadow) sendLoop(l *streamLeg, cs grpc.ClientStream) {
	defer func() {
		st.mu.Lock()
		st.stopSendingLocked(l)
		st.mu.Unlock()
	}()
	for {
		st.mu.Lock()
		if l.finished || st.abandoned != "" {
			st.mu.Unlock()
			return
		}
		if len(l.sendQ) > 0 {
			q := l.sendQ[0]
			l.sendQ[0] = queued{}
			l.sendQ = l.sendQ[1:]
			st.msgs--
			st.bytes -= q.size
			st.mu.Unlock()
			if err := cs.SendMsg(q.send); err != nil {
				return // the stream ended; its RecvMsg says why
			}
			continue
		}
		if st.closeSent {
			st.mu.Unlock()
			_ = cs.CloseSend()
			return
		}
		st.mu.Unlock()
		select {
		case <-l.signal:
		case <-l.ctx.Done():
			return
		}
	}
}

// judge records the outcome of the stream.
func (st *streamShadow) judge() {
	st.mu.Lock()
	reason, pErr, pCount := st.abandoned, st.pErr, st.pCount
	st.mu.Unlock()
	if reason != "" {
		if reason != quiet && st.c.s.stopCtx.Err() == nil {
			st.c.s.drop(st.c.ctx, reason)
		}
		return
	}
	for _, l := range st.legs {
		if l.out.err == nil && pErr == nil && l.count != pCount {
			l.out.diff.add(PathMessageCount, nil, countValue(pCount), countValue(l.count))
		}
	}
	var base *outcome
	if len(st.legs) > 1 {
		base = &st.legs[1].out
	}
	st.c.done(pErr, &st.legs[0].out, base)
}
