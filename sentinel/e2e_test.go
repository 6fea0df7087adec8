package sentinel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The end-to-end tests tick the loop by hand: each tick makes a bounded
// number of real calls, then moves the fake clock on and runs one round.

const callsPerTick = 200

func e2eCanary(t *testing.T) sentinel.Strategy {
	t.Helper()
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 3 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	return c
}

var e2eJudge = sentinel.WithJudge(judge.Config{
	Errors:  judge.ErrorConfig{MinStepCalls: 200},
	Latency: judge.LatencyConfig{MinStepCalls: 200},
})

func TestE2ECanaryFailingIsRolledBack(t *testing.T) {
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{ErrorRate: 0.05}, nil)
	e.start(e2eCanary(t), e2eJudge)

	var (
		ev               sentinel.Event
		canaryCalls      int
		canaryFailed     int
		ticks            int
		maxCanaryWeight  int
		stableFailedSeen int
	)
	for ; ticks < 60 && !e.s.Status().Phase.Final(); ticks++ {
		got := e.load(callsPerTick)
		canaryCalls += got.total("canary")
		canaryFailed += got.failed["canary"]
		stableFailedSeen += got.failed["stable"]
		ev = e.tick()
		maxCanaryWeight = max(maxCanaryWeight, e.split.Weight("canary"))
	}
	require.Equal(t, sentinel.PhaseRolledBack, e.s.Status().Phase, "after %d ticks: %s", ticks, ev.Reason)
	assert.Equal(t, sentinel.ActionRollback, ev.Action)
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestErrors, ev.Verdict.Test)
	require.NotNil(t, ev.Verdict.Evidence)
	assert.GreaterOrEqual(t, ev.Verdict.Evidence.Statistic, ev.Verdict.Evidence.Threshold)
	assert.Positive(t, canaryFailed, "the canary's servers failed some calls")
	assert.Zero(t, stableFailedSeen)
	assert.Equal(t, 0, e.split.Weight("canary"))
	assert.Equal(t, 1000, maxCanaryWeight, "rolled back from the first step")
	t.Logf("rolled back after %d ticks: %d canary calls (%d failed); judge saw %d canary calls",
		ticks, canaryCalls, canaryFailed, ev.Verdict.Evidence.Candidate.Samples)
	assert.Less(t, canaryCalls, 1000, "a 5 %% error rate is caught within a few hundred canary calls")
	e.assertAlerted(sentinel.ActionRollback)

	after := e.load(100)
	assert.Equal(t, 100, after.ok["stable"], "all calls back on the baseline")
}

func TestE2ECanaryHealthyReachesFullTraffic(t *testing.T) {
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{}, nil)
	e.start(e2eCanary(t), e2eJudge)

	var weights []int
	var ev sentinel.Event
	failed := 0
	for ticks := 0; ticks < 80 && !e.s.Status().Phase.Final(); ticks++ {
		failed += e.load(callsPerTick).failures()
		ev = e.tick()
		if w := e.split.Weight("canary"); len(weights) == 0 || weights[len(weights)-1] != w {
			weights = append(weights, w)
		}
	}
	require.Equal(t, sentinel.PhasePromoted, e.s.Status().Phase, ev.Reason)
	assert.Equal(t, []int{1000, 5000, 10000}, weights, "every step in order")
	assert.Zero(t, failed)
	e.assertAlerted(sentinel.ActionPromote)

	after := e.load(100)
	assert.Equal(t, 100, after.ok["canary"], "the canary has all the traffic")
}

// startBlueGreen sets up a blue/green rollout; with shadow on, green is
// compared with blue during a grace period. opts are the sentinel's.
func startBlueGreen(t *testing.T, withShadow bool, opts ...sentinel.Option) (*e2e, sentinel.Strategy, *shadow.Interceptor) {
	t.Helper()
	return startBlueGreenWith(t, sentinel.BlueGreenConfig{}, withShadow, opts...)
}

// startBlueGreenWith is startBlueGreen with cfg's fields besides the
// warm-up, the shadow and the ones startBlueGreen sets.
func startBlueGreenWith(t *testing.T, cfg sentinel.BlueGreenConfig, withShadow bool, opts ...sentinel.Option) (*e2e, sentinel.Strategy, *shadow.Interceptor) {
	t.Helper()
	cfg.ShadowRate, cfg.ShadowGrace, cfg.ShadowMinComparisons = 0.5, 3*time.Second, 100
	cfg.RollbackWindow, cfg.RollbackMinCalls = 8*time.Second, 300
	var sh *shadow.Interceptor
	var dial func(*telemetry.Metrics) []grpc.DialOption
	if withShadow {
		dial = func(m *telemetry.Metrics) []grpc.DialOption {
			var err error
			sh, err = shadow.New(shadow.Config{
				Candidate:    "green",
				IgnoreFields: []string{"served_by", "generated_at"},
				Seed:         1,
				Metrics:      m, // the comparisons reach the windows through the telemetry
			})
			require.NoError(t, err)
			t.Cleanup(func() { sh.Close(context.Background()) })
			return []grpc.DialOption{grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor())}
		}
	}
	e := startE2E(t, "blue", demoserver.Faults{}, "green", demoserver.Faults{}, dial)
	if withShadow {
		cfg.Shadow = sh
		e.shadow = sh
	}
	cfg.Warmup = warmup.For(e.cc, e.split, warmup.Config{Calls: []warmup.CallFunc{getItem}, SuccessesInRow: 3})
	bg, err := sentinel.NewBlueGreen(cfg)
	require.NoError(t, err)
	e.start(bg, opts...)
	return e, bg, sh
}

// runToCutover ticks until the cut-over and checks that green had no
// primary traffic before it.
func runToCutover(t *testing.T, e *e2e, bg sentinel.Strategy) {
	t.Helper()
	e.load(callsPerTick)
	ev := e.tick()
	require.Equal(t, sentinel.ActionStart, ev.Action, ev.Reason)
	select {
	case <-sentinel.BlueGreenWarmupDone(bg):
	case <-time.After(30 * time.Second):
		t.Fatal("the warm-up did not finish")
	}
	rep := sentinel.BlueGreenReport(bg)
	require.NotNil(t, rep)
	assert.True(t, rep.Passed, rep.Reason)
	assert.Len(t, rep.Endpoints, e2eServers, "every green server warmed")
	warmCalls := e.fleet.Calls("green", "GetItem")
	assert.GreaterOrEqual(t, warmCalls, int64(3*e2eServers), "the warm-up called every green server")

	for ticks := 0; ticks < 30; ticks++ {
		got := e.load(callsPerTick)
		require.Zero(t, got.total("green"), "green gets no primary call before the cut-over")
		ev = e.tick()
		if ev.Action == sentinel.ActionSetWeights {
			break
		}
		require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionAdvance}, ev.Action, ev.Reason)
	}
	require.Equal(t, sentinel.ActionSetWeights, ev.Action, ev.Reason)
	assert.Equal(t, 9000, e.split.Weight("green"), "one step to all the traffic but blue's 10 %")
	assert.Equal(t, sentinel.PhaseProgressing, e.s.Status().Phase)
}

// window runs the rollback window with calls per tick until the rollout
// ends or 30 ticks have passed, and returns the calls and the last event.
func (e *e2e) window(calls int) (served, sentinel.Event) {
	e.t.Helper()
	var ev sentinel.Event
	all := served{ok: map[string]int{}, failed: map[string]int{}}
	for ticks := 0; ticks < 30 && !e.s.Status().Phase.Final(); ticks++ {
		got := e.load(calls)
		for v, n := range got.ok {
			all.ok[v] += n
		}
		for v, n := range got.failed {
			all.failed[v] += n
		}
		assert.Len(e.t, e.split.ReadyEndpoints("blue"), e2eServers, "blue stays connected through the window")
		ev = e.tick()
	}
	return all, ev
}

func TestE2EBlueGreenCutOverSucceeds(t *testing.T) {
	e, bg, sh := startBlueGreen(t, true)
	runToCutover(t, e, bg)
	compared := sh.Stats().Comparisons[shadow.ResultMatch]
	assert.GreaterOrEqual(t, compared, int64(100), "the grace period compared green with blue")
	assert.Zero(t, sh.Stats().Comparisons[shadow.ResultMismatch])
	afterCut, ev := e.window(callsPerTick)
	require.Equal(t, sentinel.PhasePromoted, e.s.Status().Phase, ev.Reason)
	assert.Equal(t, sentinel.ActionPromote, ev.Action)
	assert.Contains(t, ev.Reason, "passed the rollback window of 8s against blue over the same seconds")
	assert.Zero(t, afterCut.failures())
	assert.GreaterOrEqual(t, afterCut.ok["green"], 1000)
	assert.InDelta(t, 0.1, float64(afterCut.ok["blue"])/float64(afterCut.ok["blue"]+afterCut.ok["green"]), 0.05,
		"blue served its 10 %% through the window: %v", afterCut.ok)
	assert.Zero(t, sh.Stats().Rate, "the shadow is off")
	e.assertAlerted(sentinel.ActionPromote)
	assert.Equal(t, 100, e.load(100).ok["green"], "green has all the traffic")
}

func TestE2EBlueGreenFailingGreenIsRolledBack(t *testing.T) {
	e, bg, _ := startBlueGreen(t, false)
	runToCutover(t, e, bg)
	for range 2 {
		require.Zero(t, e.load(callsPerTick).failures())
		require.Equal(t, sentinel.ActionHold, e.tick().Action)
	}
	require.Equal(t, plan.StepCutover, sentinel.BlueGreenStage(bg))

	e.fleet.SetFaults("green", demoserver.Faults{ErrorRate: 0.2})
	var ev sentinel.Event
	failed, ticks := 0, 0
	for ; ticks < 30 && !e.s.Status().Phase.Final(); ticks++ {
		got := e.load(callsPerTick)
		failed += got.failed["green"]
		ev = e.tick()
	}
	require.Equal(t, sentinel.PhaseRolledBack, e.s.Status().Phase, ev.Reason)
	assert.Equal(t, sentinel.ActionRollback, ev.Action)
	assert.Contains(t, ev.Reason, "green fails more often than blue over the same seconds")
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestErrors, ev.Verdict.Test, "the event shows the test that decided")
	assert.Less(t, 2+ticks, 8, "rolled back inside the rollback window of 8 s")
	assert.Equal(t, 10000, e.split.Weight("blue"), "all the traffic back to blue at once")
	t.Logf("green failed %d calls in %d tick(s) before the rollback: %s", failed, ticks, ev.Reason)
	e.assertAlerted(sentinel.ActionRollback)

	after := e.load(100)
	assert.Equal(t, 100, after.ok["blue"], "calls are served by blue again")
	assert.Zero(t, after.failures())
}

// canaryToMidStep runs a healthy canary to the middle of its 50 % step.
func canaryToMidStep(t *testing.T, e *e2e) {
	t.Helper()
	for ticks := 0; ticks < 40 && e.split.Weight("canary") != 5000; ticks++ {
		require.Zero(t, e.load(callsPerTick).failures())
		e.tick()
	}
	require.Equal(t, 5000, e.split.Weight("canary"), e.s.Status().LastDecision.Reason)
	require.Zero(t, e.load(callsPerTick).failures())
	require.Equal(t, sentinel.ActionHold, e.tick().Action)
}

var e2eServing = sentinel.WithServing(sentinel.ServingConfig{RollbackAfter: 20 * time.Second})

const downAlert = "canary has no ready endpoints; 0 calls in the last 5s"

func TestE2ECanaryKilledMidStepIsRolledBackAsUnavailable(t *testing.T) {
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{}, nil)
	e.start(e2eCanary(t), e2eJudge, e2eServing)
	canaryToMidStep(t, e)

	e.kill("canary")
	var ev sentinel.Event
	ticks, failed := 0, 0
	for ; ticks < 60 && !e.s.Status().Phase.Final(); ticks++ {
		failed += e.load(callsPerTick).failures()
		ev = e.tick()
		require.NotContains(t, []sentinel.Action{sentinel.ActionAdvance, sentinel.ActionPromote}, ev.Action, "tick %d: %s", ticks, ev.Reason)
	}
	assert.Zero(t, failed, "every call fell back to stable")
	require.Equal(t, sentinel.PhaseRolledBack, e.s.Status().Phase, ev.Reason)
	assert.Equal(t, 20, ticks, "rolled back when it had not served for 20 s")
	assert.Contains(t, ev.Reason, "canary is unavailable: "+downAlert)
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestAvailability, ev.Verdict.Test)
	assert.Equal(t, judge.Inconclusive, ev.Verdict.Outcome, "not a statistical fail")
	assert.Positive(t, ev.Figures["canary"].Fallbacks, "its picks fell back")
	e.assertAlerted(sentinel.ActionRollback)
	assert.Len(t, e.alerts.about(downAlert+"; the rollout holds"), 1, "one alert says the canary is down")
	assert.Equal(t, 100, e.load(100).ok["stable"], "all calls on stable")
}

func TestE2ECanaryKilledAndRestoredCarriesOn(t *testing.T) {
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{}, nil)
	e.start(e2eCanary(t), e2eJudge, e2eServing)
	canaryToMidStep(t, e)

	addrs := e.kill("canary")
	failed := 0
	for ticks := range 10 {
		failed += e.load(callsPerTick).failures()
		ev := e.tick()
		require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionAlert}, ev.Action, "tick %d: %s", ticks, ev.Reason)
	}
	e.restore("canary", addrs)
	var ev sentinel.Event
	for ticks := 0; ticks < 60 && !e.s.Status().Phase.Final(); ticks++ {
		failed += e.load(callsPerTick).failures()
		ev = e.tick()
	}
	require.Equal(t, sentinel.PhasePromoted, e.s.Status().Phase, ev.Reason)
	assert.Zero(t, failed)
	e.assertAlerted(sentinel.ActionPromote)
	assert.Len(t, e.alerts.about(downAlert), 1, "one alert for the outage, none after it")
	assert.Equal(t, 100, e.load(100).ok["canary"], "the restored canary has all the traffic")
}

// Calls in flight when the canary's servers die fail for their callers,
// unanswered; the rollout puts them down to the outage, holds, and carries
// on once the canary is back: killed and restored, it is not rolled back
// as a statistical fail.
func TestE2ECanaryKilledWithCallsInFlightHoldsAndCarriesOn(t *testing.T) {
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{}, nil)
	e.start(e2eCanary(t), e2eJudge, e2eServing)
	canaryToMidStep(t, e)

	const inFlight = 20
	servers := e.fleet.Servers("canary")
	for _, srv := range servers {
		srv.SetFaults(demoserver.Faults{Latency: time.Minute})
	}
	ctx, cancel := context.WithTimeout(balancer.ForceVersion(context.Background(), "canary"), 30*time.Second)
	defer cancel()
	client := demov1.NewDemoServiceClient(e.cc)
	errs := make(chan error, inFlight)
	for range inFlight {
		go func() {
			_, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
			errs <- err
		}()
	}
	require.Eventually(t, func() bool {
		n := int64(0)
		for _, srv := range servers {
			n += srv.InFlight()
		}
		return n == inFlight
	}, 10*time.Second, time.Millisecond)
	addrs := e.kill("canary")
	for range inFlight {
		err := <-errs
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	}
	for ticks := range 10 {
		require.Zero(t, e.load(callsPerTick).failures())
		ev := e.tick()
		require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionAlert}, ev.Action, "tick %d: %s", ticks, ev.Reason)
	}
	assert.EqualValues(t, inFlight, e.s.Status().Serving.Lost, e.s.Status().Serving.Reason)
	assert.NotEqual(t, judge.Fail, e.s.Status().Verdict.Outcome, e.s.Status().Verdict.Reason)
	e.restore("canary", addrs)
	var ev sentinel.Event
	for ticks := 0; ticks < 60 && !e.s.Status().Phase.Final(); ticks++ {
		require.Zero(t, e.load(callsPerTick).failures())
		ev = e.tick()
	}
	require.Equal(t, sentinel.PhasePromoted, e.s.Status().Phase, ev.Reason)
	assert.Len(t, e.alerts.about("canary has no ready endpoints; "), 1, "one alert for the outage: %v", e.alerts.about(""))
}

func TestE2EBlueGreenAMachineThatSlowsDownIsNoReasonToRollBack(t *testing.T) {
	for _, c := range []struct {
		name     string
		versions []string
		want     sentinel.Phase
	}{
		{"the whole machine", []string{"blue", "green"}, sentinel.PhasePromoted},
		{"green alone", []string{"green"}, sentinel.PhaseRolledBack},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, bg, _ := startBlueGreen(t, false)
			runToCutover(t, e, bg)
			for _, v := range c.versions {
				e.fleet.SetFaults(v, demoserver.Faults{Latency: 20 * time.Millisecond})
			}
			calls, ev := e.window(callsPerTick / 2)
			require.Equal(t, c.want, e.s.Status().Phase, ev.Reason)
			assert.Zero(t, calls.failures(), "slow, not failed")
			if c.want == sentinel.PhaseRolledBack {
				assert.Contains(t, ev.Reason, "green is slower than blue over the same seconds")
				require.NotNil(t, ev.Verdict)
				assert.Equal(t, judge.TestLatency, ev.Verdict.Test)
			}
		})
	}
}

func TestE2EBlueGreenKilledAfterTheCutoverIsRolledBackAsUnavailable(t *testing.T) {
	e, bg, _ := startBlueGreen(t, false, sentinel.WithServing(sentinel.ServingConfig{RollbackAfter: 10 * time.Second}))
	runToCutover(t, e, bg)
	e.kill("green")
	calls, ev := e.window(callsPerTick)
	require.Equal(t, sentinel.PhaseRolledBack, e.s.Status().Phase, ev.Reason)
	assert.Zero(t, calls.failures(), "every call fell back to blue")
	assert.Contains(t, ev.Reason, "blue/green: green is unavailable: green has no ready endpoints")
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestAvailability, ev.Verdict.Test)
	e.assertAlerted(sentinel.ActionRollback)
	assert.Len(t, e.alerts.about("green has no ready endpoints; 0 calls in the last 5s; the rollout holds"), 1)
}

// putItems makes n PutItem calls: a method with no idempotency_level, so
// never copied by the shadow.
func (e *e2e) putItems(n int) served {
	return e.loadOf(n, func(ctx context.Context, client demov1.DemoServiceClient) (*demov1.ServedBy, error) {
		resp, err := client.PutItem(ctx, &demov1.PutItemRequest{Item: &demov1.Item{Id: "a", Name: "a"}})
		return resp.GetServedBy(), err
	})
}

// The README's wiring, shadow judging on, on a client that calls only a
// method without idempotency_level: every copy is dropped as unsafe, and
// the sentinel says so with the fix within a minute instead of holding in
// silence.
func TestE2EShadowJudgingOnAMethodNotSafeToCopyAlertsWithTheFix(t *testing.T) {
	var sh *shadow.Interceptor
	e := startE2E(t, "stable", demoserver.Faults{}, "canary", demoserver.Faults{}, func(m *telemetry.Metrics) []grpc.DialOption {
		var err error
		sh, err = shadow.New(shadow.Config{Candidate: "canary", Rate: 0.5, Seed: 1, Metrics: m})
		require.NoError(t, err)
		t.Cleanup(func() { sh.Close(context.Background()) })
		return []grpc.DialOption{grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor())}
	})
	e.shadow = sh
	e.start(e2eCanary(t), sentinel.WithJudge(judge.Config{EnableShadow: true}), sentinel.WithShadow(sh, "ninelives.demo.v1.DemoService"))
	var alertAt time.Duration
	for ticks := 0; ticks < 45 && alertAt == 0; ticks++ {
		require.Zero(t, e.putItems(callsPerTick/2).failures())
		if ev := e.tick(); ev.Action == sentinel.ActionAlert {
			alertAt = ev.Time.Sub(ev.Started)
		}
		require.Equal(t, 1000, e.split.Weight("canary"), "the first step holds: the shadow test has no data")
	}
	require.NotZero(t, alertAt, "an alert says why the rollout holds")
	assert.LessOrEqual(t, alertAt, time.Minute)
	e.assertAlerted(sentinel.ActionAlert)
	require.Len(t, e.alerts.events, 1)
	assert.Contains(t, e.alerts.events[0].Reason, "the judge's shadow test has had no comparison for 30s, and every step holds: "+
		"no method of ninelives.demo.v1.DemoService (PutItem: no idempotency_level) that was called is safe to copy (")
	assert.Contains(t, e.alerts.events[0].Reason, " copies dropped as unsafe_method): mark idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT "+
		"on the methods that are safe to repeat, or list them in shadow.Config.Methods, or turn shadow judging off (judge.Config.EnableShadow)")
	assert.Positive(t, sh.Stats().Dropped[shadow.DropUnsafeMethod])
}
