package balancer

import (
	"context"
	"sync/atomic"
	"time"
)

// Role says why a call was made. Telemetry keeps the roles apart, so shadow
// copies and warm-ups never count as the service's own traffic.
type Role string

// The roles of a call.
const (
	RolePrimary Role = "primary"
	RoleShadow  Role = "shadow"
	RoleWarmup  Role = "warmup"
)

// callInfo is everything a caller told the picker about one call. It lives in
// the context under one key, so Pick makes a single context lookup.
type callInfo struct {
	version   string // forced version
	endpoint  string // forced endpoint address
	role      Role
	sticky    string
	hasSticky bool
	record    *CallRecord
}

type callInfoKey struct{}

func callInfoFrom(ctx context.Context) *callInfo {
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return ci
}

// with returns ctx carrying a copy of its callInfo changed by f.
func with(ctx context.Context, f func(*callInfo)) context.Context {
	var ci callInfo
	if old := callInfoFrom(ctx); old != nil {
		ci = *old
	}
	f(&ci)
	return context.WithValue(ctx, callInfoKey{}, &ci)
}

// ForceVersion makes every call made with the returned context go to version,
// whatever the weights. If the version has no READY endpoint the call fails
// fast with Unavailable naming it (while its endpoints are still making their
// first connection the call waits for them); it never falls back to another
// version.
func ForceVersion(ctx context.Context, version string) context.Context {
	return with(ctx, func(ci *callInfo) { ci.version = version })
}

// ForceEndpoint makes every call made with the returned context go to the
// endpoint with the address addr (as the resolver gave it, such as
// "127.0.0.1:7001"). If that endpoint is not READY the call fails fast with
// Unavailable naming it.
func ForceEndpoint(ctx context.Context, addr string) context.Context {
	return with(ctx, func(ci *callInfo) { ci.endpoint = addr })
}

// WithRole marks the calls made with the returned context with role.
func WithRole(ctx context.Context, role Role) context.Context {
	return with(ctx, func(ci *callInfo) { ci.role = role })
}

// WithStickyKey gives the calls a sticky key directly, as an alternative to the
// metadata key named by the stickyKey setting. It is the cheaper path: the
// picker need not read the outgoing metadata.
func WithStickyKey(ctx context.Context, key string) context.Context {
	return with(ctx, func(ci *callInfo) { ci.sticky, ci.hasSticky = key, true })
}

// ForcedVersion returns the version a context forces, if any.
func ForcedVersion(ctx context.Context) (string, bool) {
	if ci := callInfoFrom(ctx); ci != nil && ci.version != "" {
		return ci.version, true
	}
	return "", false
}

// ForcedEndpoint returns the endpoint address a context forces, if any.
func ForcedEndpoint(ctx context.Context) (string, bool) {
	if ci := callInfoFrom(ctx); ci != nil && ci.endpoint != "" {
		return ci.endpoint, true
	}
	return "", false
}

// RoleFromContext returns the role of calls made with ctx: RolePrimary unless
// WithRole said otherwise.
func RoleFromContext(ctx context.Context) Role {
	if ci := callInfoFrom(ctx); ci != nil && ci.role != "" {
		return ci.role
	}
	return RolePrimary
}

// CallRecord is filled in by the picker for calls made with the context that
// WithCallRecord returned: the version and endpoint of the last attempt.
// Interceptors read it once the call (or the stream's first message) is done.
type CallRecord struct {
	version  atomic.Pointer[string]
	endpoint atomic.Pointer[string]
	fallback atomic.Bool
}

// WithCallRecord returns a context whose calls fill in the returned record.
func WithCallRecord(ctx context.Context) (context.Context, *CallRecord) {
	rec := new(CallRecord)
	return with(ctx, func(ci *callInfo) { ci.record = rec }), rec
}

// Route is where a call must go and why, for WithRoute.
type Route struct {
	// Version is the version to force; "" forces none.
	Version string
	// Endpoint is the endpoint address to force; "" forces none.
	Endpoint string
	// Role is the calls' role; "" keeps the role ctx has.
	Role Role
}

// WithRoute replaces the forced version and endpoint of ctx with r's, sets
// r's role and gives the calls a fresh record, in one step: one context
// value where ForceVersion, ForceEndpoint, WithRole and WithCallRecord
// would add four. A sticky key ctx carries is kept. Interceptors that copy
// calls use it on every copy.
func WithRoute(ctx context.Context, r Route) (context.Context, *CallRecord) {
	rec := new(CallRecord)
	return with(ctx, func(ci *callInfo) {
		ci.version, ci.endpoint, ci.record = r.Version, r.Endpoint, rec
		if r.Role != "" {
			ci.role = r.Role
		}
	}), rec
}

// CallRecordFrom returns the record of ctx, or nil.
func CallRecordFrom(ctx context.Context) *CallRecord {
	if ci := callInfoFrom(ctx); ci != nil {
		return ci.record
	}
	return nil
}

// Version is the version the last attempt was sent to, "" before any pick.
func (r *CallRecord) Version() string {
	if v := r.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Endpoint is the address of the endpoint the last attempt was sent to.
func (r *CallRecord) Endpoint() string {
	if v := r.endpoint.Load(); v != nil {
		return *v
	}
	return ""
}

// Fallback reports whether the last attempt was sent to another version than
// the weights chose, because the chosen one had no READY endpoint.
func (r *CallRecord) Fallback() bool { return r.fallback.Load() }

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
}

// Observer is told of every finished attempt and every fallback of the clients
// a Split steers. Its methods are called on the RPC's goroutines, concurrently,
// and must be quick and must not block; telemetry implements it.
type Observer interface {
	// ObserveAttempt is called once per attempt that reached a server.
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
	return func() {
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
}
