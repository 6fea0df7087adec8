package sentinel_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "google.golang.org/grpc/health/grpc_health_v1" // a service none of whose methods is marked safe to copy

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	_ "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// fakeShadow reports the counts the test sets.
type fakeShadow struct {
	mu sync.Mutex
	st shadow.Stats
}

func (f *fakeShadow) Stats() shadow.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeShadow) add(drop string, dropped int64, compared int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Dropped = map[string]int64{drop: f.st.Dropped[drop] + dropped}
	f.st.Comparisons = map[string]int64{shadow.ResultMatch: f.st.Comparisons[shadow.ResultMatch] + compared}
}

// logs is a logger whose Warn lines the test reads.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

var shadowJudge = sentinel.WithJudge(judge.Config{EnableShadow: true})

func TestNewSaysWhatWillLeaveTheShadowTestWithoutData(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	sh := &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}}
	for _, tc := range []struct {
		name string
		opts []sentinel.Option
		warn string
	}{
		{"no shadow interceptor", nil,
			"judge.Config.EnableShadow is on, but the sentinel was given no shadow interceptor (WithShadow)"},
		{"no method safe to copy", []sentinel.Option{sentinel.WithShadow(sh, "grpc.health.v1.Health")},
			"no method of grpc.health.v1.Health is marked safe to copy (Check, List, Watch: no idempotency_level); unless shadow.Config.Methods lists some, the shadow test will have no data: mark idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT"},
		{"some methods safe to copy", []sentinel.Option{sentinel.WithShadow(sh, "ninelives.demo.v1.DemoService")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l logs
			_, err := sentinel.New(split, new(fakeSource), c, append(tc.opts, shadowJudge, sentinel.WithLogger(l.logger()))...)
			require.NoError(t, err)
			if tc.warn == "" {
				assert.Empty(t, l.String())
			} else {
				assert.Contains(t, l.String(), tc.warn)
			}
		})
	}
	_, err = sentinel.New(split, new(fakeSource), c, sentinel.WithShadow(sh, "orders.v1.Orders"))
	assert.ErrorIs(t, err, sentinel.ErrBadOption)
	assert.ErrorContains(t, err, `WithShadow services[0] = "orders.v1.Orders": no such service in the protobuf registry`)
	_, err = sentinel.New(split, new(fakeSource), c, sentinel.WithNoDataAlert(0))
	assert.ErrorContains(t, err, "WithNoDataAlert = 0s: want a positive duration")
}

// shadowless is a healthy tick without a shadow comparison.
func shadowless() *telemetry.Window { return window(900, 0, 100, 0, 0.02, 0.02) }

func TestAShadowTestWithoutDataAlertsOnceWithTheCauseAndTheFix(t *testing.T) {
	const fix = "mark idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT on the methods that are safe to repeat, or list them in shadow.Config.Methods, or turn shadow judging off (judge.Config.EnableShadow)"
	for _, tc := range []struct {
		name   string
		sh     *fakeShadow
		opts   []sentinel.Option
		copies func(*fakeShadow) // what the interceptor does each tick
		cause  string
	}{
		{name: "no method safe to copy", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}},
			opts:   []sentinel.Option{},
			copies: func(f *fakeShadow) { f.add(shadow.DropUnsafeMethod, 90, 0) },
			cause:  "no method of ninelives.demo.v1.DemoService (PutItem: no idempotency_level) that was called is safe to copy (2700 copies dropped as unsafe_method): " + fix},
		{name: "no shadow interceptor given",
			cause: "the sentinel was given no shadow interceptor (WithShadow) to tell why: put a shadow.Interceptor copying to canary, with Config.Metrics set to the telemetry the source reads, in the client's interceptor chain, or turn shadow judging off (judge.Config.EnableShadow)"},
		{name: "a rate of 0", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary"}},
			cause: "the shadow interceptor's rate is 0: set shadow.Config.Rate (or SetRate)"},
		{name: "copies to another version", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary-2", Rate: 0.1}},
			cause: `the shadow interceptor copies to "canary-2", not to the candidate "canary": set shadow.Config.Candidate (or SetCandidate)`},
		{name: "comparisons that never reach the source", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}},
			copies: func(f *fakeShadow) { f.add(shadow.DropConcurrency, 0, 90) },
			cause:  "the shadow interceptor compared 2700 copies, but none reached the metric source: set shadow.Config.Metrics to the telemetry the source reads"},
		{name: "copies dropped", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}},
			copies: func(f *fakeShadow) { f.add(shadow.DropConcurrency, 90, 0) },
			cause:  "the shadow interceptor dropped every copy (concurrency 2700): see shadow.Stats and the shadow.Drop reasons"},
		{name: "no call copied", sh: &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}},
			cause: "the shadow interceptor saw no call to copy: put it in the client's interceptor chain (grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()) and its stream interceptor)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []sentinel.Option{shadowJudge}
			if tc.sh != nil {
				opts = append(opts, sentinel.WithShadow(tc.sh, "ninelives.demo.v1.DemoService"))
			}
			r := newRig(t, nil, opts...)
			var alertAt []int
			for i := range 90 {
				if tc.copies != nil && tc.sh != nil {
					tc.copies(tc.sh)
				}
				e := r.tick(shadowless())
				require.NotEqual(t, sentinel.ActionAdvance, e.Action, "no step passes without the shadow test")
				if e.Action == sentinel.ActionAlert {
					alertAt = append(alertAt, i)
				}
			}
			require.NoError(t, r.s.Close())
			require.Len(t, r.alerts.events, 1, "one alert: %v", r.alerts.actions())
			assert.Equal(t, []int{31}, alertAt, "30 s after the first step began")
			assert.Equal(t, "the judge's shadow test has had no comparison for 30s, and every step holds: "+tc.cause, r.alerts.events[0].Reason)
		})
	}
}

func TestAShadowTestWithDataAgainAlertsAgainOnlyOnANewStreak(t *testing.T) {
	sh := &fakeShadow{st: shadow.Stats{Candidate: "canary", Rate: 0.1}}
	r := newRig(t, nil, shadowJudge, sentinel.WithShadow(sh), sentinel.WithNoDataAlert(10*time.Second))
	for range 12 {
		r.tick(shadowless())
	}
	for range 3 {
		r.tick(withComparisons(shadowless(), 50, 0))
	}
	for range 5 {
		r.tick(shadowless())
	}
	require.NoError(t, r.s.Close())
	assert.Len(t, r.alerts.events, 1, "a short gap after data came is no new alert")
	assert.True(t, strings.HasPrefix(r.alerts.events[0].Reason, "the judge's shadow test has had no comparison for 10s"), r.alerts.events[0].Reason)
}

func TestABaselineWithoutCallsAlertsOnce(t *testing.T) {
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: 5 * time.Minute})
	require.NoError(t, err)
	r := newRig(t, c)
	r.tick(healthy())
	w := func() *telemetry.Window {
		w := window(0, 0, 100, 0, 0.02, 0.02)
		w.Versions["stable"].Fallbacks = 900
		return w
	}
	for range 40 {
		r.tick(w())
	}
	require.NoError(t, r.s.Close())
	require.Len(t, r.alerts.events, 1)
	require.Equal(t, sentinel.ActionAlert, r.alerts.events[0].Action)
	assert.Equal(t, "the judge's tests have had no stable call for 30s while canary served some: they compare canary with stable over the same seconds, "+
		"so these seconds tell them nothing; its picks fell back to other versions (27900): it has no ready endpoint", r.alerts.events[0].Reason)
}

// withCopies adds the candidate's copies to a window: matched replies,
// copies failed where their primary served, and primaries failed where
// their copy served.
func withCopies(w *telemetry.Window, match, shadowErrs, primaryErrs int64) *telemetry.Window {
	w.Versions["canary"].Shadow = map[string]int64{telemetry.ShadowMatch: match, telemetry.ShadowError: shadowErrs, telemetry.ShadowPrimaryError: primaryErrs}
	return w
}

// An outage both versions share fails copies and primaries alike: the
// shadow test weighs the ones against the others and does not roll back.
// A candidate that fails the copies its primaries served is rolled back,
// by the shadow test's errors part.
func TestShadowCopiesFailingLikeTheirPrimariesDoNotRollBack(t *testing.T) {
	r := newRig(t, nil, shadowJudge)
	r.tick(healthy())
	for range 8 {
		e := r.tick(withCopies(healthy(), 60, 40, 40))
		require.NotEqual(t, sentinel.ActionRollback, e.Action, e.Reason)
	}
	var e sentinel.Event
	for i := 0; i < 5 && e.Action != sentinel.ActionRollback; i++ {
		e = r.tick(withCopies(healthy(), 60, 20, 0))
	}
	require.Equal(t, sentinel.ActionRollback, e.Action, e.Reason)
	require.NotNil(t, e.Verdict)
	assert.Equal(t, judge.TestShadow, e.Verdict.Test)
	assert.Equal(t, "errors", e.Verdict.Evidence.Part)
	assert.Contains(t, e.Reason, "the candidate fails copies of calls its primaries served")
}
