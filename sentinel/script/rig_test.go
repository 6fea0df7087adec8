package script_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unhurried lifts a script's time limit for the tests that compare its
// decisions with the Go strategy's over hundreds of ticks: on a busy
// machine, under the race detector, a tick may take longer than the
// default 100 ms, and what they compare is the decisions, not the time.
var unhurried = script.WithTimeout(time.Minute)

type (
	fakeClock  = sentineltest.Clock
	fakeSource = sentineltest.Source
)

func newFakeClock() *fakeClock {
	return sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// expHist builds an exponential histogram (scale 3) of n values of v seconds.
func expHist(n uint64, v float64) telemetry.Histogram {
	if n == 0 {
		return telemetry.Histogram{}
	}
	const scale = 3
	idx := int32(math.Ceil(math.Log2(v)*8)) - 1
	return telemetry.Histogram{Count: n, Sum: float64(n) * v, Min: v, Max: v, Scale: scale, Offset: idx, Counts: []uint64{n}}
}

// window is one tick: calls and errors per version, all at one latency.
func window(baseCalls, baseErrs, candCalls, candErrs int64, baseLat, candLat float64) *telemetry.Window {
	role := func(calls, errs int64, lat float64) *telemetry.VersionStats {
		return &telemetry.VersionStats{Roles: map[balancer.Role]*telemetry.RoleStats{
			balancer.RolePrimary: {Calls: calls, Errors: errs, Latency: expHist(uint64(calls), lat)},
		}}
	}
	return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		"stable": role(baseCalls, baseErrs, baseLat),
		"canary": role(candCalls, candErrs, candLat),
	}}
}

// alerts collects what the alerter is told.
type alerts struct {
	mu     sync.Mutex
	events []sentinel.Event
}

func (a *alerts) Alert(_ context.Context, e sentinel.Event) error {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
	return nil
}

func (a *alerts) actions() []sentinel.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []sentinel.Action
	for _, e := range a.events {
		out = append(out, e.Action)
	}
	return out
}

type rig struct {
	t      *testing.T
	split  *balancer.Split
	src    *fakeSource
	clock  *fakeClock
	alerts *alerts
	s      *sentinel.Sentinel
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRig(t *testing.T, strategy sentinel.Strategy, opts ...sentinel.Option) *rig {
	t.Helper()
	return newRigOn(t, balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0}), strategy, opts...)
}

// newRigOn is newRig on a split of the test's own.
func newRigOn(t *testing.T, split *balancer.Split, strategy sentinel.Strategy, opts ...sentinel.Option) *rig {
	t.Helper()
	r := &rig{t: t, split: split, src: new(fakeSource), clock: newFakeClock(), alerts: new(alerts)}
	if strategy == nil {
		c, err := sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: 10 * time.Second, MinStepCalls: 100})
		require.NoError(t, err)
		strategy = c
	}
	opts = append([]sentinel.Option{sentinel.WithClock(r.clock), sentinel.WithLogger(quiet), sentinel.WithAlerters(r.alerts)}, opts...)
	s, err := sentinel.New(r.split, r.src, strategy, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s = s
	return r
}

// tick advances the clock by a second and ticks with w.
func (r *rig) tick(w *telemetry.Window) sentinel.Event {
	r.clock.Advance(time.Second)
	r.src.Set(w, nil)
	return r.s.Tick(context.Background())
}

func healthy() *telemetry.Window { return window(900, 0, 600, 0, 0.02, 0.02) }
