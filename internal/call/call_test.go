package call

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEachSetterChangesACopy(t *testing.T) {
	base := context.Background()
	assert.Nil(t, From(base))
	assert.Equal(t, Primary, RoleOf(base), "no info is a primary call")

	ctx := WithStickyKey(WithRole(ForceEndpoint(ForceVersion(base, "canary"), "10.0.0.1:1"), Warmup), "user-1")
	v, ok := ForcedVersion(ctx)
	assert.True(t, ok)
	assert.Equal(t, "canary", v)
	addr, _ := ForcedEndpoint(ctx)
	assert.Equal(t, "10.0.0.1:1", addr)
	assert.Equal(t, Warmup, RoleOf(ctx))
	assert.Equal(t, Info{Version: "canary", Endpoint: "10.0.0.1:1", Role: Warmup, Sticky: "user-1", HasSticky: true}, *From(ctx))

	plain := ForceVersion(base, "stable")
	_, ok = ForcedEndpoint(plain)
	assert.False(t, ok, "a parent's setters do not reach a sibling")
	assert.Nil(t, RecordFrom(plain))
}

func TestWithRouteReplacesTheTargetAndKeepsTheStickyKey(t *testing.T) {
	base := WithStickyKey(ForceEndpoint(WithRole(context.Background(), Warmup), "10.0.0.1:1"), "user-1")
	ctx, rec := WithRoute(base, Route{Version: "canary", Role: Shadow})
	require.Same(t, rec, RecordFrom(ctx))
	assert.Equal(t, Info{Version: "canary", Role: Shadow, Sticky: "user-1", HasSticky: true, Record: rec}, *From(ctx))
	assert.Equal(t, Warmup, RoleOf(base), "the parent is unchanged")

	kept, other := WithRoute(base, Route{Endpoint: "10.0.0.2:1"})
	assert.Equal(t, Warmup, RoleOf(kept), "an empty Role keeps the context's")
	assert.NotSame(t, rec, other, "each route has a record of its own")
}

func TestRecord(t *testing.T) {
	_, rec := WithRecord(context.Background())
	assert.Empty(t, rec.Version())
	assert.Empty(t, rec.Endpoint())
	v, e := "canary", "10.0.0.1:1"
	rec.Store(&v, &e)
	rec.StoreChoice(ByFallback)
	assert.Equal(t, "canary", rec.Version())
	assert.Equal(t, "10.0.0.1:1", rec.Endpoint())
	assert.True(t, rec.Fallback())
	assert.False(t, rec.Forced())
	rec.StoreChoice(ByForce)
	assert.True(t, rec.Forced())
	assert.False(t, rec.Fallback())
	rec.Reset()
	assert.Empty(t, rec.Version())
	assert.Empty(t, rec.Endpoint())
	assert.Equal(t, ByWeight, rec.Choice())
}

func TestRecordedReusesTheRecordOfTheContext(t *testing.T) {
	ctx, rec := Recorded(context.Background(), nil)
	require.NotNil(t, rec)
	same, again := Recorded(ctx, new(Record))
	assert.Same(t, rec, again, "the spare is not used")
	assert.Equal(t, ctx, same, "no new context value when the record is there")
	var spare Record
	_, got := Recorded(context.Background(), &spare)
	assert.Same(t, &spare, got)
}

func TestRerouteKeepsTheRecordAndTheStickyKey(t *testing.T) {
	base, rec := WithRecord(WithStickyKey(ForceEndpoint(context.Background(), "10.0.0.1:1"), "user-1"))
	ctx := Reroute(base, "stable", Rescue)
	assert.Equal(t, Info{Version: "stable", Role: Rescue, Sticky: "user-1", HasSticky: true, Record: rec}, *From(ctx))
	assert.Equal(t, Primary, RoleOf(base), "the parent is unchanged")
}

// The points are part of the contract: a key keeps its version across
// processes and releases, so they must never change.
func TestStickyPointIsStable(t *testing.T) {
	for key, want := range map[string]uint32{"": 9576, "user-1": 7679, "user-2": 3113, "x": 1737} {
		assert.Equal(t, want, StickyPoint(key), "%q", key)
	}
}

func TestEachContextIsOneAllocation(t *testing.T) {
	base := WithStickyKey(context.Background(), "user-1")
	assert.InDelta(t, 1, testing.AllocsPerRun(100, func() { WithRoute(base, Route{Version: "canary", Role: Shadow}) }), 0)
	assert.InDelta(t, 1, testing.AllocsPerRun(100, func() { WithRecord(base) }), 0)
	assert.InDelta(t, 1, testing.AllocsPerRun(100, func() { Recorded(base, nil) }), 0)
	assert.InDelta(t, 1, testing.AllocsPerRun(100, func() { ForceVersion(base, "canary") }), 0)
}

type markedKey struct{}

// marked adds a value of its own to the call info in one context.
type marked struct{ Values }

func (m *marked) Value(key any) any {
	if key == (markedKey{}) {
		return "mark"
	}
	return m.Values.Value(key)
}

func TestValuesEmbedded(t *testing.T) {
	type otherKey struct{}
	parent := context.WithValue(WithStickyKey(context.Background(), "user-1"), otherKey{}, "other")
	m := new(marked)
	rec := m.Route(parent, Route{Version: "canary", Role: Shadow})
	var ctx context.Context = m
	assert.Same(t, rec, RecordFrom(ctx))
	assert.Equal(t, Info{Version: "canary", Role: Shadow, Sticky: "user-1", HasSticky: true, Record: rec}, *From(ctx))
	assert.Equal(t, "mark", ctx.Value(markedKey{}))
	assert.Equal(t, "other", ctx.Value(otherKey{}), "the parent's values")
	assert.Equal(t, Primary, RoleOf(parent), "the parent is unchanged")
}

func TestKnownRoles(t *testing.T) {
	for _, r := range []Role{Primary, Shadow, Warmup, Rescue} {
		if !r.Known() {
			t.Errorf("%q is not known", r)
		}
	}
	for _, r := range []Role{"", "other", "Primary"} {
		if r.Known() {
			t.Errorf("%q is known", r)
		}
	}
}
