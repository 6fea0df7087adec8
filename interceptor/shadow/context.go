package shadow

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/internal/call"
)

// copyContext is the context of one copy to version: the primary's values
// and outgoing metadata (less the denied keys) with the shadow marker,
// forced to version with the shadow role, with its own call record, and a
// deadline and cancellation of its own in place of the primary's. Whoever
// makes the copy cancels it: at its deadline, at Close, and once it is
// over (a worker, with its timer; a stream's leg, with timers of its own).
//
// It is one allocation where detaching, marking, routing and a deadline
// would take a context each and a timer, and it cancels what is derived
// from it through AfterFunc, with no goroutine and no map: grpc derives a
// context from every call's. The context package's own key, the one a
// context it made answers with itself, goes unanswered (it would find the
// primary's), so that context.Cause of a copy is the copy's.
//
// marker is a context holding the marker alone, which answers exactly the
// key of the outgoing metadata without this package naming it: all a copy
// sends when its primary sends none; otherwise the primary's metadata with
// the marker is made once, on first need.
type copyContext struct {
	call.Values // over the primary's context
	c           *shadowed
	marker      context.Context
	mark        string
	once        sync.Once
	merged      context.Context
	deadline    time.Time

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	err   error
	after []func() // to call at cancel; starts in first
	first [1]func()
}

// newCopyContext returns the context of a copy to version starting at
// now, which the caller cancels.
func (c *shadowed) newCopyContext(version, marker string, now time.Time) (*copyContext, *call.Record) {
	x := &copyContext{c: c, marker: markerContext(marker), mark: marker, deadline: now.Add(c.budget)}
	x.after = x.first[:0]
	return x, x.Route(c.ctx, call.Route{Version: version, Role: call.Shadow})
}

// copyContext returns the context of a copy to version that ends at its
// deadline and at Close, with the function that ends it sooner: a
// stream's leg, which has no worker.
func (c *shadowed) copyContext(version, marker string) (context.Context, context.CancelFunc, *call.Record) {
	x, rec := c.newCopyContext(version, marker, time.Now())
	timer := time.AfterFunc(c.budget, func() { x.cancel(context.DeadlineExceeded) })
	stop := context.AfterFunc(c.s.stopCtx, func() { x.cancel(context.Canceled) })
	return x, func() {
		timer.Stop()
		stop()
		x.cancel(context.Canceled)
	}, rec
}

// The outgoing metadata of a copy whose primary has none: a context holding
// nothing else, built once.
var (
	candidateMarker = metadata.NewOutgoingContext(context.Background(), metadata.Pairs(Header, markerCandidate))
	baselineMarker  = metadata.NewOutgoingContext(context.Background(), metadata.Pairs(Header, markerBaseline))
)

func markerContext(marker string) context.Context {
	if marker == markerBaseline {
		return baselineMarker
	}
	return candidateMarker
}

// cancelProbe is a context of the context package's, never cancelled (it
// holds nothing to release), which tells its own key for cancellation from
// any other: it answers that key alone, with itself.
var cancelProbe, _ = context.WithCancel(context.Background())

// closed is the Done of a copy cancelled before anyone asked for it.
var closed = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// Deadline is the copy's own.
func (x *copyContext) Deadline() (time.Time, bool) { return x.deadline, true }

// Done is closed when the copy is cancelled.
func (x *copyContext) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.done != nil:
	case x.err != nil:
		x.done = closed
	default:
		x.done = make(chan struct{})
	}
	return x.done
}

// Err is why the copy was cancelled, or nil.
func (x *copyContext) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

// AfterFunc calls f once the copy is cancelled, on a goroutine of its own
// if it already is. The context package calls it for every context
// derived from this one. The function it returns stops nothing: f stays
// until the copy ends, when calling it on a derived context that ended
// first does nothing, which is all the context package needs.
func (x *copyContext) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err != nil {
		go f()
	} else {
		x.after = append(x.after, f)
	}
	return stopsNothing
}

func stopsNothing() bool { return false }

// cancel ends the copy with err, the first time.
func (x *copyContext) cancel(err error) {
	x.mu.Lock()
	if x.err != nil {
		x.mu.Unlock()
		return
	}
	x.err = err
	if x.done != nil {
		close(x.done)
	}
	after := x.after
	x.after = nil
	x.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// Value answers the outgoing metadata and the call info, not the context
// package's key for cancellation, and asks the primary's context for the
// rest.
func (x *copyContext) Value(key any) any {
	// That key is a *int: only such keys are worth asking the probe about
	// (a test of the copy's Cause fails should the context package change).
	if _, ok := key.(*int); ok && cancelProbe.Value(key) == cancelProbe {
		return nil
	}
	if m := x.marker.Value(key); m != nil { // the outgoing metadata
		if x.Values.Value(key) == nil {
			return m
		}
		x.once.Do(func() { x.merged = withMarker(x.c.ctx, x.mark, x.c.s.cfg.deny) })
		return x.merged.Value(key)
	}
	return x.Values.Value(key)
}

// withMarker returns ctx with the shadow marker in its outgoing metadata and
// the denied keys left out. When the metadata has neither a denied key nor
// a marker, the marker is appended, which copies nothing.
func withMarker(ctx context.Context, marker string, deny map[string]bool) context.Context {
	clean := metadata.ValueFromOutgoingContext(ctx, Header) == nil
	for k := range deny {
		if !clean {
			break
		}
		clean = metadata.ValueFromOutgoingContext(ctx, k) == nil
	}
	if clean {
		return metadata.AppendToOutgoingContext(ctx, Header, marker)
	}
	md, _ := metadata.FromOutgoingContext(ctx) // a copy of its own
	for k := range deny {
		delete(md, k)
	}
	md.Set(Header, marker)
	return metadata.NewOutgoingContext(ctx, md)
}
