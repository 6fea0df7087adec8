package telemetry

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
)

// methodSlot holds the entries of one method: a short list, searched
// linearly, of its (version, role) pairs. Keying the lookup by method alone
// hashes one string per attempt; the versions and roles are few and their
// strings compare by pointer first.
type methodSlot struct {
	name    string // the rpc.method value
	entries atomic.Pointer[[]*attemptEntry]
}

// attemptEntry holds the series of one (version, role, method), one per
// status code, made on first use, and the latencies of its (version, role).
type attemptEntry struct {
	version string
	role    balancer.Role
	slot    *methodSlot
	agg     *roleAgg
	codes   [maxCode + 1]atomic.Pointer[series]
}

// otherRole is the role recorded for attempts whose role is none of
// primary, shadow, warmup and rescue, so that roles a caller invents
// cannot make the series unbounded.
const otherRole balancer.Role = "other"

// ObserveAttempt records one finished attempt: one call in ninelives.rpc.calls
// and its latency in ninelives.rpc.duration. It implements balancer.Observer.
func (m *Metrics) ObserveAttempt(a *balancer.Attempt) {
	code := status.Code(a.Err)
	if code > maxCode {
		code = codes.Unknown
	}
	role := a.Role
	if !role.Known() {
		role = otherRole // a role of a caller's own keeps the series bounded
	}
	e := m.attemptEntry(a.Version, role, a.Method)
	s := e.codes[code].Load()
	if s == nil {
		s = m.newSeries(e, code)
	}
	ns := max(int64(a.Latency), 0)
	s.record(ns, m.boundsNs)
	e.agg.record(ns, max(int(m.sources.Load()), 1))
	if a.Unanswered && role == balancer.RolePrimary {
		// By method too, so that a selector on rpc_method (promsource)
		// takes the same calls from this counter as from the calls.
		name := e.slot.name
		m.unanswered.add(&m.mu, methodKey{a.Version, name}, a.Version, "", func() attribute.Set {
			return attribute.NewSet(AttrVersion.String(a.Version), AttrMethod.String(name))
		})
	}
}

// ObserveFallback counts one fallback against the chosen version. It
// implements balancer.Observer.
func (m *Metrics) ObserveFallback(chosen string) {
	m.fallbacks.add(&m.mu, chosen, chosen, "", func() attribute.Set {
		return attribute.NewSet(AttrVersion.String(chosen))
	})
}

// RecordShadowComparison counts one comparison of a shadow reply from version
// with its primary reply. method is the full method name; result is one of
// ShadowMatch, ShadowMismatch, ShadowNoise, ShadowError, ShadowPrimaryError.
func (m *Metrics) RecordShadowComparison(_ context.Context, version, method, result string) {
	name := m.slot(method).name
	m.comparisons.add(&m.mu, shadowKey{version, name, result}, version, result, func() attribute.Set {
		return attribute.NewSet(AttrVersion.String(version), AttrMethod.String(name), AttrShadowResult.String(result))
	})
}

// RecordShadowDropped counts one shadow copy that was dropped for reason (such
// as "concurrency" or "stream_buffer").
func (m *Metrics) RecordShadowDropped(_ context.Context, reason string) {
	m.dropped.add(&m.mu, reason, "", reason, func() attribute.Set {
		return attribute.NewSet(AttrShadowReason.String(reason))
	})
}

// RecordDecision counts one decision of the sentinel with the given action
// (such as "promote", "rollback" or "hold").
func (m *Metrics) RecordDecision(_ context.Context, action string) {
	m.decisions.add(&m.mu, action, "", action, func() attribute.Set {
		return attribute.NewSet(AttrAction.String(action))
	})
}

// attemptEntry returns the entry of (version, role, method), the method
// collapsed into otherMethod past the cap.
func (m *Metrics) attemptEntry(version string, role balancer.Role, method string) *attemptEntry {
	slot := m.slot(method)
	if e := findEntry(slot.entries.Load(), version, role); e != nil {
		return e
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	es := slot.entries.Load()
	if e := findEntry(es, version, role); e != nil {
		return e
	}
	var next []*attemptEntry
	if es != nil {
		next = append(next, *es...)
	}
	e := &attemptEntry{version: version, role: role, slot: slot, agg: m.roleAggLocked(version, role)}
	next = append(next, e)
	slot.entries.Store(&next)
	return e
}

func findEntry(es *[]*attemptEntry, version string, role balancer.Role) *attemptEntry {
	if es == nil {
		return nil
	}
	for _, e := range *es {
		if e.version == version && e.role == role {
			return e
		}
	}
	return nil
}

// roleAggLocked returns the latencies of (version, role), made on first use.
func (m *Metrics) roleAggLocked(version string, role balancer.Role) *roleAgg {
	k := roleKey{version, role}
	r := m.roleByKey[k]
	if r == nil {
		r = newRoleAgg(version, role, m.roles.len())
		m.roleByKey[k] = r
		m.roles.appendLocked(r)
	}
	return r
}

// newSeries makes the series of one status code of the entry.
func (m *Metrics) newSeries(e *attemptEntry, code codes.Code) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := e.codes[code].Load(); s != nil {
		return s
	}
	s := &series{entry: e, code: code, id: m.series.len(), buckets: make([]atomic.Uint64, len(m.boundsNs)+1)}
	s.lo.Store(int64(^uint64(0) >> 1))
	s.hi.Store(-1)
	m.series.appendLocked(s)
	e.codes[code].Store(s)
	return s
}

// slot returns the slot of method, or the otherMethod slot once the cap of
// distinct methods is reached and method is not one of them.
func (m *Metrics) slot(method string) *methodSlot {
	if s, ok := m.methods.load(method); ok {
		return s
	}
	if !m.methodsFull.Load() {
		if s := m.addMethod(method); s != nil {
			return s
		}
	}
	if !m.warned.Load() && m.warned.CompareAndSwap(false, true) {
		otel.Handle(fmt.Errorf("ninelives: telemetry records calls of more than %d methods, the cap: %s and further methods are recorded as rpc.method %q; raise the cap with WithMethodCap", m.methodCap, trimMethod(method), otherMethod))
	}
	return m.other
}

// addMethod returns the slot of method, made if the cap allows, or nil.
func (m *Metrics) addMethod(method string) *methodSlot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.methods.loadLocked(method); ok {
		return s
	}
	if m.nMethods >= m.methodCap {
		m.methodsFull.Store(true)
		return nil
	}
	s := &methodSlot{name: trimMethod(method)}
	m.methods.storeLocked(method, s)
	if m.nMethods++; m.nMethods >= m.methodCap {
		// No method is added any more: the read map takes them all, so
		// that a known method is never taken for one past the cap.
		m.methods.promoteLocked()
		m.methodsFull.Store(true)
	}
	return s
}

// trimMethod turns grpc's "/pkg.Service/Method" into "pkg.Service/Method",
// the form of rpc.method in the OpenTelemetry conventions and of grpc.method
// in grpc-go's own metrics.
func trimMethod(m string) string { return strings.TrimPrefix(m, "/") }
