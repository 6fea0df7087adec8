// Package call carries what the ninelives packages tell the balancer's
// picker about one call: its role, a forced version or endpoint, a sticky
// key, and the record the picker fills in with where the call went. It
// lives in the context under one key, so a pick makes a single lookup.
//
// The balancer package re-exports what users set (ForceVersion,
// ForceEndpoint, WithStickyKey, the roles); the interceptors use the rest:
//
//	ctx, rec := call.WithRoute(ctx, call.Route{Version: "canary", Role: call.Shadow})
//	err := invoker(ctx, method, req, reply, cc, opts...)
//	served := rec.Version() // "" when the call never reached a server
//
// It imports nothing of ninelives, so the balancer and the interceptors
// can both import it.
package call
