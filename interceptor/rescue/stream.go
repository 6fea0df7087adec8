package rescue

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// StreamClientInterceptor returns the interceptor that rescues streams of
// all three kinds until the server first answers: it keeps the client's
// messages (up to StreamMaxMessages and StreamMaxBytes) and, when the
// candidate fails the stream or does not answer within the hedge delay
// after the caller began to wait (its first RecvMsg), opens the stream on
// the baseline and replays them. Once a server message or header has
// reached the caller, the stream is the server's and is never rescued.
func (s *Interceptor) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		w, learn := s.allow(ctx, method)
		if w == nil {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if learn == nil || err != nil {
				return cs, err
			}
			return &timedStream{ClientStream: cs, clock: s.cfg.Clock, learn: learn}, nil
		}
		st := &stream{w: w, desc: desc, cc: cc, method: method, streamer: streamer, opts: opts}
		st.idle.L = &st.mu
		cs, err := streamer(w.actx, desc, cc, method, opts...)
		if err == nil {
			st.cur = cs
			return st, nil
		}
		w.release()
		if !w.end(err) {
			return nil, err
		}
		if err := st.open(); err != nil {
			return nil, err
		}
		return st, nil
	}
}

// stream is a watched stream as the caller sees it. SendMsg may run beside
// RecvMsg (one goroutine each, as gRPC allows); they share the state
// under mu, which is held across a gRPC call only to open the rescue and
// replay the kept messages into it.
type stream struct {
	w        *watch
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption

	mu        sync.Mutex
	idle      sync.Cond // signalled when a SendMsg ends; L is &mu
	cur       grpc.ClientStream
	sent      []any // kept for a replay while not committed
	size      int
	closed    bool      // CloseSend was called
	sending   bool      // a SendMsg runs on cur
	armed     bool      // the first RecvMsg began
	committed bool      // never rescued (again)
	rescuing  bool      // cur is the rescue, its first answer to come
	since     time.Time // when the rescue was sent
}

var _ grpc.ClientStream = (*stream)(nil)

func (s *stream) SendMsg(m any) error {
	s.mu.Lock()
	if s.committed {
		cs := s.cur
		s.mu.Unlock()
		return cs.SendMsg(m)
	}
	s.keepLocked(m)
	if !s.committed && s.w.pending() {
		s.mu.Unlock()
		return nil // the first attempt is cancelled: the rescue sends m
	}
	cs := s.cur
	s.sending = true
	s.mu.Unlock()
	err := cs.SendMsg(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sending = false
	s.idle.Broadcast()
	switch {
	case err == nil:
	case !s.committed && (errors.Is(err, io.EOF) || s.w.pending()):
		return nil // the stream broke or was hedged: RecvMsg tells how, and a rescue replays m
	default:
		s.commitLocked()
	}
	return err
}

// keepLocked keeps m for a replay, or commits the stream when the buffer
// cannot take it.
func (s *stream) keepLocked(m any) {
	size := 0
	if pm, ok := m.(proto.Message); ok {
		size = proto.Size(pm)
	}
	cfg := s.w.s.cfg
	if len(s.sent) >= cfg.StreamMaxMessages || s.size+size > cfg.StreamMaxBytes {
		s.commitLocked()
		return
	}
	s.sent = append(s.sent, m)
	s.size += size
}

// commitLocked gives up the rescue of the stream.
func (s *stream) commitLocked() {
	if !s.committed {
		s.committed, s.sent = true, nil
		s.w.settle()
	}
}

func (s *stream) CloseSend() error {
	s.mu.Lock()
	s.closed = true
	if !s.committed && s.w.pending() {
		s.mu.Unlock()
		return nil // the rescue closes its side after the replay
	}
	cs := s.cur
	s.mu.Unlock()
	return cs.CloseSend()
}

func (s *stream) RecvMsg(m any) error {
	s.mu.Lock()
	cs, watching, rescuing := s.cur, !s.committed, s.rescuing
	if watching && !s.armed {
		s.w.arm() // under mu: a SendMsg may commit, and stop the timer, meanwhile
	}
	s.armed, s.rescuing = true, false
	s.mu.Unlock()
	err := cs.RecvMsg(m)
	if rescuing {
		s.w.rescued(okEOF(err), s.since)
	}
	if !watching {
		s.ended(err)
		return err
	}
	if err != nil && !errors.Is(err, io.EOF) && s.w.end(err) {
		if rerr := s.rescue(err); rerr != nil {
			return rerr
		}
		return s.RecvMsg(m)
	}
	if err == nil || errors.Is(err, io.EOF) {
		s.w.end(nil)
	}
	s.mu.Lock()
	s.commitLocked()
	s.mu.Unlock()
	s.ended(err)
	return err
}

// okEOF is err, with io.EOF (a stream that ended well) as nil.
func okEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// ended releases the first attempt's context once the stream is over: it
// failed or ended, or it sends one reply and that came.
func (s *stream) ended(err error) {
	if err != nil || !s.desc.ServerStreams {
		s.w.release()
	}
}

// rescue replaces the first attempt, failed with err, by the rescue on the
// baseline, with the kept messages replayed. It waits for a SendMsg running
// on the first attempt, which its cancellation ends. It returns the error
// the caller gets when there is no rescue: the rescue's own failure to
// open, or err when a SendMsg committed the stream meanwhile.
func (s *stream) rescue(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.release()
	for s.sending {
		s.idle.Wait()
	}
	if s.committed {
		s.w.s.budget.refund()
		return err
	}
	return s.openLocked()
}

// open opens the rescue for a stream whose first attempt failed to open.
func (s *stream) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openLocked()
}

func (s *stream) openLocked() error {
	s.since = s.w.s.cfg.Clock.Now()
	cs, err := s.streamer(s.w.rescueContext(), s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		s.w.rescued(err, s.since)
		return err
	}
	for _, m := range s.sent {
		if cs.SendMsg(m) != nil {
			break // the rescue broke: its RecvMsg tells how
		}
	}
	if s.closed {
		_ = cs.CloseSend()
	}
	s.cur, s.rescuing = cs, true
	s.commitLocked()
	return nil
}

// Header returns the header of the current attempt; headers from a server
// commit the stream to it.
func (s *stream) Header() (metadata.MD, error) {
	s.mu.Lock()
	cs := s.cur
	s.mu.Unlock()
	md, err := cs.Header()
	if md != nil {
		s.mu.Lock()
		if s.cur == cs {
			s.commitLocked()
		}
		s.mu.Unlock()
	}
	return md, err
}

func (s *stream) Trailer() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Trailer()
}

// Context returns the current attempt's context and, as with gRPC's own
// retries, commits the stream.
func (s *stream) Context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitLocked()
	return s.cur.Context()
}

// timedStream times a baseline's stream, from the caller's first RecvMsg
// to the first answer, for the hedge delay of its method.
type timedStream struct {
	grpc.ClientStream
	clock Clock
	learn *estimator
	done  bool
}

func (t *timedStream) RecvMsg(m any) error {
	if t.done {
		return t.ClientStream.RecvMsg(m)
	}
	start := t.clock.Now()
	err := t.ClientStream.RecvMsg(m)
	t.done = true
	if okEOF(err) == nil {
		t.learn.observe(t.clock.Now().Sub(start))
	}
	return err
}
