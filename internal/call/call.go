package call

import (
	"context"
	"sync/atomic"
)

// Role says why a call was made. Telemetry keeps the roles apart, so shadow
// copies and warm-ups never count as the service's own traffic.
type Role string

// The roles of a call.
const (
	Primary Role = "primary"
	Shadow  Role = "shadow"
	Warmup  Role = "warmup"
)

// Info is everything a caller told the picker about one call. The picker
// reads it; only the functions of this package write it, each on a copy.
type Info struct {
	Version   string // forced version
	Endpoint  string // forced endpoint address
	Role      Role   // "" means Primary
	Sticky    string // sticky key, when HasSticky
	HasSticky bool
	Record    *Record // filled in by the picker, if set
}

type infoKey struct{}

// From returns the call info of ctx, or nil.
func From(ctx context.Context) *Info {
	ci, _ := ctx.Value(infoKey{}).(*Info)
	return ci
}

// Values is a context carrying the call info of its calls, and a record
// for the picker to fill in, in one allocation: ForceVersion and the other
// setters make one, and a context type of another package may embed one to
// add values of its own in the same allocation (its Value answers its own
// keys and calls Values.Value for the rest).
type Values struct {
	context.Context
	info Info
	rec  Record
}

// Value returns the call info for its key and asks the parent context for
// every other key.
func (v *Values) Value(key any) any {
	if _, ok := key.(infoKey); ok {
		return &v.info
	}
	return v.Context.Value(key)
}

// Route makes v carry the call info of parent routed by r, as WithRoute
// does, with v's own record, which it returns.
func (v *Values) Route(parent context.Context, r Route) *Record {
	v.set(parent, func(ci *Info) {
		ci.Version, ci.Endpoint, ci.Record = r.Version, r.Endpoint, &v.rec
		if r.Role != "" {
			ci.Role = r.Role
		}
	})
	return &v.rec
}

// set makes v carry a copy of parent's Info changed by f.
func (v *Values) set(parent context.Context, f func(*Info)) {
	v.Context = parent
	if old := From(parent); old != nil {
		v.info = *old
	}
	f(&v.info)
}

// with returns ctx carrying a copy of its Info changed by f.
func with(ctx context.Context, f func(*Info)) context.Context {
	v := new(Values)
	v.set(ctx, f)
	return v
}

// ForceVersion returns ctx whose calls go to version.
func ForceVersion(ctx context.Context, version string) context.Context {
	return with(ctx, func(ci *Info) { ci.Version = version })
}

// ForceEndpoint returns ctx whose calls go to the endpoint addr.
func ForceEndpoint(ctx context.Context, addr string) context.Context {
	return with(ctx, func(ci *Info) { ci.Endpoint = addr })
}

// WithRole returns ctx whose calls carry role.
func WithRole(ctx context.Context, role Role) context.Context {
	return with(ctx, func(ci *Info) { ci.Role = role })
}

// WithStickyKey returns ctx whose calls carry the sticky key key.
func WithStickyKey(ctx context.Context, key string) context.Context {
	return with(ctx, func(ci *Info) { ci.Sticky, ci.HasSticky = key, true })
}

// ForcedVersion returns the version ctx forces, if any.
func ForcedVersion(ctx context.Context) (string, bool) {
	if ci := From(ctx); ci != nil && ci.Version != "" {
		return ci.Version, true
	}
	return "", false
}

// ForcedEndpoint returns the endpoint address ctx forces, if any.
func ForcedEndpoint(ctx context.Context) (string, bool) {
	if ci := From(ctx); ci != nil && ci.Endpoint != "" {
		return ci.Endpoint, true
	}
	return "", false
}

// RoleOf returns the role of the calls made with ctx: Primary unless
// WithRole or WithRoute said otherwise.
func RoleOf(ctx context.Context) Role {
	if ci := From(ctx); ci != nil && ci.Role != "" {
		return ci.Role
	}
	return Primary
}

// Record is filled in by the picker for the calls of a context that
// carries it: the version and endpoint of the last attempt. Interceptors
// read it once the call (or a stream's opening) is done.
type Record struct {
	version  atomic.Pointer[string]
	endpoint atomic.Pointer[string]
	fallback atomic.Bool
}

// WithRecord returns ctx whose calls fill in the returned record.
func WithRecord(ctx context.Context) (context.Context, *Record) {
	v := new(Values)
	v.set(ctx, func(ci *Info) { ci.Record = &v.rec })
	return v, &v.rec
}

// RecordFrom returns the record of ctx, or nil.
func RecordFrom(ctx context.Context) *Record {
	if ci := From(ctx); ci != nil {
		return ci.Record
	}
	return nil
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
// value where ForceVersion, ForceEndpoint, WithRole and WithRecord would
// add four. A sticky key ctx carries is kept.
func WithRoute(ctx context.Context, r Route) (context.Context, *Record) {
	v := new(Values)
	return v, v.Route(ctx, r)
}

// Version is the version the last attempt was sent to, "" before any pick.
func (r *Record) Version() string {
	if v := r.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Endpoint is the address of the endpoint the last attempt was sent to.
func (r *Record) Endpoint() string {
	if v := r.endpoint.Load(); v != nil {
		return *v
	}
	return ""
}

// Fallback reports whether the last attempt was sent to another version
// than the weights chose, because the chosen one had no READY endpoint.
func (r *Record) Fallback() bool { return r.fallback.Load() }

// Store records a pick: the version and the endpoint address. The picker
// passes pointers into its own immutable state, so storing allocates
// nothing.
func (r *Record) Store(version, endpoint *string) {
	r.version.Store(version)
	r.endpoint.Store(endpoint)
}

// StoreFallback records whether the pick fell back to another version.
func (r *Record) StoreFallback(fellBack bool) { r.fallback.Store(fellBack) }
