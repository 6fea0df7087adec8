package sentinel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

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

func TestCanaryHealthyIsPromotedStepByStep(t *testing.T) {
	r := newRig(t, nil)
	assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase)
	e := r.tick(healthy())
	assert.Equal(t, sentinel.ActionStart, e.Action)
	assert.Equal(t, sentinel.PhaseProgressing, e.Phase)
	assert.Equal(t, 100, r.split.Weight("canary"))

	var weights []int
	for i := 0; i < 200 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		e = r.tick(healthy())
		if e.Action == sentinel.ActionAdvance {
			weights = append(weights, r.split.Weight("canary"))
			// The event shows the step that passed: its calls and the
			// judge's pass, not the new step's empty figures.
			assert.GreaterOrEqual(t, e.Figures["canary"].Calls, int64(600*10), "step %d's calls", e.Step-1)
			assert.GreaterOrEqual(t, e.Figures["stable"].Calls, int64(900*10))
			require.NotNil(t, e.Verdict)
			assert.Equal(t, judge.Pass, e.Verdict.Outcome, e.Verdict.Reason)
		}
	}
	assert.Equal(t, []int{500, 2500, 5000}, weights)
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	assert.Equal(t, 4, r.s.Status().Step, "steps 1%, 5%, 25%, 50%, then promotion from the 50% step")
	// Each step lasted at least its minimum duration.
	st := r.s.Status()
	var starts []time.Time
	for _, e := range st.Events {
		if e.Action == sentinel.ActionStart || e.Action == sentinel.ActionAdvance || e.Action == sentinel.ActionPromote {
			starts = append(starts, e.Time)
		}
	}
	require.Len(t, starts, 5)
	for i := 1; i < len(starts); i++ {
		assert.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), 10*time.Second)
	}
	// A final phase holds.
	e = r.tick(healthy())
	assert.Equal(t, sentinel.ActionHold, e.Action)
	assert.Equal(t, "the rollout is promoted", e.Reason)
	require.NoError(t, r.s.Close()) // delivers the queued alerts
	assert.Equal(t, []sentinel.Action{sentinel.ActionPromote}, r.alerts.actions(), "the promotion alerts")
}

func TestCanaryRollsBackOnErrors(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	var e sentinel.Event
	for i := 0; i < 30 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		e = r.tick(window(900, 4, 100, 5, 0.02, 0.02)) // 0.5 % against 5 %
	}
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Equal(t, 0, r.split.Weight("canary"))
	require.NotNil(t, e.Verdict)
	assert.Equal(t, judge.Fail, e.Verdict.Outcome)
	assert.Equal(t, judge.TestErrors, e.Verdict.Test)
	require.NotNil(t, e.Verdict.Evidence)
	assert.Greater(t, e.Verdict.Evidence.Statistic, e.Verdict.Evidence.Threshold)
	assert.Positive(t, e.Figures["canary"].Errors)
	require.NoError(t, r.s.Close()) // delivers the queued alerts
	assert.Equal(t, []sentinel.Action{sentinel.ActionRollback}, r.alerts.actions())
}

func TestNoDataNeverMovesTheRollout(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	for range 120 {
		e := r.tick(&telemetry.Window{})
		assert.Equal(t, sentinel.ActionHold, e.Action)
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Equal(t, 1, r.s.Status().Step)
	assert.Equal(t, judge.Inconclusive, r.s.Status().Verdict.Outcome)
}

func TestPauseResumeAndRollbackWhilePaused(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.tick(healthy())
	require.NoError(t, r.s.Pause(ctx, "alice", "looking at a dashboard"))
	assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)
	for range 30 {
		r.tick(healthy())
	}
	assert.Equal(t, 1, r.s.Status().Step, "a paused rollout does not advance")
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.ErrorIs(t, r.s.Pause(ctx, "alice", ""), sentinel.ErrTransition)

	require.NoError(t, r.s.Resume(ctx, "alice", ""))
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.ErrorIs(t, r.s.Resume(ctx, "alice", ""), sentinel.ErrTransition)
	for i := 0; i < 30 && r.s.Status().Step == 1; i++ {
		r.tick(healthy())
	}
	assert.Equal(t, 2, r.s.Status().Step, "resumed, it advances")

	require.NoError(t, r.s.Pause(ctx, "bob", ""))
	for i := 0; i < 30 && r.s.Status().Phase == sentinel.PhasePaused; i++ {
		r.tick(window(900, 4, 100, 10, 0.02, 0.02))
	}
	assert.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, "a failing candidate is rolled back even while paused")
	assert.ErrorIs(t, r.s.Resume(ctx, "bob", ""), sentinel.ErrTransition)

	st := r.s.Status()
	var who []string
	for _, e := range st.Events {
		if e.Action == sentinel.ActionPause || e.Action == sentinel.ActionResume {
			who = append(who, string(e.Action)+":"+e.Who)
		}
	}
	assert.Equal(t, []string{"pause:alice", "resume:alice", "pause:bob"}, who)
}

func TestManualPromoteAbortAndSetWeight(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	require.NoError(t, r.s.Promote(ctx, "carol", "looks good"))
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	assert.ErrorIs(t, r.s.Abort(ctx, "carol", ""), sentinel.ErrTransition)

	r = newRig(t, nil)
	r.tick(healthy())
	require.NoError(t, r.s.SetWeight(ctx, "dan", "", 3000))
	assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase, "a weight set by hand holds the rollout there")
	assert.Equal(t, 3000, r.split.Weight("canary"))
	assert.ErrorIs(t, r.s.SetWeight(ctx, "dan", "", 10001), balancer.ErrBadWeights)
	require.NoError(t, r.s.Abort(ctx, "dan", "wrong build"))
	assert.Equal(t, sentinel.PhaseAborted, r.s.Status().Phase)
	assert.Equal(t, 0, r.split.Weight("canary"))
	assert.ErrorIs(t, r.s.Promote(ctx, "dan", ""), sentinel.ErrTransition)
	assert.ErrorIs(t, r.s.SetWeight(ctx, "dan", "", 10), sentinel.ErrTransition)
}

// A careless or hostile caller's megabyte of reason (or who) is refused,
// naming the field, and changes nothing: each is kept in every event, the
// lifecycle's log, a fleet's history in etcd and every alert.
func TestManualControlsRefuseOversizedNotes(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	r.tick(healthy())
	before := r.s.Status()
	huge := strings.Repeat("x", 1<<20)
	for name, err := range map[string]error{
		"pause reason":      r.s.Pause(ctx, "eve", huge),
		"abort who":         r.s.Abort(ctx, huge, "why"),
		"set-weight reason": r.s.SetWeight(ctx, "eve", huge, 5000),
	} {
		require.ErrorIs(t, err, sentinel.ErrBadOption, name)
		assert.ErrorContains(t, err, "1048576 bytes", name)
	}
	after := r.s.Status()
	assert.Equal(t, before.Phase, after.Phase)
	assert.Equal(t, len(before.Events), len(after.Events), "no event")
	assert.Equal(t, 100, r.split.Weight("canary"), "the weights untouched")
	require.NoError(t, r.s.Pause(ctx, strings.Repeat("w", 256), strings.Repeat("r", 4096)), "at the bounds")
}

func TestSourceFailureHoldsAndAlertsOnce(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	r.src.Set(nil, errors.New("collector down"))
	for range 3 {
		r.clock.Advance(time.Second)
		e := r.s.Tick(context.Background())
		assert.Equal(t, sentinel.ActionSourceFail, e.Action)
		assert.Contains(t, e.Reason, "collector down")
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.Equal(t, "collector down", r.s.Status().SourceError)
	r.tick(healthy())
	assert.Empty(t, r.s.Status().SourceError)
	require.NoError(t, r.s.Close()) // delivers the queued alerts
	assert.Equal(t, []sentinel.Action{sentinel.ActionSourceFail}, r.alerts.actions(), "one alert per failure streak")

	r = newRig(t, nil, sentinel.WithRollbackOnSourceError(true))
	r.tick(healthy())
	r.src.Set(nil, errors.New("collector down"))
	e := r.s.Tick(context.Background())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
}

type failing struct{ err error }

func (f failing) Name() string { return "failing" }
func (f failing) Decide(context.Context, *sentinel.State) (sentinel.Decision, error) {
	return sentinel.Decision{}, f.err
}

func TestPolicyFailureHoldsOrRollsBack(t *testing.T) {
	r := newRig(t, failing{errors.New("script crashed")})
	e := r.tick(healthy())
	assert.Equal(t, sentinel.ActionPolicyFail, e.Action)
	assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase)
	assert.Equal(t, "script crashed", r.s.Status().PolicyError)

	r = newRig(t, failing{errors.New("script crashed")}, sentinel.WithRollbackOnPolicyError(true))
	require.NoError(t, r.s.SetWeight(context.Background(), "op", "", 500))
	e = r.tick(healthy())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Equal(t, 0, r.split.Weight("canary"))
}

func TestDryRunNeverMovesWeights(t *testing.T) {
	r := newRig(t, nil, sentinel.WithDryRun(true))
	for i := 0; i < 300 && !r.s.Status().Phase.Final(); i++ {
		r.tick(healthy())
	}
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, "it judges and reports")
	assert.Equal(t, 0, r.split.Weight("canary"), "but never moves a weight")
	assert.EqualValues(t, 1, r.split.Generation())
	for _, e := range r.s.Status().Events {
		assert.True(t, e.DryRun)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "a", Weight: 10000}, balancer.Weight{Version: "b", Weight: 0}, balancer.Weight{Version: "c", Weight: 0})
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	src := new(fakeSource)
	cases := map[string][]sentinel.Option{
		`WithVersions baseline = "x": not a version of the router (it has ["a" "b" "c"])`: {sentinel.WithVersions("x", "b")},
		`WithVersions candidate = "y": not a version`:                                     {sentinel.WithVersions("a", "y")},
		`WithVersions = "a": the baseline and the candidate are the same version`:         {sentinel.WithVersions("a", "a")},
		"WithInterval = -1s: want a positive duration":                                    {sentinel.WithInterval(-time.Second)},
		"WithInterval = 250ns: want at least 10ms: a bare number is nanoseconds":          {sentinel.WithInterval(250)},
		"WithHistory = 0: want at least 1 tick":                                           {sentinel.WithHistory(0)},
		"WithJudge.Alpha = 2":                                                             {sentinel.WithJudge(judge.Config{Alpha: 2})},
		"opts[1]: the option is nil":                                                      {sentinel.WithDryRun(true), nil},
		"WithAlerters[0]: the alerter is nil":                                             {sentinel.WithAlerters(nil)},
		"WithAlertTimeout = 0s: want a positive duration":                                 {sentinel.WithAlertTimeout(0)},
		"WithCloseTimeout = -1s: want a positive duration":                                {sentinel.WithCloseTimeout(-time.Second)},
	}
	for want, opts := range cases {
		_, err := sentinel.New(split, src, c, opts...)
		assert.ErrorIs(t, err, sentinel.ErrBadOption, want)
		assert.ErrorContains(t, err, "ninelives: bad sentinel option: "+want)
	}
	_, err = sentinel.New(nil, src, c)
	assert.ErrorContains(t, err, "router: it is nil")
	var none *balancer.Split
	_, err = sentinel.New(none, src, c)
	assert.ErrorContains(t, err, "router: it is nil", "a nil *Split is no router either")
	_, err = sentinel.New(split, nil, c)
	assert.ErrorContains(t, err, "source: it is nil")

	for want, cfg := range map[string]sentinel.CanaryConfig{
		"Steps[1] = 100: want more than 500": {Steps: []int{500, 100}},
		"Steps[0] = 20000":                   {Steps: []int{20000}},
		"MinStepDuration = -1s":              {MinStepDuration: -time.Second},
		"CanaryConfig.Steps: empty":          {Steps: []int{}},
		"CanaryConfig.Steps = [10 50 100]: looks like percent, but steps are basis points (10000 = 100 %): it would run 0.1% → 0.5% → 1% → 100%; write [1000 5000 10000] for those percentages": {Steps: []int{10, 50, 100}},
		"CanaryConfig.Steps = [25]: looks like percent": {Steps: []int{25}},
	} {
		_, err := sentinel.NewCanary(cfg)
		assert.ErrorContains(t, err, want)
	}
	// Steps this small on purpose end with 10000.
	_, err = sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{10, 50, 100, 10000}})
	assert.NoError(t, err)
}

func TestRunStopsAtAFinalPhase(t *testing.T) {
	r := newRig(t, nil)
	done := make(chan error, 1)
	go func() { done <- r.s.Run(context.Background()) }()
	r.src.Set(window(900, 4, 100, 10, 0.02, 0.02), nil)
	for i := 0; i < 100; i++ {
		select {
		case err := <-done:
			require.NoError(t, err)
			assert.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
			return
		case r.clock.Ticks <- r.clock.Now():
			r.clock.Advance(time.Second)
		}
	}
	t.Fatal("Run did not stop at the rollback")
}

func TestTickAfterCloseDoesNothing(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	require.NoError(t, r.s.Close())
	w := r.split.Weights()
	for range 3 {
		e := r.tick(window(900, 4, 100, 10, 0.02, 0.02))
		assert.Equal(t, sentinel.ActionHold, e.Action)
		assert.Equal(t, "the sentinel is closed", e.Reason)
	}
	assert.Equal(t, w, r.split.Weights())
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	require.NoError(t, r.s.Close(), "Close is idempotent")
}

func TestPhaseValid(t *testing.T) {
	for _, p := range []sentinel.Phase{sentinel.PhasePending, sentinel.PhaseProgressing, sentinel.PhasePaused,
		sentinel.PhasePromoted, sentinel.PhaseRolledBack, sentinel.PhaseAborted} {
		assert.True(t, p.Valid(), p)
	}
	assert.False(t, sentinel.Phase("rolling").Valid())
	assert.False(t, sentinel.Phase("").Valid())
}

// byWeights is a healthy tick of n calls shared between the versions as
// the split's weights share them now.
func byWeights(split *balancer.Split, n int64) *telemetry.Window {
	cand := n * int64(split.Weight("canary")) / balancer.TotalWeight
	return window(n-cand, 0, cand, 0, 0.02, 0.02)
}

func TestPauseBeforeTheFirstStepThenResumeStarts(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	require.NoError(t, r.s.Pause(ctx, "alice", "not yet"))
	for range 5 {
		assert.Equal(t, sentinel.ActionHold, r.tick(byWeights(r.split, 2000)).Action)
	}
	assert.Equal(t, 0, r.split.Weight("canary"), "paused before the first step: nothing moved")

	require.NoError(t, r.s.Resume(ctx, "alice", ""))
	assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase, "resumed before its first step, the rollout is pending again")
	e := r.tick(byWeights(r.split, 2000))
	assert.Equal(t, sentinel.ActionStart, e.Action, e.Reason)
	assert.Equal(t, 100, r.split.Weight("canary"))
	for i := 0; i < 300 && !r.s.Status().Phase.Final(); i++ {
		e = r.tick(byWeights(r.split, 2000))
	}
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, e.Reason)
}

func TestSetWeightBeginsAStepAndTheCanaryGoesOnUpwards(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	for range 5 {
		r.tick(byWeights(r.split, 2000))
	}
	require.Equal(t, 1, r.s.Status().Step)
	require.Equal(t, 100, r.split.Weight("canary"))
	require.Positive(t, r.s.Checkpoint().Judge.Errors.StepCalls)

	require.NoError(t, r.s.SetWeight(ctx, "dan", "", 3000))
	assert.Equal(t, 2, r.s.Status().Step, "a weight set by hand begins a step")
	cp := r.s.Checkpoint()
	assert.Equal(t, "30%", cp.StepName)
	assert.Zero(t, cp.Judge.Errors.StepCalls, "the new step's counts start afresh")
	assert.Zero(t, cp.StepWindow.Version("canary").Role(balancer.RolePrimary).Calls)

	require.NoError(t, r.s.Resume(ctx, "dan", ""))
	var advances []sentinel.Event
	var atThirty int64 // the 30 % step's candidate calls before it advanced
	for i := 0; i < 300 && !r.s.Status().Phase.Final(); i++ {
		e := r.tick(byWeights(r.split, 2000))
		assert.GreaterOrEqual(t, r.split.Weight("canary"), 3000, "the weight never drops below the one set by hand")
		if e.Action == sentinel.ActionAdvance {
			advances = append(advances, e)
		}
		if len(advances) == 0 {
			atThirty = r.s.Checkpoint().StepWindow.Version("canary").Role(balancer.RolePrimary).Calls
			assert.Equal(t, int64(i+1)*600, atThirty, "the step holds calls at 30 % only")
		}
	}
	require.NotEmpty(t, advances)
	assert.Equal(t, 5000, weightOf(advances[0].Weights, "canary"), "on from 30 % to the first step above it, 50 %")
	assert.GreaterOrEqual(t, atThirty, int64(500), "the 30 % step passed on the judge's 500 calls at 30 %")
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
}

// hookSource runs a function at the start of each collection.
type hookSource struct {
	*fakeSource
	hook func()
}

func (h hookSource) Collect(ctx context.Context) (*telemetry.Window, error) {
	if h.hook != nil {
		h.hook()
	}
	return h.fakeSource.Collect(ctx)
}

func TestALookSpanningAManualWeightChangeIsLeftOut(t *testing.T) {
	ctx := context.Background()
	looks := func(r *rig) int { return r.s.Checkpoint().Judge.Errors.Looks }

	t.Run("between ticks", func(t *testing.T) {
		r := newRig(t, nil)
		for range 3 {
			r.tick(byWeights(r.split, 2000))
		}
		require.Equal(t, 3, looks(r), "one look a tick, the start's included")
		require.NoError(t, r.s.SetWeight(ctx, "dan", "", 3000))
		r.tick(window(1930, 0, 70, 0, 0.02, 0.02)) // part of it at 1 %, part at 30 %
		assert.Equal(t, 3, looks(r), "the window that spans the change is left out")
		r.tick(byWeights(r.split, 2000))
		assert.Equal(t, 4, looks(r), "the next one, all at 30 %, counts")
	})

	t.Run("during a collection", func(t *testing.T) {
		var hook func()
		src := hookSource{fakeSource: new(fakeSource)}
		r := newRig(t, nil)
		s, err := sentinel.New(r.split, &src, mustCanary(t), sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		r.s, r.src = s, src.fakeSource
		src.hook = func() {
			if hook != nil {
				hook()
			}
		}
		for range 3 {
			r.tick(byWeights(r.split, 2000))
		}
		require.Equal(t, 3, looks(r))
		hook = func() { require.NoError(t, r.s.SetWeight(ctx, "dan", "", 3000)); hook = nil }
		r.tick(window(1930, 0, 70, 0, 0.02, 0.02))
		assert.Equal(t, 3, looks(r), "the window collected while the weight changed is left out")
		r.tick(window(1930, 0, 70, 0, 0.02, 0.02))
		assert.Equal(t, 3, looks(r), "and so is the next: the change may fall in either")
		r.tick(byWeights(r.split, 2000))
		assert.Equal(t, 4, looks(r))
	})
}

func mustCanary(t *testing.T) sentinel.Strategy {
	t.Helper()
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: 10 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	return c
}

// cappedSplit gives a third version, "other", 1500 bp that the sentinel
// leaves alone: the candidate can have at most 8500.
func cappedSplit() *balancer.Split {
	return balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 8500}, balancer.Weight{Version: "canary", Weight: 0},
		balancer.Weight{Version: "other", Weight: 1500})
}

func TestACappedStepAdvancesOnceAndPromotes(t *testing.T) {
	cfg := sentinel.CanaryConfig{Steps: []int{100, 9000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100}
	st, err := sentinel.NewCanary(cfg)
	require.NoError(t, err)
	r := newRigOn(t, cappedSplit(), st)
	var advances []string
	for i := 0; i < 300 && !r.s.Status().Phase.Final() && len(advances) < 3; i++ {
		e := r.tick(byWeights(r.split, 2000))
		if e.Action == sentinel.ActionAdvance {
			advances = append(advances, e.StepName)
			if len(advances) == 1 {
				assert.Equal(t, 8500, r.split.Weight("canary"), "90 % is capped to what other leaves")
				assert.Equal(t, 9000, r.s.Checkpoint().TargetWeight, "the target is the step's weight before capping")
			}
		}
	}
	assert.Equal(t, []string{"90%"}, advances, "the capped step is taken once")
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, "past the last step below 10000 the canary promotes")
	assert.Equal(t, 1500, r.split.Weight("other"), "the other version keeps its weight")
}

func TestARestoredTargetAboveTheCapIsKept(t *testing.T) {
	ctx := context.Background()
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{100, 8600, 10000}, MinStepDuration: 10 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	r := newRigOn(t, cappedSplit(), c)
	require.Equal(t, sentinel.ActionStart, r.tick(byWeights(r.split, 2000)).Action)
	require.NoError(t, r.s.SetWeight(ctx, "dan", "", 8700))
	require.Equal(t, 8500, r.split.Weight("canary"), "capped")
	cp := roundTrip(t, r.s.Checkpoint())
	require.Equal(t, 8700, cp.TargetWeight, "the weight set by hand, before capping")

	split := cappedSplit()
	s, err := restored(t, split, r.src, c, cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s, r.split = s, split
	require.NoError(t, r.s.Resume(ctx, "dan", ""))
	var e sentinel.Event
	for i := 0; i < 300 && e.Action != sentinel.ActionAdvance && !r.s.Status().Phase.Final(); i++ {
		e = r.tick(byWeights(r.split, 2000))
	}
	assert.Equal(t, sentinel.ActionPromote, e.Action, "on upwards from 87 %%, not from the capped 85 %%: %s %s", e.Action, e.StepName)
}

func TestSetWeightToTheSameWeightBeginsNoStep(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		split  *balancer.Split
		weight int
	}{
		{"plain", nil, 3000},
		{"capped", cappedSplit(), 9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *rig
			if tc.split == nil {
				r = newRig(t, nil)
			} else {
				r = newRigOn(t, tc.split, nil)
			}
			r.tick(byWeights(r.split, 2000))
			require.NoError(t, r.s.SetWeight(ctx, "dan", "", tc.weight))
			require.Equal(t, 2, r.s.Status().Step)
			r.tick(byWeights(r.split, 2000))
			calls := r.s.Checkpoint().StepWindow.Version("canary").Role(balancer.RolePrimary).Calls
			require.Positive(t, calls)

			require.NoError(t, r.s.SetWeight(ctx, "dan", "", tc.weight))
			assert.Equal(t, 2, r.s.Status().Step, "the same weight again begins no step")
			assert.Equal(t, calls, r.s.Checkpoint().StepWindow.Version("canary").Role(balancer.RolePrimary).Calls, "the step keeps its calls")
		})
	}
}

// decideFunc is a strategy made of a function.
type decideFunc func(s *sentinel.State) sentinel.Decision

func (f decideFunc) Name() string { return "func" }
func (f decideFunc) Decide(_ context.Context, s *sentinel.State) (sentinel.Decision, error) {
	return f(s), nil
}

func TestTheTicksOwnWeightChangeAndAnOutsideOne(t *testing.T) {
	looks := func(r *rig) int { return r.s.Checkpoint().Judge.Errors.Looks }
	// setup makes a rollout at 1 % whose strategy advances to 5 % when
	// told, and whose source runs hook (if set) as it collects.
	setup := func(t *testing.T) (r *rig, advance *bool, hook *func()) {
		advance, hook = new(bool), new(func())
		st := decideFunc(func(s *sentinel.State) sentinel.Decision {
			switch {
			case s.Phase == sentinel.PhasePending:
				return sentinel.Decision{Action: sentinel.ActionStart, Weight: 100, StepName: "1%", Reason: "start"}
			case *advance:
				*advance = false
				return sentinel.Decision{Action: sentinel.ActionAdvance, Weight: 500, StepName: "5%", Reason: "on"}
			}
			return sentinel.Decision{Action: sentinel.ActionHold, Reason: "waiting"}
		})
		src := &hookSource{fakeSource: new(fakeSource), hook: func() {
			if f := *hook; f != nil {
				*hook = nil
				f()
			}
		}}
		r = newRig(t, nil)
		s, err := sentinel.New(r.split, src, st, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		r.s, r.src = s, src.fakeSource
		for range 3 {
			r.tick(byWeights(r.split, 2000))
		}
		require.Equal(t, 3, looks(r))
		return r, advance, hook
	}

	t.Run("the tick's own change ends a look cleanly", func(t *testing.T) {
		r, advance, _ := setup(t)
		*advance = true
		require.Equal(t, sentinel.ActionAdvance, r.tick(byWeights(r.split, 2000)).Action)
		assert.Equal(t, 4, looks(r), "the look before the change counts")
		r.tick(byWeights(r.split, 2000))
		assert.Equal(t, 5, looks(r), "and so does the look after it")
	})

	t.Run("an outside change during the collection leaves the next look out too", func(t *testing.T) {
		r, advance, hook := setup(t)
		*hook = func() { require.NoError(t, r.split.Set("canary", 300, "stable")) }
		*advance = true
		require.Equal(t, sentinel.ActionAdvance, r.tick(window(1970, 0, 30, 0, 0.02, 0.02)).Action)
		require.Equal(t, 500, r.split.Weight("canary"))
		assert.Equal(t, 3, looks(r), "the window collected while the weights changed from outside is left out")
		r.tick(byWeights(r.split, 2000))
		assert.Equal(t, 3, looks(r), "and so is the next, though the tick changed the weights itself after the collection")
		r.tick(byWeights(r.split, 2000))
		assert.Equal(t, 4, looks(r))
	})
}

// intervalClock is a test clock that notes the interval Run asks its
// ticker for.
type intervalClock struct {
	*fakeClock
	asked chan time.Duration
}

func (c intervalClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	c.asked <- d
	return c.fakeClock.Ticker(d)
}

// Run ticks once a second unless told otherwise.
func TestRunTicksEverySecondUnlessTold(t *testing.T) {
	for want, opts := range map[time.Duration][]sentinel.Option{
		time.Second:            nil,
		250 * time.Millisecond: {sentinel.WithInterval(250 * time.Millisecond)},
	} {
		clk := intervalClock{fakeClock: newFakeClock(), asked: make(chan time.Duration, 1)}
		c, err := sentinel.NewCanary(sentinel.CanaryConfig{})
		require.NoError(t, err)
		split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
		s, err := sentinel.New(split, new(fakeSource), c, append(opts, sentinel.WithClock(clk), sentinel.WithLogger(quiet))...)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		assert.Equal(t, want, <-clk.asked)
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		require.NoError(t, s.Close())
	}
}

// A failing source logs its streak once, as a warning, and its later ticks
// at debug level, so that the log does not repeat it at every tick;
// its recovery is logged too.
func TestSourceFailureStreakLogsOnce(t *testing.T) {
	var out strings.Builder
	r := newRig(t, nil, sentinel.WithLogger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	r.tick(healthy())
	r.src.Set(nil, errors.New("collector down"))
	for range 8 {
		r.clock.Advance(250 * time.Millisecond)
		require.Equal(t, sentinel.ActionSourceFail, r.s.Tick(context.Background()).Action)
	}
	r.src.Set(nil, errors.New("permission denied"))
	for range 4 {
		r.clock.Advance(250 * time.Millisecond)
		require.Equal(t, sentinel.ActionSourceFail, r.s.Tick(context.Background()).Action)
	}
	r.tick(healthy())
	assert.Equal(t, 1, strings.Count(out.String(), "the rollout holds: collector down"), out.String())
	assert.Contains(t, out.String(), "level=WARN msg=\"ninelives: source_error: the metric source failed, the rollout holds: collector down\"")
	assert.Equal(t, 1, strings.Count(out.String(), "otherwise now: permission denied"), "a new cause within the streak is logged once: %s", out.String())
	assert.Contains(t, out.String(), "level=INFO msg=\"ninelives: the metric source fails otherwise now: permission denied\"")
	assert.Contains(t, out.String(), "ninelives: metric source recovered")
}
