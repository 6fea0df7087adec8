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
	// Rescue is the second attempt interceptor/rescue sends to the
	// baseline after the candidate failed a primary call.
	Rescue Role = "rescue"
)

// Known reports whether r is one of the project's roles (telemetry keeps a
// series for each; a role of a caller's own is counted as "other").
func (r Role) Known() bool {
	switch r {
	case Primary, Shadow, Warmup, Rescue:
		return true
	}
	return false
}

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
// carries it: the version and endpoint of the last attempt, and how the
// version was chosen. Interceptors read it once the call (or a stream's
// opening) is done; every field is atomic, so a timer may read it while
// the call runs.
type Record struct {
	version  atomic.Pointer[string]
	endpoint atomic.Pointer[string]
	choice   atomic.Uint32
}

// Choice says how a pick chose the version of its attempt.
type Choice uint32

// The ways a pick chooses a version.
const (
	// ByWeight: the weights chose it (with the sticky key, if any).
	ByWeight Choice = iota
	// ByFallback: the weights chose a version with no READY endpoint and
	// the attempt went to another.
	ByFallback
	// ByForce: the call was forced to the version or endpoint
	// (ForceVersion, ForceEndpoint, or the override metadata key).
	ByForce
)

// WithRecord returns ctx whose calls fill in the returned record.
func WithRecord(ctx context.Context) (context.Context, *Record) {
	v := new(Values)
	v.set(ctx, func(ci *Info) { ci.Record = &v.rec })
	return v, &v.rec
}

// Recorded returns ctx with a call record: the one ctx carries, if any, so
// that an interceptor further out in the chain learns where the call went;
// else spare, or, when spare is nil, a record in the same allocation as
// the context (WithRecord's). spare lets a caller keep the record inside a
// struct of its own.
func Recorded(ctx context.Context, spare *Record) (context.Context, *Record) {
	if rec := RecordFrom(ctx); rec != nil {
		return ctx, rec
	}
	if spare == nil {
		return WithRecord(ctx)
	}
	return with(ctx, func(ci *Info) { ci.Record = spare }), spare
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

// Reroute returns ctx whose calls go to version with role, keeping the
// record and the sticky key ctx carries and forcing no endpoint: a second
// attempt of a call that an outer interceptor sees as the same call.
func Reroute(ctx context.Context, version string, role Role) context.Context {
	return with(ctx, func(ci *Info) { ci.Version, ci.Endpoint, ci.Role = version, "", role })
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
func (r *Record) Fallback() bool { return r.Choice() == ByFallback }

// Forced reports whether the last attempt was forced to its version or
// endpoint.
func (r *Record) Forced() bool { return r.Choice() == ByForce }

// Choice is how the last attempt's version was chosen.
func (r *Record) Choice() Choice { return Choice(r.choice.Load()) }

// Store records a pick: the version and the endpoint address. The picker
// passes pointers into its own immutable state, so storing allocates
// nothing.
func (r *Record) Store(version, endpoint *string) {
	r.version.Store(version)
	r.endpoint.Store(endpoint)
}

// StoreChoice records how the pick chose its version.
func (r *Record) StoreChoice(c Choice) { r.choice.Store(uint32(c)) }

// Reset forgets the last attempt, so that a record reused for another
// attempt says "" until that attempt is picked.
func (r *Record) Reset() {
	r.Store(nil, nil)
	r.StoreChoice(ByWeight)
}
