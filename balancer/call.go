package balancer

import (
	"context"
	"time"

	"github.com/ninelives-go/ninelives/internal/call"
)

// Role says why a call was made. Telemetry keeps the roles apart, so shadow
// copies and warm-ups never count as the service's own traffic.
type Role = call.Role

// The roles of a call: the service's own calls, the shadow copies the
// interceptor/shadow package makes, the calls of interceptor/warmup, and
// the second attempts interceptor/rescue sends to the baseline when the
// candidate failed a call.
const (
	RolePrimary = call.Primary
	RoleShadow  = call.Shadow
	RoleWarmup  = call.Warmup
	RoleRescue  = call.Rescue
)

// ForceVersion makes every call made with the returned context go to version,
// whatever the weights. If the version has no READY endpoint the call fails
// fast with Unavailable naming it (while its endpoints are still making their
// first connection the call waits for them); it never falls back to another
// version.
func ForceVersion(ctx context.Context, version string) context.Context {
	return call.ForceVersion(ctx, version)
}

// ForceEndpoint makes every call made with the returned context go to the
// endpoint with the address addr (as the resolver gave it, such as
// "127.0.0.1:7001"). If that endpoint is not READY the call fails fast with
// Unavailable naming it.
func ForceEndpoint(ctx context.Context, addr string) context.Context {
	return call.ForceEndpoint(ctx, addr)
}

// WithStickyKey gives the calls a sticky key directly, as an alternative to the
// metadata key named by the stickyKey setting. It is the cheaper path: the
// picker need not read the outgoing metadata.
func WithStickyKey(ctx context.Context, key string) context.Context {
	return call.WithStickyKey(ctx, key)
}

// Attempt describes one finished attempt of a call, as an Observer receives it.
type Attempt struct {
	Version string
	Role    Role
	// Method is the full method name, "/package.Service/Method".
	Method string
	// Err is the attempt's error, nil on success.
	Err error
	// Latency runs from the pick to the end of the attempt; for a stream, to
	// the end of the stream.
	Latency time.Duration
	// Unanswered is set when the attempt failed with Unavailable before the
	// server sent anything back: the connection was lost or refused, as
	// when a server dies with calls in flight. A status the server sent,
	// Unavailable included, is an answer.
	Unanswered bool
}

// Observer is told of every finished attempt and every fallback of the clients
// a Split steers. Its methods are called on the RPC's goroutines, concurrently,
// and must be quick and must not block; telemetry implements it.
type Observer interface {
	// ObserveAttempt is called once per attempt that reached a server or
	// failed for good before opening a stream; attempts that grpc retries
	// at once, having found no stream to open (an empty DoneInfo, or
	// Unavailable with nothing sent), are not reported.
	ObserveAttempt(a *Attempt)
	// ObserveFallback is called for each pick whose chosen version had no
	// READY endpoint, so that the pick went to another version.
	ObserveFallback(chosen string)
}

// AddObserver registers o for every client the split steers and returns a
// function that removes it.
func (s *Split) AddObserver(o Observer) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []Observer
	if cur := s.observers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	s.observers.Store(&next)
	return func() { s.removeObserver(o) }
}

// removeObserver removes the first registration of o.
func (s *Split) removeObserver(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.observers.Load()
	if cur == nil {
		return
	}
	var next []Observer
	removed := false
	for _, x := range *cur {
		if !removed && x == o {
			removed = true
			continue
		}
		next = append(next, x)
	}
	if len(next) == 0 {
		s.observers.Store(nil) // the picker's common path tests for nil
		return
	}
	s.observers.Store(&next)
}
