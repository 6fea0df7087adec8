package shadow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ninelives-go/ninelives/internal/call"
)

// UnaryClientInterceptor returns the interceptor that shadows unary calls.
// The copy starts once the primary has returned, on a worker of the
// Interceptor's: the primary waits for nothing but a hand-over. A primary
// that uses the proto codec goes out with a codec that keeps references to
// the buffers grpc marshalled its request into and received its reply in,
// so the copies send and compare those very bytes; under a codec of the
// caller's, the request and reply are cloned or marshalled for the copies.
func (s *Interceptor) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		r, ok := s.admit(ctx, method)
		if !ok {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		preq, ok1 := req.(proto.Message)
		prep, ok2 := reply.(proto.Message)
		if !ok1 || !ok2 {
			return invoker(ctx, method, req, reply, cc, opts...) // not protocol buffers: nothing to compare with
		}
		u := unaryCalls.Get().(*unaryCall)
		p := unaryPrimary{cc: cc, invoker: invoker, opts: opts, req: preq, reply: prep, wire: plainCodec(opts)}
		pctx, rec := call.Recorded(ctx, nil)
		p.err = invoker(pctx, method, req, reply, cc, u.primaryOptions(s, &p)...)
		if p.version = rec.Version(); p.version == r.candidate {
			s.skipped.Add(1)
			u.recycle()
		} else {
			s.shadowUnary(ctx, &r, u, &p)
		}
		return p.err
	}
}

// unaryPrimary is a primary call that has returned, as its copies need it.
type unaryPrimary struct {
	cc      *grpc.ClientConn
	invoker grpc.UnaryInvoker
	opts    []grpc.CallOption
	req     proto.Message
	reply   proto.Message
	wire    bool // it uses the proto codec: the copies use wire forms
	err     error
	version string // where it went
}

// unaryCall is one shadowed unary call, from its primary's start to the
// judgement of its copies; pooled.
type unaryCall struct {
	unaryState
	reused
}

// unaryState is what a unaryCall forgets from one call to the next.
type unaryState struct {
	shadowed
	cc      *grpc.ClientConn
	invoker grpc.UnaryInvoker
	opts    []grpc.CallOption
	typ     protoreflect.MessageType // the reply's
	wire    bool                     // request and replies travel as wire forms
	req     any                      // what every leg sends: a *wireRequest or a message
	wreq    wireRequest
	primary snapshot // the primary's reply, when it succeeded
	pErr    error
	version string
	left    atomic.Int32 // legs not finished
	legs    [legsPerCall]unaryLeg
}

// reused is what a pooled unaryCall keeps from one call to the next.
type reused struct {
	capture  capture
	codecOpt grpc.CallOption   // forces capture
	popts    []grpc.CallOption // the primary's options, with codecOpt
	copts    []grpc.CallOption // the copies' options
}

var unaryCalls = sync.Pool{New: func() any {
	u := new(unaryCall)
	u.codecOpt = grpc.ForceCodecV2(&u.capture)
	return u
}}

// primaryOptions returns the options the primary is sent with: its own,
// and the capture codec when the copies use wire forms. grpc reads the
// options only during the call, so their slice is reused.
func (u *unaryCall) primaryOptions(s *Interceptor, p *unaryPrimary) []grpc.CallOption {
	if !p.wire {
		return p.opts
	}
	u.capture.codec = s.codec
	u.popts = append(append(u.popts[:0], p.opts...), u.codecOpt)
	return u.popts
}

// shadowUnary takes a slot and hands the call's copies to a worker, or
// counts the drop. The primary's request and reply are its caller's once
// it returns: the copies work on their wire forms, or clones.
func (s *Interceptor) shadowUnary(ctx context.Context, r *route, u *unaryCall, p *unaryPrimary) {
	switch s.slots.tryAcquire() {
	case acquireClosed:
		u.recycle()
		return
	case acquireFull:
		s.drop(ctx, DropConcurrency)
		u.recycle()
		return
	}
	u.init(s, ctx, r, p)
	if !s.workers.submit(&u.legs[0]) {
		s.drop(ctx, DropConcurrency)
		u.finish()
	}
}

func (u *unaryCall) init(s *Interceptor, ctx context.Context, r *route, p *unaryPrimary) {
	u.route, u.s, u.ctx = *r, s, ctx
	u.cc, u.invoker, u.typ, u.pErr, u.version = p.cc, p.invoker, p.reply.ProtoReflect().Type(), p.err, p.version
	u.wire = p.wire && (u.wreq.hold(u.capture.takeRequest()) || u.wreq.take(p.req))
	if u.wire {
		u.req, u.opts = &u.wreq, u.copyOptions(p.opts, failFastWire)
	} else {
		u.req, u.opts = proto.Clone(p.req), u.copyOptions(p.opts, failFast)
	}
	switch {
	case p.err != nil:
	case u.wire && u.capture.gotReply:
		u.primary.view(u.typ, u.capture.reply)
	default: // grpc did not decode it with the capture codec
		u.primary.take(p.reply)
	}
	u.legs[0] = unaryLeg{u: u, version: r.candidate, marker: markerCandidate}
	u.legs[0].out.diff.capture = s.cfg.ShowValues
}

// copyOptions is copyOptions into u's own slice, which grpc reads only
// during the copies' calls.
func (u *unaryCall) copyOptions(opts, tail []grpc.CallOption) []grpc.CallOption {
	if len(opts) == 0 {
		return tail // grpc reads call options and never writes them
	}
	u.copts = appendOptions(u.copts[:0], opts, tail)
	return u.copts
}

// finish gives back the buffers and the call to its pool, then the slot,
// so that once no copy is in flight every buffer is back too.
func (u *unaryCall) finish() {
	s := u.s
	u.recycle()
	s.slots.release()
}

// recycle gives back the buffers, and the call to its pool.
func (u *unaryCall) recycle() {
	u.wreq.release()
	u.primary.release()
	u.capture.release()
	for i := range u.legs {
		u.legs[i].reply.release()
	}
	clear(u.popts)
	clear(u.copts)
	u.unaryState = unaryState{}
	unaryCalls.Put(u)
}

// unaryLeg is one copy of a unary call: to the candidate, or to the
// baseline for noise.
type unaryLeg struct {
	u       *unaryCall
	version string
	marker  string
	out     outcome
	reply   wireReply
}

// run makes the copy on w, starting at now, and compares its reply. The
// candidate's leg first hands the baseline's to another worker, when there
// is one to make. It returns the call, judged, when this leg was its last.
func (l *unaryLeg) run(w *worker, now time.Time) *unaryCall {
	u := l.u
	if l == &u.legs[0] {
		u.primary.settle()
		u.left.Store(1)
		if u.pErr == nil && u.wantBaseline(u.version) { // a failed primary is compared by status code alone
			u.legs[1] = unaryLeg{u: u, version: u.baseline, marker: markerBaseline}
			u.left.Store(2)
			if !u.s.workers.submit(&u.legs[1]) {
				u.legs[1] = unaryLeg{}
				u.left.Store(1)
			}
		}
	}
	l.copy(w, now)
	if u.left.Add(-1) > 0 {
		return nil
	}
	var base *outcome
	if u.legs[1].u != nil {
		base = &u.legs[1].out
	}
	u.done(u.pErr, &u.legs[0].out, base)
	return u
}

// copy makes the copy on w, starting at now, which ends it at its
// deadline and at Close, and compares its reply with the primary's.
func (l *unaryLeg) copy(w *worker, now time.Time) {
	u := l.u
	ctx, rec := u.newCopyContext(l.version, l.marker, now)
	w.start(ctx, u.budget)
	defer w.end(ctx)
	if u.s.stopped.Load() {
		ctx.cancel(context.Canceled) // Close came before start
	}
	var reply any = &l.reply
	if !u.wire {
		reply = u.typ.New().Interface()
	}
	l.out.err = u.invoker(ctx, u.method, u.req, reply, u.cc, u.opts...)
	l.out.reached = rec.Version() != ""
	l.out.ok = true
	switch {
	case l.out.err != nil || u.pErr != nil:
	case u.wire:
		l.out.err = u.compareWire(&l.out.diff, &u.primary, l.reply.bytes())
	default:
		u.compare(&l.out.diff, &u.primary, reply.(proto.Message))
	}
}
