package sentinel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// listingRouter is a Split that lists endpoints the test sets, as a Split
// with clients lists theirs.
type listingRouter struct {
	*balancer.Split
	mu  sync.Mutex
	eps []balancer.EndpointInfo
}

func newListingRouter() *listingRouter {
	r := &listingRouter{Split: balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})}
	r.setReady("stable", 2)
	r.setReady("canary", 2)
	return r
}

func (r *listingRouter) Endpoints(version string) []balancer.EndpointInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []balancer.EndpointInfo
	for _, e := range r.eps {
		if version == "" || e.Version == version {
			out = append(out, e)
		}
	}
	return out
}

// setReady lists two endpoints of version, ready of them READY and the
// others in TRANSIENT_FAILURE.
func (r *listingRouter) setReady(version string, ready int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var eps []balancer.EndpointInfo
	for _, e := range r.eps {
		if e.Version != version {
			eps = append(eps, e)
		}
	}
	for i := range 2 {
		st := connectivity.TransientFailure
		if i < ready {
			st = connectivity.Ready
		}
		eps = append(eps, balancer.EndpointInfo{Version: version, Addr: version + "-" + string(rune('a'+i)), State: st, StateName: st.String()})
	}
	r.eps = eps
}

// servingRig is a canary of steps 10 %, 50 %, 100 % on router, each step
// at least 10 s and 100 calls, whose candidate may be down for 30 s.
func servingRig(t *testing.T, router sentinel.Router, strategy sentinel.Strategy) (*rig, *listingRouter) {
	t.Helper()
	if strategy == nil {
		var err error
		strategy, err = sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100})
		require.NoError(t, err)
	}
	lr, _ := router.(*listingRouter)
	r := &rig{t: t, src: new(fakeSource), clock: newFakeClock(), alerts: new(alerts)}
	s, err := sentinel.New(router, r.src, strategy, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet),
		sentinel.WithAlerters(r.alerts), sentinel.WithServing(sentinel.ServingConfig{RollbackAfter: 30 * time.Second}))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s = s
	if lr != nil {
		r.split = lr.Split
	} else {
		r.split = router.(*balancer.Split)
	}
	return r, lr
}

// toStep ticks healthy windows until the canary has advanced to weight.
func (r *rig) toStep(weight int) {
	r.t.Helper()
	for i := 0; i < 100 && r.split.Weight("canary") != weight; i++ {
		r.tick(healthy())
	}
	require.Equal(r.t, weight, r.split.Weight("canary"), r.s.Status().LastDecision.Reason)
}

// fallenBack is a tick in which every call went to the baseline and the
// candidate's picks fell back: calls is the candidate's share of them.
func fallenBack(calls int64) *telemetry.Window {
	w := window(1000, 0, 0, 0, 0.02, 0.02)
	w.Versions["canary"].Fallbacks = calls
	return w
}

// availabilityAlerts are the alerts that say the candidate is down.
func (a *alerts) availability() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.events {
		if e.Action == sentinel.ActionAlert && strings.Contains(e.Reason, "rolls canary back as unavailable if") {
			out = append(out, e.Reason)
		}
	}
	return out
}

// A candidate in a crash loop comes back and goes again before it serves
// through a span: the time it has not served runs on from its first
// crash, the step never advances, it is rolled back as unavailable once
// that time reaches RollbackAfter, and the reason counts its crashes.
func TestACandidateThatComesBackAndGoesAgainIsCountedDownWholeAndItsCrashesCounted(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(5000)
	for range 5 {
		r.tick(healthy())
	}
	var e sentinel.Event
	ticks := 0
	for ; ticks < 60 && !r.s.Status().Phase.Final(); ticks++ {
		// Down 2 s, then back for 3 s: shorter than the 5 s span.
		if ticks%5 < 2 {
			lr.setReady("canary", 0)
			e = r.tick(fallenBack(500))
		} else {
			lr.setReady("canary", 3)
			e = r.tick(healthy())
		}
		require.NotContains(t, []sentinel.Action{sentinel.ActionAdvance, sentinel.ActionPromote}, e.Action, "tick %d: %s", ticks, e.Reason)
		if ticks == 7 {
			sv := r.s.Status().Serving
			assert.False(t, sv.OK, "back for 3 s of a 5 s span")
			assert.Equal(t, 2, sv.Downs, "down at 0 s and 5 s")
			assert.Equal(t, 8*time.Second, sv.DownFor, "from its first crash")
		}
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	assert.Equal(t, 31, ticks, "rolled back on the first tick it was down 30 s after its first crash")
	assert.Contains(t, e.Reason, "canary is unavailable: canary has no ready endpoints; ")
	assert.Contains(t, e.Reason, "; not serving for 31s, down 7 times in it (it comes back and goes again before it serves for 5s)")
	assert.Equal(t, judge.TestAvailability, e.Verdict.Test)
}

// A candidate that serves through a span again starts its count of
// downs afresh: its next outage is its first.
func TestACandidateBackInServiceStartsItsDownsAfresh(t *testing.T) {
	r, lr := longStepRig(t)
	outage := func() {
		lr.setReady("canary", 0)
		for range 2 {
			r.tick(fallenBack(500))
		}
		sv := r.s.Status().Serving
		assert.Equal(t, 1, sv.Downs, sv.Reason)
		assert.Equal(t, 2*time.Second, sv.DownFor)
	}
	outage()
	lr.setReady("canary", 2)
	for range 8 {
		r.tick(healthy())
	}
	require.True(t, r.s.Status().Serving.OK, r.s.Status().Serving.Reason)
	assert.Zero(t, r.s.Status().Serving.Downs, "while it serves")
	outage()
}

func TestACandidateWithoutReadyEndpointsIsNeverPromotedAndIsRolledBackAsUnavailable(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(5000)
	for range 5 {
		r.tick(healthy()) // the judge passes, the step is under way
	}
	lr.setReady("canary", 0)
	var e sentinel.Event
	ticks := 0
	for ; ticks < 60 && !r.s.Status().Phase.Final(); ticks++ {
		e = r.tick(fallenBack(500))
		require.NotContains(t, []sentinel.Action{sentinel.ActionAdvance, sentinel.ActionPromote}, e.Action, "tick %d: %s", ticks, e.Reason)
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	assert.Equal(t, 30, ticks, "rolled back when it had not served for 30 s")
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Contains(t, e.Reason, "canary is unavailable: canary has no ready endpoints; 0 calls in the last 5s; not serving for 30s")
	require.NotNil(t, e.Verdict)
	assert.Equal(t, judge.TestAvailability, e.Verdict.Test)
	assert.Equal(t, judge.Inconclusive, e.Verdict.Outcome, "not a statistical fail")
	assert.Equal(t, judge.Pass, r.s.Status().Verdict.Outcome, "the judge never failed it")
	assert.True(t, r.s.Status().Serving.Unavailable, "the status shows it")
	require.NoError(t, r.s.Close())
	assert.Equal(t, []string{"canary has no ready endpoints; 0 calls in the last 5s; " +
		"the rollout holds, and rolls canary back as unavailable if it does not serve again within 30s"}, r.alerts.availability(), "one alert says so")
	assert.ElementsMatch(t, []sentinel.Action{sentinel.ActionAlert, sentinel.ActionRollback}, r.alerts.actions())
}

func TestACandidateBackWithinTheTimeCarriesOnWithoutAnotherAlert(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(5000)
	lr.setReady("canary", 0)
	for range 20 {
		e := r.tick(fallenBack(500))
		require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionAlert}, e.Action, e.Reason)
	}
	// Back, then gone again for a moment: one alert in all.
	lr.setReady("canary", 2)
	for range 3 {
		r.tick(healthy())
	}
	lr.setReady("canary", 0)
	for range 3 {
		r.tick(fallenBack(500))
	}
	lr.setReady("canary", 1)
	var e sentinel.Event
	for i := 0; i < 60 && !r.s.Status().Phase.Final(); i++ {
		e = r.tick(healthy())
	}
	require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, e.Reason)
	require.NoError(t, r.s.Close())
	assert.Len(t, r.alerts.availability(), 1, "one alert for the outage, none for the blip after it")
	assert.ElementsMatch(t, []sentinel.Action{sentinel.ActionAlert, sentinel.ActionPromote}, r.alerts.actions())
}

func TestAStepWaitsForCallsTheCandidateServedRecently(t *testing.T) {
	r, _ := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	for range 8 {
		r.tick(healthy())
	}
	// A few picks fell back a moment ago, while the candidate served: the
	// step waits for ServingConfig.Span (5 s) of ticks without one.
	w := healthy()
	w.Versions["canary"].Fallbacks = 3
	r.tick(w)
	e := r.tick(healthy()) // long enough, enough calls, and the judge passes
	assert.Equal(t, sentinel.ActionHold, e.Action)
	assert.Contains(t, e.Reason, "step 1 (10%): passed, but a step advances only on calls the candidate served recently: canary's picks fell back to other versions (3) in the last 5s")
	for range 3 {
		require.Equal(t, sentinel.ActionHold, r.tick(healthy()).Action)
	}
	e = r.tick(healthy())
	assert.Equal(t, sentinel.ActionAdvance, e.Action, e.Reason)
	require.NoError(t, r.s.Close())
	assert.Empty(t, r.alerts.availability(), "a pick that fell back while the candidate served is no outage")
}

func TestARouterThatListsNoEndpointsIsJudgedOnCallsAlone(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	r, _ := servingRig(t, split, nil)
	r.toStep(5000)
	// Picks that fall back with no call served: down on the first tick.
	e := r.tick(fallenBack(500))
	assert.Contains(t, e.Reason, "canary's picks fall back to other versions (500 in the last 5s)")
	// No call where the weight would give it 500 a tick, and no fallback
	// counted (a source that does not count them): down once the last
	// ticks have no call at all.
	for range 3 {
		e = r.tick(window(1000, 0, 0, 0, 0.02, 0.02))
		assert.Equal(t, sentinel.ActionHold, e.Action, e.Reason)
		assert.NotContains(t, e.Reason, "passed", "no advance on calls from before the outage")
	}
	e = r.tick(window(1000, 0, 0, 0, 0.02, 0.02))
	assert.Equal(t, sentinel.ActionAlert, e.Action, e.Reason)
	assert.Contains(t, e.Reason, "canary served no call where its weight would have given it about 2500; 0 calls in the last 5s; the rollout holds")
	for i := 0; i < 40 && !r.s.Status().Phase.Final(); i++ {
		e = r.tick(window(1000, 0, 0, 0, 0.02, 0.02))
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
	assert.Contains(t, e.Reason, "canary is unavailable: canary served no call where its weight would have given it about 2500; 0 calls in the last 5s; not serving for 30s")
	assert.NotContains(t, e.Reason, "times in it", "one outage: down once, though the fallbacks left the span before the silence counted")
	assert.Equal(t, 1, r.s.Status().Serving.Downs)
}

func TestAQuietCandidateAtLowTrafficIsNotDown(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	r, _ := servingRig(t, split, nil)
	r.toStep(1000)
	// 10 calls a tick, 1 for the candidate's 10 % on average: ticks
	// without a candidate call are no evidence that it is down.
	for i := range 60 {
		var w *telemetry.Window
		if i%4 == 0 {
			w = window(9, 0, 1, 0, 0.02, 0.02)
		} else {
			w = window(10, 0, 0, 0, 0.02, 0.02)
		}
		e := r.tick(w)
		require.NotEqual(t, sentinel.ActionRollback, e.Action, e.Reason)
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	require.NoError(t, r.s.Close())
	assert.Empty(t, r.alerts.availability())
}

func TestServingConfigIsChecked(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	for want, cfg := range map[string]sentinel.ServingConfig{
		"ServingConfig.Span = -1s: want 0 (the default) or more":          {Span: -time.Second},
		"ServingConfig.RollbackAfter = -1s: want 0 (the default) or more": {RollbackAfter: -time.Second},
	} {
		_, err := sentinel.New(split, new(fakeSource), c, sentinel.WithServing(cfg))
		assert.ErrorIs(t, err, sentinel.ErrBadOption)
		assert.ErrorContains(t, err, want)
	}
}

// The evidence of serving reaches back ServingConfig.Span in time, not a
// number of ticks: at four ticks a second a fallback holds the step for
// 5 s, as at one a second, and the reason says so.
func TestServingSpansItsDurationAtAnyInterval(t *testing.T) {
	r, _ := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	quarter := func(w *telemetry.Window) sentinel.Event {
		r.clock.Advance(250 * time.Millisecond)
		r.src.Set(w, nil)
		return r.s.Tick(context.Background())
	}
	for range 39 {
		quarter(healthy())
	}
	w := healthy()
	w.Versions["canary"].Fallbacks = 3
	e := quarter(w) // the step has lasted its 10 s
	require.Equal(t, sentinel.ActionHold, e.Action, e.Reason)
	assert.Contains(t, e.Reason, "step 1 (10%): passed, but")
	holds := 0
	for e := quarter(healthy()); e.Action == sentinel.ActionHold; e = quarter(healthy()) {
		require.Less(t, holds, 40, "the step never advanced")
		assert.Contains(t, e.Reason, "canary's picks fell back to other versions (3) in the last 5s", "tick %d", holds)
		holds++
	}
	assert.Equal(t, 19, holds, "held until the fallback's tick ended 5 s ago: 19 more ticks of 250 ms")
	assert.Equal(t, 5000, r.split.Weight("canary"))
}

// judgedSpy keeps the candidate's figures as each tick's State gives them
// to a strategy that judges them itself.
type judgedSpy struct {
	sentinel.Strategy
	mu  sync.Mutex
	got []telemetry.RoleStats
}

func (s *judgedSpy) Decide(ctx context.Context, st *sentinel.State) (sentinel.Decision, error) {
	s.mu.Lock()
	s.got = append(s.got, st.JudgedCandidate())
	s.mu.Unlock()
	return s.Strategy.Decide(ctx, st)
}

func (s *judgedSpy) last() telemetry.RoleStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[len(s.got)-1]
}

// lostTick is a healthy tick in which the candidate left n of its calls
// unanswered (its servers died with them in flight).
func lostTick(n int64) *telemetry.Window {
	w := window(900, 0, 600, n, 0.02, 0.02)
	w.Versions["canary"].Unanswered = n
	return w
}

// The calls in flight when every candidate server dies are put down to
// the outage, not judged, whether the endpoints are seen gone on the same
// tick or the next: the rollout holds, and once the candidate is back it
// goes on and is promoted.
func TestCallsLostAsTheCandidateWentDownAreNotJudged(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "gone on the same tick", true: "gone on the next tick"}[late], func(t *testing.T) {
			canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100})
			require.NoError(t, err)
			sp := &judgedSpy{Strategy: canary}
			r, lr := servingRig(t, newListingRouter(), sp)
			r.toStep(5000)
			r.tick(healthy())
			if !late {
				lr.setReady("canary", 0)
			}
			w := lostTick(60)
			w.Versions["canary"].Roles[balancer.RolePrimary].Codes = map[codes.Code]int64{codes.OK: 540, codes.Unavailable: 60}
			r.tick(w)
			got := sp.last()
			assert.Equal(t, []int64{540, 0, 540, 0}, []int64{got.Calls, got.Errors, got.Codes[codes.OK], got.Codes[codes.Unavailable]},
				"the strategy sees the figures the judge saw")
			assert.Equal(t, !late, got.Latency.Empty(), "the latencies of a tick whose lost calls are put down to the outage are left out")
			assert.EqualValues(t, 60, w.Versions["canary"].Roles[balancer.RolePrimary].Codes[codes.Unavailable], "the window is left as it was")
			lr.setReady("canary", 0)
			for range 10 {
				e := r.tick(fallenBack(500))
				require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionAlert}, e.Action, e.Reason)
			}
			st := r.s.Status()
			assert.EqualValues(t, 60, st.Serving.Lost)
			assert.Contains(t, st.Serving.Reason, "canary has no ready endpoints; 0 calls in the last 5s")
			assert.Contains(t, st.Serving.Reason, "; 60 calls left unanswered as it went down, put down to the outage")
			assert.NotEqual(t, judge.Fail, st.Verdict.Outcome, st.Verdict.Reason)
			lr.setReady("canary", 2)
			var e sentinel.Event
			for i := 0; i < 60 && !r.s.Status().Phase.Final(); i++ {
				e = r.tick(healthy())
			}
			require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, e.Reason)
		})
	}
}

// longStepRig is a rig at the 50 % step of a canary whose steps last a
// minute, so that a test's ticks stay in it.
func longStepRig(t *testing.T) (*rig, *listingRouter) {
	t.Helper()
	long, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: time.Minute, MinStepCalls: 100})
	require.NoError(t, err)
	r, lr := servingRig(t, newListingRouter(), long)
	r.toStep(5000)
	return r, lr
}

// judgedNext ticks a healthy window and checks that the calls held from
// the last look were judged on it: the candidate is rolled back on errors.
func judgedNext(t *testing.T, r *rig) {
	t.Helper()
	e := r.tick(healthy())
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	assert.Contains(t, e.Reason, "errors")
}

// Only a rollout's first loss is forgiven: a candidate that goes down
// again, losing calls again, is judged on them (a crash loop is a failing
// candidate), and so is one that loses a server after its first loss; and
// calls left unanswered while the candidate loses no ready endpoint (a
// server that drops its connections and takes them again) are judged too,
// one tick late.
func TestUnansweredCallsAreJudgedAfterTheFirstOutage(t *testing.T) {
	t.Run("a second outage", func(t *testing.T) {
		r, lr := longStepRig(t)
		lr.setReady("canary", 0)
		r.tick(lostTick(60))
		for range 5 {
			r.tick(fallenBack(500))
		}
		lr.setReady("canary", 2)
		for range 8 { // back and serving: the outage is over
			require.Equal(t, sentinel.PhaseProgressing, r.tick(healthy()).Phase)
		}
		require.True(t, r.s.Status().Serving.OK, r.s.Status().Serving.Reason)
		lr.setReady("canary", 0)
		r.tick(lostTick(60))
		e := r.tick(fallenBack(500))
		require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
		require.NotNil(t, e.Verdict)
		assert.Equal(t, judge.TestErrors, e.Verdict.Test, e.Reason)
		assert.EqualValues(t, 60, r.s.Status().Serving.Lost, "the first outage's calls only")
	})
	t.Run("a crash loop", func(t *testing.T) {
		// Down every third tick, losing calls, and serving between: the
		// first crash is forgiven, the later ones are judged.
		r, lr := servingRig(t, newListingRouter(), nil)
		r.toStep(1000)
		var e sentinel.Event
		i := 0
		for ; i < 30 && !r.s.Status().Phase.Final(); i++ {
			if i%3 == 0 {
				lr.setReady("canary", 0)
				e = r.tick(lostTick(20))
				continue
			}
			lr.setReady("canary", 2)
			e = r.tick(healthy())
		}
		require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
		require.NotNil(t, e.Verdict)
		assert.Equal(t, judge.TestErrors, e.Verdict.Test, "a statistical fail, not unavailable: %s", e.Reason)
		assert.Less(t, i, 10, "on the second crash's calls")
		assert.EqualValues(t, 20, r.s.Status().Serving.Lost, "the first crash's only")
	})
	t.Run("the last tick of a step", func(t *testing.T) {
		// Calls lost on the tick that would end the step hold it: the
		// step waits for them to be judged.
		r, _ := servingRig(t, newListingRouter(), nil)
		r.toStep(5000)
		for range 9 {
			r.tick(healthy())
		}
		e := r.tick(lostTick(60))
		require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, e.Reason)
		assert.Contains(t, e.Reason, "60 calls left unanswered, judged on the next tick")
		judgedNext(t, r)
	})
	t.Run("a look left out", func(t *testing.T) {
		// Calls held from a look are given back to the next look used,
		// not to one the sentinel leaves out.
		r, _ := servingRig(t, newListingRouter(), nil)
		r.toStep(1000)
		r.tick(lostTick(60))
		require.NoError(t, r.s.SetWeight(context.Background(), "dan", "", 2000))
		e := r.tick(healthy()) // spans the change: left out
		require.NotEqual(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
		judgedNext(t, r)
	})
	t.Run("no endpoint lost", func(t *testing.T) {
		r, _ := servingRig(t, newListingRouter(), nil)
		r.toStep(5000)
		e := r.tick(lostTick(60))
		require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "held for a tick: %s", e.Reason)
		judgedNext(t, r)
		assert.Zero(t, r.s.Status().Serving.Lost)
	})
	t.Run("a second server lost", func(t *testing.T) {
		r, lr := longStepRig(t)
		lr.setReady("canary", 1)
		r.tick(lostTick(60)) // the first loss: forgiven
		for range 3 {
			require.Equal(t, sentinel.PhaseProgressing, r.tick(healthy()).Phase)
		}
		lr.setReady("canary", 2) // replaced
		for range 3 {
			require.Equal(t, sentinel.PhaseProgressing, r.tick(healthy()).Phase)
		}
		lr.setReady("canary", 1)
		e := r.tick(lostTick(60))
		require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "held for a tick: %s", e.Reason)
		judgedNext(t, r)
		assert.EqualValues(t, 60, r.s.Status().Serving.Lost, "the first loss's calls only")
	})
}

// The forgiveness of a lost server is bounded: a candidate that keeps
// leaving calls unanswered after its first loss (its servers crash one at
// a time, say) is judged on them from the second tick after it, and
// rolled back on errors, not promoted; its first loss's calls are still
// put down to the loss.
func TestACandidateThatKeepsLosingCallsIsJudgedAfterItsFirstLoss(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	r.tick(healthy())
	lr.setReady("canary", 1)
	var e sentinel.Event
	ticks := 0
	for ; ticks < 30 && !r.s.Status().Phase.Final(); ticks++ {
		e = r.tick(lostTick(120)) // 20 % of its calls, every tick
		if ticks == 0 {
			assert.False(t, r.s.Status().Serving.OK, "no step advances on a look that left calls out")
		}
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	require.NotNil(t, e.Verdict)
	assert.Equal(t, judge.TestErrors, e.Verdict.Test, e.Reason)
	assert.LessOrEqual(t, ticks, 4, "the third tick's calls held, judged on the fourth")
	assert.EqualValues(t, 240, r.s.Status().Serving.Lost, "the loss's tick and the next: the stragglers")
}

// A server lost on the rollout's first tick is seen lost: the ready
// endpoints of the tick before the rollout began are the last.
func TestAServerLostOnTheRolloutsFirstTickIsSeen(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(1000) // the tick that starts the rollout
	lr.setReady("canary", 1)
	e := r.tick(lostTick(60))
	require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, e.Reason)
	assert.EqualValues(t, 60, r.s.Status().Serving.Lost, "put down to the loss, not held")
	for range 3 {
		e = r.tick(healthy())
	}
	require.NotEqual(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
}

// A ready endpoint lost with no call lost (a server drained, a connection
// re-made) forgives nothing and spends nothing: the candidate's first
// outage after it is still forgiven.
func TestAnEndpointLostWithoutLostCallsSpendsNoForgiveness(t *testing.T) {
	r, lr := longStepRig(t)
	lr.setReady("canary", 1)
	r.tick(healthy())
	lr.setReady("canary", 2)
	for range 3 {
		r.tick(healthy())
	}
	lr.setReady("canary", 0)
	r.tick(lostTick(60))
	for range 3 {
		r.tick(fallenBack(500))
	}
	lr.setReady("canary", 2)
	for range 3 {
		r.tick(healthy())
	}
	st := r.s.Status()
	require.NotEqual(t, sentinel.PhaseRolledBack, st.Phase, st.LastDecision.Reason)
	assert.EqualValues(t, 60, st.Serving.Lost, "the outage's calls, forgiven")
}

// A healthy candidate that loses one server of several for good, with
// calls in flight on it (seen on the tick they fail or the next), is not
// judged on them: they are put down to the loss, said in the reason, and
// the rollout goes on and is promoted.
func TestCallsLostWithOneServerOfSeveralAreNotJudged(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "gone on the same tick", true: "gone on the next tick"}[late], func(t *testing.T) {
			canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100})
			require.NoError(t, err)
			r, lr := servingRig(t, newListingRouter(), canary)
			r.toStep(5000)
			r.tick(healthy())
			if !late {
				lr.setReady("canary", 1)
			}
			r.tick(lostTick(60))
			lr.setReady("canary", 1)
			e := r.tick(lostTick(5)) // stragglers picked before the client saw it
			require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, e.Reason)
			st := r.s.Status()
			assert.EqualValues(t, 65, st.Serving.Lost)
			assert.Contains(t, st.Serving.Reason, "; 65 calls left unanswered as it lost ready endpoints, put down to the loss")
			for i := 0; i < 60 && !r.s.Status().Phase.Final(); i++ {
				e = r.tick(healthy())
			}
			require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, e.Reason)
			assert.EqualValues(t, 65, r.s.Status().Serving.Lost)
		})
	}
}

// A checkpoint keeps where the rollout stands with unanswered calls: the
// sentinel that carries it on (a fleet's standby) forgives no second
// outage, and a bad field is named.
func TestACheckpointKeepsTheUnansweredCalls(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	lr.setReady("canary", 0)
	r.tick(lostTick(60))
	lr.setReady("canary", 2)
	r.tick(healthy())
	cp := r.s.Checkpoint()
	require.NotNil(t, cp.Unanswered)
	assert.Equal(t, sentinel.UnansweredState{Forgiveness: "over", Lost: 60}, *cp.Unanswered)
	back := viaJSON(t, cp)

	r2, lr2 := servingRig(t, newListingRouter(), nil)
	require.NoError(t, r2.s.Restore(back))
	assert.EqualValues(t, 60, r2.s.Status().Serving.Lost)
	lr2.setReady("canary", 0)
	r2.tick(lostTick(60))
	judgedNext(t, r2)

	for field, bad := range map[string]sentinel.UnansweredState{
		"Checkpoint.Unanswered.Held":        {Held: -1},
		"Checkpoint.Unanswered.Lost":        {Lost: -2},
		"Checkpoint.Unanswered.Forgiveness": {Forgiveness: "maybe"},
	} {
		cp := back
		cp.Unanswered = &bad
		err := r.s.Restore(cp)
		assert.ErrorIs(t, err, sentinel.ErrBadCheckpoint, field)
		assert.ErrorContains(t, err, field)
	}
}

// A checkpoint cannot hold more calls from the judge than the step's
// candidate failed: held calls are errors of the step's last tick (a step
// does not end while some are held). A hostile or corrupt one is refused
// before anything moves, rather than giving the judge calls that never
// happened.
func TestACheckpointHoldsNoMoreCallsThanTheStepFailed(t *testing.T) {
	r, _ := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	r.tick(lostTick(60)) // no endpoint lost: held
	cp := r.s.Checkpoint()
	require.NotNil(t, cp.Unanswered)
	require.EqualValues(t, 60, cp.Unanswered.Held)

	bad := cp
	bad.Unanswered = &sentinel.UnansweredState{Held: 1 << 62}
	r2, _ := servingRig(t, newListingRouter(), nil)
	err := r2.s.Restore(bad)
	require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
	assert.ErrorContains(t, err, "Checkpoint.Unanswered.Held")
	assert.ErrorContains(t, err, "the step's candidate failed 60")
	assert.Equal(t, 0, r2.split.Weight("canary"), "nothing moved")

	require.NoError(t, r2.s.Restore(cp), "the checkpoint as it was")
	judgedNext(t, r2)
}

// A standby that takes the rollout over on the tick after a lost endpoint
// (the checkpoint's "stragglers") forgives that tick's stragglers and no
// more: a candidate that goes on losing calls is judged on them there too.
func TestAStandbyTakingOverAfterALostEndpointForgivesNoMore(t *testing.T) {
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(1000)
	lr.setReady("canary", 1)
	r.tick(lostTick(60))
	cp := r.s.Checkpoint()
	require.NotNil(t, cp.Unanswered)
	require.Equal(t, sentinel.UnansweredState{Forgiveness: "stragglers", Lost: 60}, *cp.Unanswered)
	back := viaJSON(t, cp)

	r2, lr2 := servingRig(t, newListingRouter(), nil)
	require.NoError(t, r2.s.Restore(back))
	lr2.setReady("canary", 1)
	r2.tick(lostTick(5)) // the stragglers: forgiven
	assert.EqualValues(t, 65, r2.s.Status().Serving.Lost)
	var e sentinel.Event
	for i := 0; i < 4 && !r2.s.Status().Phase.Final(); i++ {
		e = r2.tick(lostTick(120)) // goes on losing 20 %
	}
	require.Equal(t, sentinel.PhaseRolledBack, r2.s.Status().Phase, e.Reason)
	assert.Equal(t, judge.TestErrors, e.Verdict.Test, e.Reason)
	assert.EqualValues(t, 65, r2.s.Status().Serving.Lost, "no more forgiven")
}

// A standby that takes a healthy rollout over and loses one candidate
// server of several on its very first tick sees the loss, from its own
// router's ready endpoints when it restored: the calls in flight on the
// lost server are put down to the loss, not judged, and the rollout goes
// on. (Without the restored sentinel's own count, its first tick knew no
// last one, held the calls and failed the candidate on them.)
func TestAStandbyLosingAServerOnItsFirstTickSeesTheLoss(t *testing.T) {
	r, _ := servingRig(t, newListingRouter(), nil)
	r.toStep(5000)
	r.tick(healthy())
	cp := r.s.Checkpoint()
	require.Nil(t, cp.Unanswered, "no loss yet")

	r2, lr2 := servingRig(t, newListingRouter(), nil)
	require.NoError(t, r2.s.Restore(cp))
	lr2.setReady("canary", 1)
	e := r2.tick(lostTick(60))
	require.Equal(t, sentinel.PhaseProgressing, r2.s.Status().Phase, e.Reason)
	assert.EqualValues(t, 60, r2.s.Status().Serving.Lost, "put down to the loss, not held: %s", r2.s.Status().Serving.Reason)
	for range 3 {
		e = r2.tick(healthy())
	}
	require.NotEqual(t, sentinel.PhaseRolledBack, r2.s.Status().Phase, e.Reason)
}

// downFor20s is a rollout at 50 % whose candidate has had no ready
// endpoint for the last 20 s (RollbackAfter is 30 s).
func downFor20s(t *testing.T) *rig {
	t.Helper()
	r, lr := servingRig(t, newListingRouter(), nil)
	r.toStep(5000)
	for range 5 {
		r.tick(healthy())
	}
	lr.setReady("canary", 0)
	for range 20 {
		r.tick(fallenBack(500))
	}
	return r
}

// rolledBackAfter10s checks that r, its candidate down for 20 s, is rolled
// back as unavailable on the tenth tick more: its outage counted from its
// start.
func rolledBackAfter10s(t *testing.T, r *rig) {
	t.Helper()
	var e sentinel.Event
	ticks := 0
	for ; ticks < 60 && !r.s.Status().Phase.Final(); ticks++ {
		e = r.tick(fallenBack(500))
		if ticks == 0 {
			assert.GreaterOrEqual(t, r.s.Status().Serving.DownFor, 20*time.Second, e.Reason)
		}
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	assert.Equal(t, 10, ticks, "rolled back when it had not served for 30 s")
	assert.Contains(t, e.Reason, "not serving for 30s")
}

// A sentinel that carries its own rollout on while the candidate is down
// (a fleet's leader reloading its checkpoint) keeps the candidate's streak
// of not serving: RollbackAfter's clock runs on from the outage's start and
// the down alert is not repeated. Restarting them at each reload could put
// the rollback off for ever.
func TestRestoringItsOwnRolloutKeepsTheCandidatesDownStreak(t *testing.T) {
	r := downFor20s(t)
	require.NoError(t, r.s.Restore(r.s.Checkpoint()))
	rolledBackAfter10s(t, r)
	require.NoError(t, r.s.Close())
	assert.Len(t, r.alerts.availability(), 1, "one alert for the outage, not one a reload")
}

// A standby that takes a rollout over while the candidate is down carries
// the candidate's streak of not serving on from the checkpoint: it rolls
// back as unavailable when the outage, counted from its start under the
// old leader, reaches RollbackAfter, and does not raise the alert the old
// leader raised. A checkpoint whose streak cannot be is refused, naming
// the field; one from a clock ahead of this one's is taken as now.
func TestAStandbyTakingOverDuringAnOutageKeepsItsClock(t *testing.T) {
	r := downFor20s(t)
	cp := r.s.Checkpoint()
	require.NotNil(t, cp.Down)
	assert.Equal(t, 1, cp.Down.Downs)
	assert.True(t, cp.Down.Alerted)
	back := viaJSON(t, cp)

	r2, lr2 := servingRig(t, newListingRouter(), nil)
	r2.clock.Advance(r.clock.Now().Sub(r2.clock.Now())) // the same wall clock
	lr2.setReady("canary", 0)
	require.NoError(t, r2.s.Restore(back))
	rolledBackAfter10s(t, r2)
	require.NoError(t, r2.s.Close())
	assert.Empty(t, r2.alerts.availability(), "the old leader's alert is not repeated")

	for field, bad := range map[string]sentinel.DownState{
		"Checkpoint.Down.Downs": {Since: time.Unix(1, 0), Downs: -1},
		"Checkpoint.Down.Since": {Downs: 2},
	} {
		c := back
		c.Down = &bad
		err := r.s.Restore(c)
		assert.ErrorIs(t, err, sentinel.ErrBadCheckpoint, field)
		assert.ErrorContains(t, err, field)
	}

	ahead := back
	ahead.Down = &sentinel.DownState{Since: r.clock.Now().Add(time.Hour), Downs: 1}
	r3, lr3 := servingRig(t, newListingRouter(), nil)
	lr3.setReady("canary", 0)
	require.NoError(t, r3.s.Restore(ahead))
	r3.tick(fallenBack(500))
	d := r3.s.Status().Serving.DownFor
	assert.True(t, d > 0 && d <= 2*time.Second, "a streak from a clock ahead is taken as beginning now: %v", d)

	early := back
	early.Down = &sentinel.DownState{Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Downs: 1}
	r4, lr4 := servingRig(t, newListingRouter(), nil)
	r4.clock.Advance(r.clock.Now().Sub(r4.clock.Now()))
	lr4.setReady("canary", 0)
	require.NoError(t, r4.s.Restore(early))
	r4.tick(fallenBack(500))
	assert.LessOrEqual(t, r4.s.Status().Serving.DownFor, r4.clock.Now().Sub(back.Started),
		"a streak from before the rollout began is taken as begun with it")

	require.NoError(t, r.s.Close())
	assert.Len(t, r.alerts.availability(), 1, "the old leader alerted")
}

// A crash loop taken over (or reloaded) on one of its up ticks is not
// taken for a candidate back in service: the restored record begins at
// the restore, and the candidate must serve through a whole span of it
// before its streak of not serving ends, as through a span of an unbroken
// record. It is rolled back as unavailable, never promoted. (Without it,
// the first healthy tick after the restore ended the streak and the
// rollout went on to promote the crash loop.)
func TestACrashLoopTakenOverOnAnUpTickIsNotPromoted(t *testing.T) {
	loop := func(r *rig, lr *listingRouter, i int) sentinel.Event {
		if i%6 < 3 {
			lr.setReady("canary", 0)
			return r.tick(fallenBack(500))
		}
		lr.setReady("canary", 2)
		return r.tick(healthy())
	}
	for _, at := range []int{20, 21} { // a down tick, an up tick
		t.Run(fmt.Sprint("restored after tick ", at), func(t *testing.T) {
			r, lr := servingRig(t, newListingRouter(), nil)
			r.toStep(1000)
			i := 0
			for ; i <= at; i++ {
				loop(r, lr, i)
			}
			require.False(t, r.s.Status().Phase.Final())
			cp := r.s.Checkpoint()
			require.NotNil(t, cp.Down)

			r2, lr2 := servingRig(t, newListingRouter(), nil)
			r2.clock.Advance(r.clock.Now().Sub(r2.clock.Now()))
			require.NoError(t, r2.s.Restore(cp))
			var e sentinel.Event
			for ; i < 120 && !r2.s.Status().Phase.Final(); i++ {
				e = loop(r2, lr2, i)
				require.NotEqual(t, sentinel.ActionPromote, e.Action, "tick %d: %s", i, e.Reason)
				if i == 24 { // the loop's first crash after the restore
					assert.Equal(t, cp.Down.Downs+1, r2.s.Status().Serving.Downs, "the crashes counted on")
				}
			}
			require.Equal(t, sentinel.PhaseRolledBack, r2.s.Status().Phase, e.Reason)
			assert.Contains(t, e.Reason, "unavailable")
			assert.Less(t, i, 40, "within RollbackAfter of the loop's first crash, and a span")
		})
	}
}

// The alert that a candidate is down is not raised again within
// RollbackAfter of the last one, also across a restore: a standby that
// takes over after the candidate came back keeps the time of the old
// leader's alert, and the candidate's next outage soon after raises none.
func TestAStandbyKeepsTheLastDownAlertsTime(t *testing.T) {
	r, lr := longStepRig(t)
	r.tick(healthy())
	lr.setReady("canary", 0)
	for range 8 {
		r.tick(fallenBack(500))
	}
	lr.setReady("canary", 2)
	for range 8 {
		r.tick(healthy()) // back in service: the streak ends
	}
	cp := r.s.Checkpoint()
	require.NotNil(t, cp.Down, "the last alert's time is kept")
	assert.True(t, cp.Down.Since.IsZero())
	assert.False(t, cp.Down.AlertedAt.IsZero())

	r2, lr2 := longStepRig(t)
	r2.clock.Advance(r.clock.Now().Sub(r2.clock.Now()))
	require.NoError(t, r2.s.Restore(cp))
	lr2.setReady("canary", 0)
	for range 8 {
		r2.tick(fallenBack(500)) // down again, 17 s after the first alert
	}
	require.Equal(t, sentinel.PhaseProgressing, r2.s.Status().Phase)
	require.NoError(t, r.s.Close())
	require.NoError(t, r2.s.Close())
	assert.Len(t, r.alerts.availability(), 1, "the old leader alerted")
	assert.Empty(t, r2.alerts.availability(), "no second alert within RollbackAfter of the first")
}

// viaJSON is cp as a standby reads it: written as JSON and read back.
func viaJSON(t *testing.T, cp sentinel.Checkpoint) sentinel.Checkpoint {
	t.Helper()
	js, err := json.Marshal(cp)
	require.NoError(t, err)
	var back sentinel.Checkpoint
	require.NoError(t, json.Unmarshal(js, &back))
	return back
}

// A careless restore: a checkpoint saved while the candidate was down,
// hand-set back to pending to start the rollout again once the candidate
// was mended. The old outage must not follow the new rollout: it starts
// with no streak, raises no down alert and is not rolled back as
// unavailable for the outage of the old one.
func TestAnOutageDoesNotFollowARolloutRestoredToPending(t *testing.T) {
	r := downFor20s(t)
	cp := viaJSON(t, r.s.Checkpoint())
	require.NotNil(t, cp.Down)
	cp.Phase, cp.Step = sentinel.PhasePending, 0
	cp.Weights = []balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}}

	r2, lr2 := longStepRig(t)
	r2.clock.Advance(r.clock.Now().Sub(r2.clock.Now()))
	require.NoError(t, r2.s.Restore(cp))
	r2.tick(healthy()) // the rollout starts again
	require.Equal(t, sentinel.PhaseProgressing, r2.s.Status().Phase)
	lr2.setReady("canary", 0) // a new outage of 12 s, under RollbackAfter
	var most time.Duration
	for range 12 {
		r2.tick(fallenBack(500))
		most = max(most, r2.s.Status().Serving.DownFor)
	}
	lr2.setReady("canary", 2)
	for range 8 {
		r2.tick(healthy())
	}
	st := r2.s.Status()
	assert.NotEqual(t, sentinel.PhaseRolledBack, st.Phase, st.LastDecision.Reason)
	assert.LessOrEqual(t, most, 13*time.Second, "the new outage counted alone")
	assert.Zero(t, st.Serving.DownFor, st.Serving.Reason)
	require.NoError(t, r.s.Close())
	require.NoError(t, r2.s.Close())
	assert.Len(t, r2.alerts.availability(), 1, "the new outage's alert, once")
}
