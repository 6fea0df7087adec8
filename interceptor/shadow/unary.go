package shadow

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ninelives-go/ninelives/internal/call"
)

// UnaryClientInterceptor returns the interceptor that shadows unary calls.
// The copy starts once the primary has returned, on its own goroutine: the
// primary waits for nothing but a copy of its request and reply.
func (s *Interceptor) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c := s.allow(ctx, method)
		if c == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		preq, ok1 := req.(proto.Message)
		prep, ok2 := reply.(proto.Message)
		if !ok1 || !ok2 {
			return invoker(ctx, method, req, reply, cc, opts...) // not protocol buffers: nothing to compare with
		}
		pctx, rec := call.Recorded(ctx, nil)
		err := invoker(pctx, method, req, reply, cc, opts...)
		version := rec.Version()
		if version == c.candidate {
			s.skipped.Add(1)
			return err
		}
		if !c.start() {
			return err
		}
		// The caller owns req and reply once we return: the copy works on
		// snapshots of them.
		reqSnap := takeSnapshot(preq)
		var primary *snapshot
		if err == nil {
			primary = takeSnapshot(prep)
		}
		go c.runUnary(cc, invoker, copyOptions(opts), reqSnap, prep.ProtoReflect().Type(), primary, err, version)
		return err
	}
}

// withRecord returns ctx with a call record, reusing one the caller set.
func withRecord(ctx context.Context) (context.Context, *call.Record) {
	if rec := call.RecordFrom(ctx); rec != nil {
		return ctx, rec
	}
	return call.WithRecord(ctx)
}

// runUnary makes the copies of one unary call and judges them. typ is the
// type of the primary's reply; p is the reply, nil when the primary
// failed.
func (c *shadowed) runUnary(cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts []grpc.CallOption, reqSnap *snapshot, typ protoreflect.MessageType, p *snapshot, primaryErr error, version string) {
	defer c.release()
	defer p.release()
	req := reqSnap.message()
	reqSnap.release()
	var base *outcome
	var wg sync.WaitGroup
	if primaryErr == nil && c.wantBaseline(version) { // a failed primary is compared by status code alone
		base = new(outcome)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.unaryCopy(base, cc, invoker, opts, req, typ, p, c.baseline, markerBaseline)
		}()
	}
	cand := new(outcome)
	cand.diff.capture = c.s.cfg.ShowValues
	c.unaryCopy(cand, cc, invoker, opts, req, typ, p, c.candidate, markerCandidate)
	wg.Wait()
	c.done(primaryErr, cand, base)
}

func (c *shadowed) unaryCopy(o *outcome, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts []grpc.CallOption, req proto.Message, typ protoreflect.MessageType, primary *snapshot, version, marker string) {
	ctx, cancel, rec := c.copyContext(version, marker)
	defer cancel()
	reply := typ.New().Interface()
	o.err = invoker(ctx, c.method, req, reply, cc, opts...)
	o.reached = rec.Version() != ""
	o.ok = true
	if o.err == nil && primary != nil {
		c.compare(&o.diff, primary, reply)
	}
}
