package shadow

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/internal/call"
)

// copyContext returns the context of one copy to version: the primary's
// values and outgoing metadata (less the denied keys) with the shadow
// marker, forced to version with the shadow role, its own call record and
// deadline, and cancelled by Close, not by the primary.
func (c *shadowed) copyContext(version, marker string) (context.Context, context.CancelFunc, *call.Record) {
	return c.newCopyContext(c.s.stopCtx, version, marker)
}

// newCopyContext is copyContext cancelled at Close through stop, a context
// made by context.WithCancel under one with no values; with a nil stop,
// the caller cancels it at Close itself (as a worker does: it spares the
// copy's deadline the registration with a parent, and its removal).
func (c *shadowed) newCopyContext(stop context.Context, version, marker string) (context.Context, context.CancelFunc, *call.Record) {
	v := &copyValues{stop: stop, marker: markerContext(marker), c: c, mark: marker}
	rec := v.Route(c.ctx, call.Route{Version: version, Role: call.Shadow})
	ctx, cancel := context.WithTimeout(v, c.budget)
	return ctx, cancel, rec
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

// copyValues is the parent of a copy's deadline, in one allocation where
// detaching, marking and routing would take a context each. It has the
// primary's values, the copy's own call info, the marker in the outgoing
// metadata, and the cancellation of Close (or none) in place of the
// primary's.
//
// Two of its parts are contexts that hold a single value each, so they
// answer exactly one key without this package naming it. stop, made by
// context.WithCancel under a context with no values, answers the context
// package's own key for its cancellation, and the copy's deadline
// registers with it as with any cancellable parent (without that key it
// would still be cancelled, by a goroutine of the context package watching
// this one). With no stop, Done is nil and the context package asks for
// that key no more. marker answers the key of the outgoing metadata, with
// the marker alone, which is all a copy sends when its primary sends none;
// otherwise the primary's metadata with the marker is made once, on first
// need.
type copyValues struct {
	call.Values // over the primary's context
	stop        context.Context
	marker      context.Context
	c           *shadowed
	mark        string
	once        sync.Once
	merged      context.Context
}

// Deadline is none: the copy's own is set on top.
func (v *copyValues) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is Close's, or nil.
func (v *copyValues) Done() <-chan struct{} {
	if v.stop == nil {
		return nil
	}
	return v.stop.Done()
}

// Err is Close's.
func (v *copyValues) Err() error {
	if v.stop == nil {
		return nil
	}
	return v.stop.Err()
}

// Value answers Close's cancellation, the outgoing metadata and the call
// info, and asks the primary's context for the rest.
func (v *copyValues) Value(key any) any {
	if v.stop != nil {
		if x := v.stop.Value(key); x != nil {
			return x
		}
	}
	if x := v.marker.Value(key); x != nil { // the outgoing metadata
		if v.Values.Value(key) == nil {
			return x
		}
		v.once.Do(func() { v.merged = withMarker(v.c.ctx, v.mark, v.c.s.cfg.deny) })
		return v.merged.Value(key)
	}
	return v.Values.Value(key)
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
