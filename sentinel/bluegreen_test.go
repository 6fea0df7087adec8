package sentinel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// warmGate is a warm-up that returns what the test tells it, when it says.
type warmGate struct {
	release chan struct{}
	rep     *warmup.Report
	err     error
}

func newWarmGate(passed bool, reason string) *warmGate {
	return &warmGate{release: make(chan struct{}), rep: &warmup.Report{Version: "canary", Passed: passed, Reason: reason}}
}

func (g *warmGate) warm(ctx context.Context, _ string) (*warmup.Report, error) {
	select {
	case <-g.release:
		return g.rep, g.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// blueGreenCfg is a small, quick configuration for the fake-source tests
// of green judged against blue's figures before the cut-over.
func blueGreenCfg(g *warmGate) sentinel.BlueGreenConfig {
	return sentinel.BlueGreenConfig{
		CompareWithPast:  true,
		Warmup:           g.warm,
		RollbackWindow:   10 * time.Second,
		RollbackMinCalls: 200,
		MinBaselineCalls: 100,
		ShadowGrace:      5 * time.Second,
	}
}

func newBlueGreen(t *testing.T, cfg sentinel.BlueGreenConfig, opts ...sentinel.Option) (*rig, sentinel.Strategy) {
	t.Helper()
	bg, err := sentinel.NewBlueGreen(cfg)
	require.NoError(t, err)
	return newRig(t, bg, opts...), bg
}

// finishWarmup lets the warm-up return and waits until the strategy has
// its report.
func finishWarmup(t *testing.T, g *warmGate, bg sentinel.Strategy) {
	t.Helper()
	done := sentinel.BlueGreenWarmupDone(bg)
	require.NotNil(t, done, "the warm-up has started")
	close(g.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the warm-up did not finish")
	}
}

// blueOnly is a tick before the cut-over: blue serves everything.
func blueOnly() *telemetry.Window { return window(500, 0, 0, 0, 0.02, 0.02) }

// greenOnly is a tick after the cut-over.
func greenOnly(calls, errs int64, lat float64) *telemetry.Window {
	return window(0, 0, calls, errs, 0.02, lat)
}

// withComparisons adds shadow comparisons of the candidate to a window.
func withComparisons(w *telemetry.Window, match, mismatch int64) *telemetry.Window {
	w.Versions["canary"].Shadow = map[string]int64{telemetry.ShadowMatch: match, telemetry.ShadowMismatch: mismatch}
	return w
}

func TestBlueGreenWarmsUpCutsOverAndPromotes(t *testing.T) {
	g := newWarmGate(true, "all 2 endpoints had 3 good calls in a row")
	r, bg := newBlueGreen(t, blueGreenCfg(g))
	assert.Empty(t, sentinel.BlueGreenStage(bg))

	e := r.tick(blueOnly())
	assert.Equal(t, sentinel.ActionStart, e.Action)
	assert.Equal(t, plan.StepWarmup, e.StepName)
	assert.Equal(t, 0, r.split.Weight("canary"), "green gets no traffic while it warms up")
	assert.Equal(t, plan.StepWarmup, sentinel.BlueGreenStage(bg))

	for range 3 {
		e = r.tick(blueOnly())
		assert.Equal(t, sentinel.ActionHold, e.Action, "the tick does not wait for the warm-up")
		assert.Contains(t, e.Reason, "warming canary up")
	}
	assert.Nil(t, sentinel.BlueGreenReport(bg))
	finishWarmup(t, g, bg)
	require.NotNil(t, sentinel.BlueGreenReport(bg))

	e = r.tick(blueOnly())
	require.Equal(t, sentinel.ActionSetWeights, e.Action, e.Reason)
	assert.Equal(t, sentinel.PhaseProgressing, e.Phase, "the cut-over does not end the rollout")
	assert.Equal(t, 10000, r.split.Weight("canary"), "all the traffic moves in one step")
	assert.Equal(t, 0, r.split.Weight("stable"))
	assert.Contains(t, e.Reason, "all 2 endpoints had 3 good calls in a row")
	assert.Contains(t, e.Reason, "stable's 0% errors (0/2500)", "the reference is blue's recent figures")
	cutAt := e.Time

	var last sentinel.Event
	for i := 0; i < 30 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		last = r.tick(greenOnly(100, 0, 0.02))
		if last.Action == sentinel.ActionHold {
			assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
			assert.Contains(t, last.Reason, "rollback window")
		}
	}
	require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, last.Reason)
	assert.Equal(t, sentinel.ActionPromote, last.Action)
	assert.GreaterOrEqual(t, last.Time.Sub(cutAt), 10*time.Second, "the whole rollback window passed")
	assert.Contains(t, last.Reason, "passed the rollback window")
	assert.Equal(t, 10000, r.split.Weight("canary"))

	require.NoError(t, r.s.Close()) // delivers the queued alerts
	assert.Equal(t, []sentinel.Action{sentinel.ActionSetWeights, sentinel.ActionAlert, sentinel.ActionPromote}, r.alerts.actions(),
		"the cut-over alerts (its event and its alert text), and so does the promotion")
}

func TestBlueGreenFailedWarmupRollsBack(t *testing.T) {
	for name, g := range map[string]*warmGate{
		"did not pass": newWarmGate(false, "1 of 2 endpoints did not have 3 good calls in a row"),
		"error":        {release: make(chan struct{}), err: errors.New("ninelives: bad warm-up config")},
		"no report":    {release: make(chan struct{})},
	} {
		t.Run(name, func(t *testing.T) {
			r, bg := newBlueGreen(t, blueGreenCfg(g))
			r.tick(blueOnly())
			finishWarmup(t, g, bg)
			e := r.tick(blueOnly())
			require.Equal(t, sentinel.ActionRollback, e.Action)
			assert.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
			assert.Contains(t, e.Reason, "never had traffic")
			switch {
			case g.err != nil:
				assert.Contains(t, e.Reason, "bad warm-up config")
			case g.rep != nil:
				assert.Contains(t, e.Reason, "1 of 2 endpoints did not have 3 good calls in a row", "the report is in the reason")
			}
			assert.Equal(t, 0, r.split.Weight("canary"))
			for _, h := range r.s.Status().History {
				assert.Zero(t, h.Weights["canary"], "green never had a share")
			}
		})
	}
}

func TestBlueGreenWaitsForBluesReferenceFigures(t *testing.T) {
	g := newWarmGate(true, "ok")
	r, bg := newBlueGreen(t, blueGreenCfg(g))
	r.tick(&telemetry.Window{})
	finishWarmup(t, g, bg)
	for range 5 {
		e := r.tick(window(10, 0, 0, 0, 0.02, 0.02))
		assert.Equal(t, sentinel.ActionHold, e.Action)
		assert.Contains(t, e.Reason, "reference figures")
	}
	assert.Equal(t, 0, r.split.Weight("canary"), "no cut-over without a reference")
	e := r.tick(blueOnly())
	assert.Equal(t, sentinel.ActionSetWeights, e.Action, e.Reason)
	assert.Contains(t, e.Reason, "(0/550)", "the reference sums the ticks of the span")
}

func TestBlueGreenRollsBackInTheWindow(t *testing.T) {
	for name, bad := range map[string]*telemetry.Window{
		"errors":  greenOnly(100, 8, 0.02), // 8 % against up to 1 %
		"latency": greenOnly(100, 0, 0.2),  // 10× blue's p99
	} {
		t.Run(name, func(t *testing.T) {
			r, _, _ := cutOver(t)
			r.tick(greenOnly(100, 0, 0.02))
			r.tick(greenOnly(100, 0, 0.02))
			var e sentinel.Event
			ticks := 0
			for ; ticks < 20 && r.s.Status().Phase == sentinel.PhaseProgressing; ticks++ {
				e = r.tick(bad)
			}
			require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
			assert.Equal(t, sentinel.ActionRollback, e.Action)
			assert.Contains(t, e.Reason, "before the cut-over")
			assert.Contains(t, e.Reason, name)
			assert.Less(t, ticks, 8, "rolled back inside the window of 10 ticks")
			assert.Equal(t, 0, r.split.Weight("canary"), "all the traffic back to blue")
			assert.Equal(t, 10000, r.split.Weight("stable"))
		})
	}
}

func TestBlueGreenWindowNeedsData(t *testing.T) {
	r, _, _ := cutOver(t)
	for range 30 {
		e := r.tick(greenOnly(5, 0, 0.02))
		assert.Equal(t, sentinel.ActionHold, e.Action)
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "too few green calls never promote")
	assert.Contains(t, r.s.Status().LastDecision.Reason, "needs 200 calls")
	for i := 0; i < 5 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		r.tick(greenOnly(100, 0, 0.02))
	}
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
}

func TestBlueGreenShadowGrace(t *testing.T) {
	newShadow := func(t *testing.T) *shadow.Interceptor {
		sh, err := shadow.New(shadow.Config{Candidate: "elsewhere"})
		require.NoError(t, err)
		t.Cleanup(func() { sh.Close(context.Background()) })
		return sh
	}

	t.Run("passes", func(t *testing.T) {
		sh := newShadow(t)
		g := newWarmGate(true, "ok")
		cfg := blueGreenCfg(g)
		cfg.Shadow, cfg.ShadowRate, cfg.ShadowMinComparisons = sh, 0.25, 100
		r, bg := newBlueGreen(t, cfg)
		r.tick(blueOnly())
		finishWarmup(t, g, bg)
		assert.Zero(t, sh.Stats().Rate, "no copies before the warm-up passed")

		e := r.tick(blueOnly())
		require.Equal(t, sentinel.ActionAdvance, e.Action, e.Reason)
		assert.Equal(t, plan.StepShadow, e.StepName)
		assert.Equal(t, 0, r.split.Weight("canary"), "shadow copies only; blue has the traffic")
		assert.InDelta(t, 0.25, sh.Stats().Rate, 1e-9)
		assert.Equal(t, "canary", sh.Stats().Candidate)

		var holds int
		for i := 0; i < 20 && r.split.Weight("canary") == 0; i++ {
			e = r.tick(withComparisons(blueOnly(), 40, 0))
			if e.Action == sentinel.ActionHold {
				holds++
				assert.Contains(t, e.Reason, "shadow grace")
			}
		}
		require.Equal(t, sentinel.ActionSetWeights, e.Action, e.Reason)
		assert.GreaterOrEqual(t, holds, 4, "the grace period lasts its 5 s")
		assert.Contains(t, e.Reason, "the shadow grace period passed")
		r.tick(greenOnly(100, 0, 0.02))
		assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
		assert.Zero(t, sh.Stats().Rate, "the shadow is off after the cut-over")
	})

	t.Run("mismatches roll back", func(t *testing.T) {
		sh := newShadow(t)
		g := newWarmGate(true, "ok")
		cfg := blueGreenCfg(g)
		cfg.Shadow = sh
		r, bg := newBlueGreen(t, cfg)
		r.tick(blueOnly())
		finishWarmup(t, g, bg)
		require.Equal(t, sentinel.ActionAdvance, r.tick(blueOnly()).Action)
		var e sentinel.Event
		for i := 0; i < 20 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
			e = r.tick(withComparisons(blueOnly(), 36, 4)) // 10 % against 1 %
		}
		require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase)
		assert.Contains(t, e.Reason, "differ from stable's too often")
		assert.Zero(t, sh.Stats().Rate, "the shadow is off after the rollback")
		assert.Equal(t, 0, r.split.Weight("canary"))
	})
}

func TestBlueGreenPausedWindow(t *testing.T) {
	ctx := context.Background()
	g := newWarmGate(true, "ok")
	r, bg := newBlueGreen(t, blueGreenCfg(g))
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	require.NoError(t, r.s.Pause(ctx, "erin", ""))
	for range 3 {
		e := r.tick(blueOnly())
		assert.Contains(t, e.Reason, "waits while the rollout is paused")
	}
	assert.Equal(t, 0, r.split.Weight("canary"), "no cut-over while paused")
	require.NoError(t, r.s.Resume(ctx, "erin", ""))
	require.Equal(t, sentinel.ActionSetWeights, r.tick(blueOnly()).Action)

	require.NoError(t, r.s.Pause(ctx, "erin", ""))
	for range 15 {
		r.tick(greenOnly(100, 0, 0.02))
	}
	assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase, "the promotion waits for the resume")
	for i := 0; i < 20 && r.s.Status().Phase == sentinel.PhasePaused; i++ {
		r.tick(greenOnly(100, 10, 0.02))
	}
	assert.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, "a failing green is rolled back while paused")
	assert.Equal(t, 10000, r.split.Weight("stable"))
}

func TestBlueGreenCloseStopsTheWarmup(t *testing.T) {
	g := newWarmGate(true, "ok") // never released: it returns when its context ends
	bg, err := sentinel.NewBlueGreen(blueGreenCfg(g))
	require.NoError(t, err)
	r := newRig(t, bg)
	r.tick(blueOnly())
	done := sentinel.BlueGreenWarmupDone(bg)
	require.NotNil(t, done)
	require.NoError(t, bg.(io.Closer).Close())
	select {
	case <-done:
	default:
		t.Fatal("Close returned before the warm-up ended")
	}
	assert.Equal(t, sentinel.ActionHold, r.tick(blueOnly()).Action)
}

func TestBlueGreenWarmupTimeout(t *testing.T) {
	g := newWarmGate(true, "ok") // never released
	cfg := blueGreenCfg(g)
	cfg.WarmupTimeout = time.Millisecond
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	<-sentinel.BlueGreenWarmupDone(bg)
	e := r.tick(blueOnly())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Contains(t, e.Reason, "deadline exceeded")
}

func TestBlueGreenWarmupPanicIsAnError(t *testing.T) {
	cfg := sentinel.BlueGreenConfig{Warmup: func(context.Context, string) (*warmup.Report, error) { panic("boom") }}
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	<-sentinel.BlueGreenWarmupDone(bg)
	e := r.tick(blueOnly())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Contains(t, e.Reason, "panicked: boom")
}

func TestNewBlueGreenRejectsBadConfig(t *testing.T) {
	warm := newWarmGate(true, "ok").warm
	cases := map[string]sentinel.BlueGreenConfig{
		"BlueGreenConfig.Warmup: the warm-up is nil":    {},
		"BlueGreenConfig.WarmupTimeout = -1s":           {Warmup: warm, WarmupTimeout: -time.Second},
		"BlueGreenConfig.ShadowRate = 1.5":              {Warmup: warm, ShadowRate: 1.5},
		"BlueGreenConfig.ShadowGrace = -1s":             {Warmup: warm, ShadowGrace: -time.Second},
		"BlueGreenConfig.ShadowMinComparisons = -3":     {Warmup: warm, ShadowMinComparisons: -3},
		"BlueGreenConfig.MismatchTolerance = 1":         {Warmup: warm, MismatchTolerance: 1},
		"BlueGreenConfig.BaselineSpan = -1s":            {Warmup: warm, BaselineSpan: -time.Second},
		"BlueGreenConfig.MinBaselineCalls = -1":         {Warmup: warm, MinBaselineCalls: -1},
		"BlueGreenConfig.RollbackWindow = -1m0s":        {Warmup: warm, RollbackWindow: -time.Minute},
		"BlueGreenConfig.RollbackMinCalls = -5":         {Warmup: warm, RollbackMinCalls: -5},
		"BlueGreenConfig.ErrorFactor = 0.5":             {Warmup: warm, ErrorFactor: 0.5},
		"BlueGreenConfig.ErrorFloor = 2":                {Warmup: warm, ErrorFloor: 2},
		"BlueGreenConfig.LatencyQuantile = 99":          {Warmup: warm, LatencyQuantile: 99},
		"BlueGreenConfig.LatencyFactor = NaN":           {Warmup: warm, LatencyFactor: math.NaN()},
		"BlueGreenConfig.LatencyMargin = -1ms":          {Warmup: warm, LatencyMargin: -time.Millisecond},
		"BlueGreenConfig.Alpha = 1":                     {Warmup: warm, Alpha: 1},
		"BlueGreenConfig.ShadowRate = -0.1: want a sha": {Warmup: warm, ShadowRate: -0.1},
	}
	for want, cfg := range cases {
		_, err := sentinel.NewBlueGreen(cfg)
		assert.ErrorIs(t, err, sentinel.ErrBadOption, want)
		assert.ErrorContains(t, err, want)
	}

	c, err := sentinel.BlueGreenConfig{Warmup: warm}.WithDefaults()
	require.NoError(t, err)
	assert.Equal(t, 2*time.Minute, c.WarmupTimeout)
	assert.Equal(t, 5*time.Minute, c.RollbackWindow)
	assert.Equal(t, time.Minute, c.ShadowGrace)
	assert.InDelta(t, 0.1, c.ShadowRate, 0)
	assert.InDelta(t, 0.01, c.MismatchTolerance, 0)
	assert.InDelta(t, 0.99, c.LatencyQuantile, 0)
	assert.EqualValues(t, 200, c.RollbackMinCalls)
	bg, err := sentinel.NewBlueGreen(c)
	require.NoError(t, err)
	assert.Equal(t, "bluegreen", bg.Name())
}

func TestBlueGreenDryRunMovesNothing(t *testing.T) {
	g := newWarmGate(true, "ok")
	r, bg := newBlueGreen(t, blueGreenCfg(g), sentinel.WithDryRun(true))
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	e := r.tick(blueOnly())
	assert.Equal(t, sentinel.ActionSetWeights, e.Action, "it reports the cut-over it would make")
	assert.True(t, e.DryRun)
	for range 15 {
		assert.Equal(t, sentinel.ActionHold, r.tick(blueOnly()).Action)
	}
	assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "green had no traffic to judge, so no promotion")
	assert.Equal(t, 0, r.split.Weight("canary"))
}

// bgWindow is one tick's primary calls of blue and green, at 20 ms.
func bgWindow(blue, green int64) *telemetry.Window {
	v := func(calls int64) *telemetry.VersionStats {
		return &telemetry.VersionStats{Roles: map[balancer.Role]*telemetry.RoleStats{
			balancer.RolePrimary: {Calls: calls, Latency: expHist(uint64(calls), 0.02)},
		}}
	}
	return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"blue": v(blue), "green": v(green)}}
}

// A blue/green rollout, tick by tick: the warm-up, the cut-over in one
// step, the rollback window, the promotion. Here the figures come from a
// fake source; in a program they come from a telemetry.Source.
func ExampleNewBlueGreen() {
	split := balancer.MustSplit(balancer.Weight{Version: "blue", Weight: 10000}, balancer.Weight{Version: "green", Weight: 0})
	bg, err := sentinel.NewBlueGreen(sentinel.BlueGreenConfig{
		// In a program: warmup.For(cc, split, warmup.Config{...}).
		Warmup: func(_ context.Context, version string) (*warmup.Report, error) {
			return &warmup.Report{Version: version, Passed: true, Reason: "every endpoint answered"}, nil
		},
		RollbackWindow:   3 * time.Second,
		RollbackMinCalls: 100,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	src, clock := new(fakeSource), newFakeClock()
	s, err := sentinel.New(split, src, bg, sentinel.WithVersions("blue", "green"), sentinel.WithClock(clock), sentinel.WithLogger(quiet))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for i := 0; i < 20 && !s.Status().Phase.Final(); i++ {
		// Calls follow the weights: blue keeps 10 % after the cut-over, so
		// that green is judged against it over the same seconds.
		green := int64(split.Weight("green") / 20)
		src.Set(bgWindow(500-green, green), nil)
		clock.Advance(time.Second)
		e := s.Tick(context.Background())
		if e.Action == sentinel.ActionStart {
			<-sentinel.BlueGreenWarmupDone(bg)
		}
		fmt.Printf("%-11s %-12s %-8s green %5d bp\n", e.Action, e.Phase, sentinel.BlueGreenStage(bg), split.Weight("green"))
	}
	// Output:
	// start       progressing  warmup   green     0 bp
	// set_weights progressing  warmup   green  9000 bp
	// hold        progressing  cutover  green  9000 bp
	// hold        progressing  cutover  green  9000 bp
	// promote     promoted     cutover  green 10000 bp
}

// wrapped hides a strategy as a wrapper does (the fleet's leader has one),
// and shows it through Unwrap.
type wrapped struct{ sentinel.Strategy }

func (w wrapped) Unwrap() sentinel.Strategy { return w.Strategy }

// restoreBlueGreen restores cp into a fresh BlueGreen with cfg, whose
// warm-up never finishes, on a fresh split.
func restoreBlueGreen(t *testing.T, r *rig, cfg sentinel.BlueGreenConfig, cp sentinel.Checkpoint) (*rig, sentinel.Strategy, error) {
	t.Helper()
	cfg.Warmup = newWarmGate(true, "never").warm // it would wait for ever
	bg, err := sentinel.NewBlueGreen(cfg)
	require.NoError(t, err)
	r2 := &rig{t: t, split: balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0}),
		src: r.src, clock: r.clock, alerts: new(alerts)}
	s, err := restored(t, r2.split, r2.src, wrapped{bg}, cp, sentinel.WithClock(r2.clock), sentinel.WithLogger(quiet), sentinel.WithAlerters(r2.alerts))
	if err != nil {
		return nil, nil, err
	}
	r2.s = s
	return r2, bg, nil
}

func TestBlueGreenRestoredInTheCutoverPromotes(t *testing.T) {
	r, bg, cfg := cutOver(t)
	for range 3 {
		require.Equal(t, sentinel.ActionHold, r.tick(greenOnly(100, 0, 0.02)).Action)
	}
	require.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
	cp := roundTrip(t, r.s.Checkpoint())
	require.Equal(t, "bluegreen", cp.Strategy)
	require.NotEmpty(t, cp.StrategyState)

	r2, bg2, err := restoreBlueGreen(t, r, cfg, cp)
	require.NoError(t, err)
	assert.Equal(t, 10000, r2.split.Weight("canary"), "green keeps all the traffic")
	assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg2))
	assert.Contains(t, string(cp.StrategyState), `"errorTest":{"looks":3,`)
	assert.Contains(t, string(cp.StrategyState), `"latencyTest":{"looks":3,`)
	assert.Contains(t, string(cp.StrategyState), `"blue":[{`)
	assert.JSONEq(t, string(cp.StrategyState), strategyState(t, bg2),
		"the restored strategy holds the checkpoint's state: window tests, blue's figures, reference")
	var e sentinel.Event
	for i := 0; i < 30 && r2.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		e = r2.tick(greenOnly(100, 0, 0.02))
		e1 := r.s.Tick(context.Background())
		require.Equal(t, e1.Action, e.Action, "the restored rollout goes on as the original: %s | %s", e1.Reason, e.Reason)
	}
	require.Equal(t, sentinel.PhasePromoted, r2.s.Status().Phase, e.Reason)
	assert.Contains(t, e.Reason, "passed the rollback window")

	t.Run("a failing green is still rolled back", func(t *testing.T) {
		r3, _, err := restoreBlueGreen(t, r, cfg, cp)
		require.NoError(t, err)
		for i := 0; i < 10 && r3.s.Status().Phase == sentinel.PhaseProgressing; i++ {
			e = r3.tick(greenOnly(100, 20, 0.02))
		}
		assert.Equal(t, sentinel.PhaseRolledBack, r3.s.Status().Phase, e.Reason)
		assert.Contains(t, e.Reason, "fails more often than stable did before the cut-over")
	})

	t.Run("without the strategy's state it is rejected", func(t *testing.T) {
		old := cp
		old.Strategy, old.StrategyState = "", nil
		_, _, err := restoreBlueGreen(t, r, cfg, old)
		require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
		assert.ErrorContains(t, err, `the blue/green rollout is in step 2 ("cutover"), past the warm-up, and the checkpoint holds no blue/green state`)
	})

	t.Run("a bad state is rejected", func(t *testing.T) {
		bad := cp
		bad.StrategyState = json.RawMessage(`{"stage":"cutover"}`)
		_, _, err := restoreBlueGreen(t, r, cfg, bad)
		require.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
		assert.ErrorContains(t, err, `ninelives: bad checkpoint: Checkpoint.StrategyState.reference: missing in stage "cutover" (cut-over asked: false)`)
	})
}

// newShadow is a shadow interceptor whose rate the tests read back.
func newShadow(t *testing.T) *shadow.Interceptor {
	t.Helper()
	sh, err := shadow.New(shadow.Config{Candidate: "elsewhere"})
	require.NoError(t, err)
	t.Cleanup(func() { sh.Close(context.Background()) })
	return sh
}

// strategyState is bg's state as a checkpoint saves it.
func strategyState(t *testing.T, bg sentinel.Strategy) string {
	t.Helper()
	st, err := bg.(sentinel.StatefulStrategy).StrategyState()
	require.NoError(t, err)
	return string(st)
}

func TestBlueGreenRestoredInTheShadowGraceCutsOver(t *testing.T) {
	g := newWarmGate(true, "ok")
	cfg := blueGreenCfg(g)
	cfg.Shadow, cfg.ShadowRate = newShadow(t), 0.25
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	require.Equal(t, sentinel.ActionAdvance, r.tick(blueOnly()).Action)
	for range 2 {
		r.tick(withComparisons(blueOnly(), 40, 0))
	}
	require.Equal(t, plan.StepShadow, sentinel.BlueGreenStage(bg))
	cp := roundTrip(t, r.s.Checkpoint())

	sh2 := newShadow(t)
	cfg.Shadow = sh2
	r2, bg2, err := restoreBlueGreen(t, r, cfg, cp)
	require.NoError(t, err)
	assert.Equal(t, plan.StepShadow, sentinel.BlueGreenStage(bg2))
	assert.Contains(t, string(cp.StrategyState), `"shadowTest":{"looks":2,`)
	assert.JSONEq(t, string(cp.StrategyState), strategyState(t, bg2),
		"the restored strategy holds the checkpoint's state: the shadow gate, blue's figures, the report")
	var e sentinel.Event
	for i := 0; i < 20 && r2.split.Weight("canary") == 0; i++ {
		e = r2.tick(withComparisons(blueOnly(), 40, 0))
		if i == 0 {
			assert.InDelta(t, 0.25, sh2.Stats().Rate, 1e-9, "the restored strategy turns the shadow on again")
		}
	}
	require.Equal(t, sentinel.ActionSetWeights, e.Action, e.Reason)
	assert.Contains(t, e.Reason, "the shadow grace period passed")
	r2.tick(greenOnly(100, 0, 0.02))
	assert.Zero(t, sh2.Stats().Rate, "the shadow is off after the cut-over")
	for i := 0; i < 30 && r2.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		e = r2.tick(greenOnly(100, 0, 0.02))
	}
	assert.Equal(t, sentinel.PhasePromoted, r2.s.Status().Phase, e.Reason)
}

// warmTurns is a warm-up that passes once for each turn the test gives it,
// so that a strategy warms green up again only when the test says.
type warmTurns chan struct{}

func (w warmTurns) warm(ctx context.Context, version string) (*warmup.Report, error) {
	select {
	case <-w:
		return &warmup.Report{Version: version, Passed: true, Reason: "ok"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitWarmup waits until the strategy's current warm-up has finished.
func waitWarmup(t *testing.T, bg sentinel.Strategy) {
	t.Helper()
	done := sentinel.BlueGreenWarmupDone(bg)
	require.NotNil(t, done, "the warm-up has started")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the warm-up did not finish")
	}
}

// reuse restores cp into bg, the strategy of r, on a fresh split, as the
// fleet's leader does at the start of each term with the strategy it
// keeps.
func reuse(t *testing.T, r *rig, bg sentinel.Strategy, cp sentinel.Checkpoint) *rig {
	t.Helper()
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	s, err := restored(t, split, r.src, wrapped{bg}, cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	return &rig{t: t, split: split, src: r.src, clock: r.clock, alerts: new(alerts), s: s}
}

// A BlueGreen restored from a checkpoint takes the checkpoint's state,
// whatever it went through itself before.
func TestBlueGreenReusedTakesTheCheckpointsState(t *testing.T) {
	// checkpoints of another sentinel's rollout: pending, then in the
	// warm-up.
	g0 := newWarmGate(true, "ok")
	r0, _ := newBlueGreen(t, blueGreenCfg(g0))
	pending := roundTrip(t, r0.s.Checkpoint())
	r0.tick(blueOnly())
	warm := roundTrip(t, r0.s.Checkpoint())
	require.Equal(t, plan.StepWarmup, warm.StepName)
	require.NotEmpty(t, warm.StrategyState)
	// The fleet's leader restores this when it has no usable checkpoint.
	fallback := sentinel.Checkpoint{Position: sentinel.Position{Baseline: "stable", Candidate: "canary", Phase: warm.Phase, Step: warm.Step,
		StepName: warm.StepName, StepStart: warm.StepStart, Started: warm.Started, Weights: warm.Weights}}

	// cutOver runs a strategy of its own past the cut-over.
	cutOver := func(t *testing.T) (*rig, sentinel.Strategy, warmTurns) {
		turns := make(warmTurns, 1)
		cfg := blueGreenCfg(nil)
		cfg.Warmup = turns.warm
		r, bg := newBlueGreen(t, cfg)
		r.tick(blueOnly())
		turns <- struct{}{}
		waitWarmup(t, bg)
		require.Equal(t, sentinel.ActionSetWeights, r.tick(blueOnly()).Action)
		r.tick(greenOnly(100, 0, 0.02))
		require.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
		require.NotNil(t, sentinel.BlueGreenReport(bg))
		return r, bg, turns
	}

	for _, tc := range []struct {
		name string
		cp   sentinel.Checkpoint
	}{
		{"a checkpoint in the warm-up", warm},
		{"a checkpoint in the warm-up without the strategy's state", fallback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, bg, turns := cutOver(t)
			before := sentinel.BlueGreenWarmupDone(bg)
			r2 := reuse(t, r, bg, tc.cp)
			assert.Empty(t, sentinel.BlueGreenStage(bg), "its own warm-up is over: the next tick warms green up again")
			assert.Nil(t, sentinel.BlueGreenReport(bg), "the checkpoint holds no report")
			var st map[string]any
			require.NoError(t, json.Unmarshal([]byte(strategyState(t, bg)), &st))
			for _, key := range []string{"reference", "errorTest", "latencyTest", "cutAt"} {
				assert.Nil(t, st[key], "%s: nothing of its own cut-over is left", key)
			}

			e := r2.tick(blueOnly())
			assert.Equal(t, sentinel.ActionHold, e.Action)
			assert.Contains(t, e.Reason, "warming canary up")
			assert.Equal(t, plan.StepWarmup, sentinel.BlueGreenStage(bg))
			assert.NotEqual(t, before, sentinel.BlueGreenWarmupDone(bg), "a warm-up of its own, anew")
			turns <- struct{}{}
			waitWarmup(t, bg)
			e = r2.tick(blueOnly())
			assert.Equal(t, sentinel.ActionSetWeights, e.Action, "cut over after the new warm-up: %s", e.Reason)
			r2.tick(greenOnly(100, 0, 0.02))
			assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
		})
	}

	t.Run("a pending checkpoint", func(t *testing.T) {
		r, bg, turns := cutOver(t)
		r2 := reuse(t, r, bg, pending)
		assert.Empty(t, sentinel.BlueGreenStage(bg))
		e := r2.tick(blueOnly())
		assert.Equal(t, sentinel.ActionStart, e.Action)
		assert.Equal(t, plan.StepWarmup, sentinel.BlueGreenStage(bg), "the start warms green up again")
		turns <- struct{}{}
		waitWarmup(t, bg)
		assert.Equal(t, sentinel.ActionSetWeights, r2.tick(blueOnly()).Action)
	})

	t.Run("its own warm-up still running", func(t *testing.T) {
		turns := make(warmTurns, 1)
		cfg := blueGreenCfg(nil)
		cfg.Warmup = turns.warm
		r, bg := newBlueGreen(t, cfg)
		r.tick(blueOnly())
		running := sentinel.BlueGreenWarmupDone(bg)
		r2 := reuse(t, r, bg, warm)
		assert.Equal(t, plan.StepWarmup, sentinel.BlueGreenStage(bg), "the running warm-up goes on")
		assert.Contains(t, r2.tick(blueOnly()).Reason, "warming canary up")
		assert.Equal(t, running, sentinel.BlueGreenWarmupDone(bg), "no second warm-up")
		turns <- struct{}{}
		waitWarmup(t, bg)
		assert.Equal(t, sentinel.ActionSetWeights, r2.tick(blueOnly()).Action, "its report is the one the rollout waits for")
	})

	t.Run("the shadow gate starts afresh without the checkpoint's", func(t *testing.T) {
		r, bg := inTheShadowStage(t, newShadow(t))
		require.Contains(t, strategyState(t, bg), `"shadowTest":{"looks":1,`)

		reuse(t, r, bg, fallback)
		assert.Empty(t, sentinel.BlueGreenStage(bg))
		assert.Contains(t, strategyState(t, bg), `"shadowTest":{"looks":0,`, "the gate's statistics are not the strategy's own any more")
	})
}

// A BlueGreen whose shadow is on, restored into the rollback window of
// another rollout, turns the shadow off on its next tick.
func TestBlueGreenReusedInTheWindowTurnsItsShadowOff(t *testing.T) {
	run := func(t *testing.T, sh *shadow.Interceptor, cutOver bool) (*rig, sentinel.Strategy) {
		r, bg := inTheShadowStage(t, sh)
		for i := 0; i < 20 && cutOver && r.split.Weight("canary") == 0; i++ {
			r.tick(withComparisons(blueOnly(), 40, 0))
		}
		if cutOver {
			r.tick(greenOnly(100, 0, 0.02))
			require.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
		}
		return r, bg
	}
	r0, _ := run(t, newShadow(t), true)
	cp := roundTrip(t, r0.s.Checkpoint())

	sh := newShadow(t)
	r, bg := run(t, sh, false)
	require.InDelta(t, 0.25, sh.Stats().Rate, 1e-9, "in the shadow grace period, the shadow is on")
	r2 := reuse(t, r, bg, cp)
	require.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))
	assert.JSONEq(t, string(cp.StrategyState), strategyState(t, bg))
	assert.Equal(t, sentinel.ActionHold, r2.tick(greenOnly(100, 0, 0.02)).Action)
	assert.Zero(t, sh.Stats().Rate, "the rollback window turns the shadow off")
}

// inTheShadowStage runs a BlueGreen with shadow sh through its warm-up into
// the shadow stage, with one look of comparisons there.
func inTheShadowStage(t *testing.T, sh *shadow.Interceptor) (*rig, sentinel.Strategy) {
	t.Helper()
	turns := make(warmTurns, 1)
	cfg := blueGreenCfg(nil)
	cfg.Warmup = turns.warm
	cfg.Shadow, cfg.ShadowRate = sh, 0.25
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	turns <- struct{}{}
	waitWarmup(t, bg)
	require.Equal(t, sentinel.ActionAdvance, r.tick(blueOnly()).Action)
	r.tick(withComparisons(blueOnly(), 40, 0))
	require.Equal(t, plan.StepShadow, sentinel.BlueGreenStage(bg))
	return r, bg
}

// cutOver runs a BlueGreen whose warm-up passes through to its cut-over,
// and returns it with its configuration.
func cutOver(t *testing.T) (*rig, sentinel.Strategy, sentinel.BlueGreenConfig) {
	t.Helper()
	g := newWarmGate(true, "ok")
	cfg := blueGreenCfg(g)
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	require.Equal(t, sentinel.ActionSetWeights, r.tick(blueOnly()).Action)
	return r, bg, cfg
}

// sameSeconds is a tick after a cut-over that leaves blue 10 %: 50 blue
// and 450 green calls, at the given latencies.
func sameSeconds(blueLat, greenLat float64) *telemetry.Window {
	return window(50, 0, 450, 0, blueLat, greenLat)
}

// runWindow warms green up, cuts over and runs the rollback window on
// after(tick), until the rollout ends or 30 ticks have passed.
func runWindow(t *testing.T, cfg sentinel.BlueGreenConfig, g *warmGate, after func() *telemetry.Window) (*rig, sentinel.Event, []sentinel.Event) {
	t.Helper()
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	cut := r.tick(blueOnly())
	require.Equal(t, sentinel.ActionSetWeights, cut.Action, cut.Reason)
	var last sentinel.Event
	var events []sentinel.Event
	for i := 0; i < 30 && !r.s.Status().Phase.Final(); i++ {
		last = r.tick(after())
		events = append(events, last)
	}
	return r, cut, events
}

func TestBlueGreenJudgesGreenAgainstBlueOverTheSameSeconds(t *testing.T) {
	g := newWarmGate(true, "ok")
	cfg := blueGreenCfg(g)
	cfg.CompareWithPast = false
	r, cut, events := runWindow(t, cfg, g, func() *telemetry.Window { return sameSeconds(0.02, 0.02) })
	assert.Equal(t, 9000, cut.TargetWeight, "blue keeps 10 % through the window")
	assert.Contains(t, cut.Reason, "judged for 10s against stable over the same seconds, stable keeping 10% of the traffic")
	assert.NotContains(t, cut.Reason, "reference", "no reference figures from before the cut-over")
	last := events[len(events)-1]
	require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, last.Reason)
	assert.Contains(t, last.Reason, "blue/green: canary passed the rollback window of 10s against stable over the same seconds")
	assert.Equal(t, 10000, r.split.Weight("canary"), "the promotion gives green the rest")
	for _, e := range events[:len(events)-1] {
		assert.Equal(t, 9000, e.Weight("canary"), e.Reason)
	}
}

func TestBlueGreenAMachineThatSlowsDownAfterTheCutoverIsNoReasonToRollBack(t *testing.T) {
	for _, c := range []struct {
		name             string
		past             bool
		blueLat, grnLat  float64
		want             sentinel.Phase
		reason, decision string
	}{
		// Both versions 3× slower from the cut-over on: the machine, not green.
		{name: "whole machine slower", blueLat: 0.06, grnLat: 0.06, want: sentinel.PhasePromoted, reason: "passed the rollback window"},
		{name: "green alone slower", blueLat: 0.02, grnLat: 0.06, want: sentinel.PhaseRolledBack,
			reason: "blue/green: canary is slower than stable over the same seconds", decision: judge.TestLatency},
		// Judged against blue's past alone, the machine's slowdown counts
		// against green: what the default guards against.
		{name: "whole machine slower, judged against the past", past: true, blueLat: 0.06, grnLat: 0.06, want: sentinel.PhaseRolledBack,
			reason: "canary is slower than stable was before the cut-over", decision: judge.TestLatency},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newWarmGate(true, "ok")
			cfg := blueGreenCfg(g)
			cfg.CompareWithPast = c.past
			after := func() *telemetry.Window { return sameSeconds(c.blueLat, c.grnLat) }
			if c.past {
				after = func() *telemetry.Window { return window(0, 0, 500, 0, c.blueLat, c.grnLat) }
			}
			r, _, events := runWindow(t, cfg, g, after)
			last := events[len(events)-1]
			require.Equal(t, c.want, r.s.Status().Phase, last.Reason)
			assert.Contains(t, last.Reason, c.reason)
			if c.decision != "" {
				require.NotNil(t, last.Verdict)
				assert.Equal(t, judge.Fail, last.Verdict.Outcome)
				assert.Equal(t, c.decision, last.Verdict.Test, "the event shows the window's test that decided")
			}
		})
	}
}

func TestBlueGreenRestoredInTheWindowJudgesAgainstBlueOverTheSameSeconds(t *testing.T) {
	g := newWarmGate(true, "ok")
	cfg := blueGreenCfg(g)
	cfg.CompareWithPast = false
	r, bg := newBlueGreen(t, cfg)
	r.tick(blueOnly())
	finishWarmup(t, g, bg)
	require.Equal(t, sentinel.ActionSetWeights, r.tick(blueOnly()).Action)
	for range 3 {
		require.Equal(t, sentinel.ActionHold, r.tick(sameSeconds(0.02, 0.02)).Action)
	}
	cp := roundTrip(t, r.s.Checkpoint())
	assert.NotContains(t, string(cp.StrategyState), `"reference"`, "no reference from before the cut-over to carry")

	for name, w := range map[string]struct {
		tick func() *telemetry.Window
		want sentinel.Phase
		says string
	}{
		"healthy":          {func() *telemetry.Window { return sameSeconds(0.02, 0.02) }, sentinel.PhasePromoted, "against stable over the same seconds"},
		"green fails more": {func() *telemetry.Window { return window(50, 0, 450, 90, 0.02, 0.02) }, sentinel.PhaseRolledBack, "canary fails more often than stable over the same seconds"},
	} {
		t.Run(name, func(t *testing.T) {
			r2, bg2, err := restoreBlueGreen(t, r, cfg, cp)
			require.NoError(t, err)
			assert.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg2))
			assert.Equal(t, 9000, r2.split.Weight("canary"), "blue keeps its share")
			var e sentinel.Event
			for i := 0; i < 30 && !r2.s.Status().Phase.Final(); i++ {
				e = r2.tick(w.tick())
			}
			require.Equal(t, w.want, r2.s.Status().Phase, e.Reason)
			assert.Contains(t, e.Reason, w.says)
		})
	}
}

// Judged against blue's past, green's calls left unanswered as its servers
// died are left out as the judge leaves them out: held for a tick, then
// put down to the outage once green is seen gone (its picks fall back).
// Green back, the rollback window passes and green is promoted; the same
// calls from a green that keeps serving are judged and roll it back.
func TestBlueGreenPastLeavesOutCallsLostAsGreenWentDown(t *testing.T) {
	lost := func() *telemetry.Window {
		w := greenOnly(100, 30, 0.02)
		w.Versions["canary"].Unanswered = 30
		return w
	}
	gone := window(100, 0, 0, 0, 0.02, 0.02)
	gone.Versions["canary"].Fallbacks = 100

	r, _, _ := cutOver(t)
	r.tick(greenOnly(100, 0, 0.02))
	e := r.tick(lost())
	require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, e.Reason)
	e = r.tick(gone)
	require.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, e.Reason)
	assert.EqualValues(t, 30, r.s.Status().Serving.Lost)
	for i := 0; i < 30 && r.s.Status().Phase == sentinel.PhaseProgressing; i++ {
		e = r.tick(greenOnly(100, 0, 0.02))
	}
	require.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase, e.Reason)

	r, _, _ = cutOver(t)
	r.tick(greenOnly(100, 0, 0.02))
	r.tick(lost())
	e = r.tick(greenOnly(100, 0, 0.02))
	require.Equal(t, sentinel.PhaseRolledBack, r.s.Status().Phase, e.Reason)
	assert.Contains(t, e.Reason, "fails more often than stable did before the cut-over")
}
