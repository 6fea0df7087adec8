package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testGates are the recipe's latency gates in the tests, with latency gates
// far above a loaded machine's scheduling noise. The virtual clock moves the
// sentinel's time, not the calls': each call still takes real time, and
// when a tick's calls are made as fast as they can be on a busy machine
// their latencies are mostly queueing and scheduling. With -race on 2 cores
// at a load of 5, ticks' p99s of about 200 ms were measured, and the
// program's gates (warm-up calls under 50 ms, green's p99 under 1.5× blue's
// + 10 ms) once rolled a healthy green back. With a 1 s margin only a call
// slower than 1.5× blue's p99 + 1 s counts as slow.
var testGates = Thresholds{WarmupCeiling: time.Second, LatencyMargin: time.Second}

// testCallTimeout is the deadline of the load's calls in the tests, instead
// of the program's 2 s: far above the slow green's 4 s calls (and the
// latency gate's 1 s margin), so that green's calls, queueing behind each
// other on a busy machine, are slow but do not fail.
const testCallTimeout = 10 * time.Second

// runRecipe runs the recipe at 300 calls/s on a virtual clock: each tick's
// calls are made as fast as they can be, and the assertions are on counts
// and outcomes. The calls' latencies are real, so the latency gates are
// set far above scheduling noise (testGates) and the calls' deadline far
// above the slowest green's latency (testCallTimeout): only a machine so
// busy that it adds most of a second to most calls could change the
// outcome.
func runRecipe(t *testing.T, after *demoserver.Faults, reg demo.Regression, edit ...func(*demo.Options)) *demo.Result {
	t.Helper()
	opts := demo.Options{
		Regression:  reg,
		Rate:        300,
		Duration:    90 * time.Second,
		Interval:    time.Second,
		Report:      filepath.Join(t.TempDir(), "report.html"),
		Virtual:     true,
		Seed:        11,
		Tail:        3,
		CallTimeout: testCallTimeout,
	}
	for _, e := range edit {
		e(&opts)
	}
	d, err := demo.Start(recipeWith(after), opts)
	require.NoError(t, err)
	defer d.Stop()
	res, err := Rollout(context.Background(), d, testGates)
	require.NoError(t, err)
	return res
}

// cutoverTick is the tick whose decision gave green all the traffic.
func cutoverTick(t *testing.T, res *demo.Result) int {
	t.Helper()
	for i, tk := range res.Ticks {
		if tk.Decision.Action == sentinel.ActionSetWeights && demo.GaveAllTo(tk.Decision, "green") {
			return i
		}
	}
	t.Fatalf("no cut-over in %d ticks", len(res.Ticks))
	return 0
}

func TestHealthyGreenTakesOverWithoutAFailedCall(t *testing.T) {
	res := runRecipe(t, nil, demo.RegressionNone)
	require.Equal(t, sentinel.PhasePromoted, res.Phase)
	assert.Zero(t, res.Failed, "not one call fails in the whole run")
	assert.Positive(t, res.Calls)

	var steps []string
	for _, e := range res.Events {
		if e.StepName != "" && (len(steps) == 0 || steps[len(steps)-1] != e.StepName) {
			steps = append(steps, e.StepName)
		}
	}
	assert.Equal(t, []string{plan.StepWarmup, plan.StepShadow, plan.StepCutover}, steps)
	// Each step ends on the verdict of its own gate.
	decided := map[sentinel.Action]string{}
	for _, e := range res.Events {
		if e.Who == "sentinel" && e.Verdict != nil && e.Action != sentinel.ActionAlert {
			decided[e.Action] = e.Verdict.Outcome.String() + " " + e.Verdict.Test
		}
	}
	assert.Equal(t, map[sentinel.Action]string{
		sentinel.ActionStart:      "inconclusive ",
		sentinel.ActionAdvance:    "pass " + judge.TestWarmup,
		sentinel.ActionSetWeights: "pass " + judge.TestShadow,
		sentinel.ActionPromote:    "pass " + judge.TestWindow,
	}, decided)

	cut := cutoverTick(t, res)
	var green int64
	for _, tk := range res.Ticks[cut+1:] {
		assert.Zero(t, tk.Load.Served["blue"], "tick %d: every call after the cut-over is served by green", tk.N)
		green += tk.Load.Served["green"]
	}
	assert.Positive(t, green)
	for _, tk := range res.Ticks[:cut+1] {
		assert.Zero(t, tk.Load.Served["green"], "tick %d: green has no primary call before the cut-over", tk.N)
	}
	assert.Positive(t, res.Shadow.Stats.Comparisons["match"], "the grace period compared green's replies")
}

func TestGreenFailingAfterTheCutoverGoesBackToBlue(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.html")
	res := runRecipe(t, &GreenFailure, demo.RegressionErrors, func(o *demo.Options) { o.Report = report })
	require.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	cut := cutoverTick(t, res)
	assert.Greater(t, res.FinalTick, cut, "rolled back after the cut-over, in the rollback window")
	// Stated bound: green fails 20 % of its calls, and the window's error
	// test needs one tick of 300 calls to be sure, so fewer than 150 calls
	// fail in the whole run.
	assert.Less(t, res.Failed, int64(150))
	assert.Positive(t, res.Failed)
	for _, tk := range res.Ticks[res.FinalTick:] {
		assert.Zero(t, tk.Load.Served["green"], "tick %d: back on blue", tk.N)
		assert.Zero(t, tk.Load.Failed, "tick %d", tk.N)
	}
	last := res.Alerts[len(res.Alerts)-1]
	assert.Equal(t, sentinel.ActionRollback, last.Action)
	assert.True(t, strings.Contains(last.Reason, "green"), last.Reason)
	// The rollback rests on the rollback window's error test, and says so
	// in its event and in the report's row, not the judge's verdict.
	require.NotNil(t, last.Verdict)
	assert.Equal(t, judge.Fail, last.Verdict.Outcome)
	assert.Equal(t, judge.TestErrors, last.Verdict.Test)
	html, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<td>errors</td><td>fail: errors ", "the report's rollback row names the window's test")
}

// slowGreen is what green does from the cut-over on in
// TestSlowGreenAfterTheCutoverGoesBackToBlue.
var slowGreen = demoserver.Faults{Latency: 4 * time.Second}

// TestSlowGreenAfterTheCutoverGoesBackToBlue judges latency with the
// tests' generous margin: from the cut-over on green takes 4 s a call,
// above 1.5× blue's p99 + 1 s for any p99 of blue under 2 s (a machine at
// a load of 11 under -race once gave blue a p99 above 400 ms, which a
// green of 1.6 s a call passed), and far under the tests' 10 s deadline
// (testCallTimeout), so the calls are slow but do not fail, even when they
// queue behind each other. The tick of green's slow calls takes about 20 s:
// 300 calls, 64 at a time.
func TestSlowGreenAfterTheCutoverGoesBackToBlue(t *testing.T) {
	res := runRecipe(t, &slowGreen, demo.RegressionLatency)
	require.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	cut := cutoverTick(t, res)
	assert.Equal(t, cut+2, res.FinalTick, "rolled back on the first tick of green's slow calls")
	require.NotEmpty(t, res.Alerts)
	last := res.Alerts[len(res.Alerts)-1]
	assert.Equal(t, sentinel.ActionRollback, last.Action)
	assert.Contains(t, last.Reason, "slower than blue")
	for _, tk := range res.Ticks[res.FinalTick:] {
		assert.Zero(t, tk.Load.Served["green"], "tick %d: back on blue", tk.N)
	}
	for _, tk := range res.Ticks {
		assert.Zero(t, tk.Load.Failed, "tick %d: slow, not failed: %v", tk.N, tk.Load.Errors)
	}
}

// TestDryRunReportsTheCutoverButMovesNothing runs a healthy green with
// -dry-run: bluegreen.star goes through its warm-up and shadow gates and
// reports the cut-over it would make, then waits in the rollback window for
// calls green never gets; blue serves every call.
func TestDryRunReportsTheCutoverButMovesNothing(t *testing.T) {
	res := runRecipe(t, nil, demo.RegressionNone, func(o *demo.Options) { o.DryRun = true; o.Duration = 20 * time.Second })
	assert.Equal(t, sentinel.PhaseProgressing, res.Phase)
	cut := slices.IndexFunc(res.Ticks, func(tk demo.Tick) bool { return tk.Decision.StepName == plan.StepCutover })
	require.Positive(t, cut, "the cut-over is reported")
	assert.Equal(t, sentinel.ActionSetWeights, res.Ticks[cut].Decision.Action)
	require.NotEmpty(t, res.Events)
	for _, e := range res.Events {
		assert.True(t, e.DryRun, "%s is reported, not carried out", e.Action)
	}
	for _, tk := range res.Ticks {
		assert.Zero(t, tk.Load.Served["green"], "tick %d: blue serves every call", tk.N)
	}
	assert.Contains(t, res.Ticks[cut+1].Decision.Reason, "blue/green: rollback window 1s of 10s: errors 0% (0/0)")
	assert.Contains(t, res.Ticks[len(res.Ticks)-1].Decision.Reason, "the rollback window is over, but green needs 500 calls in it to pass",
		"holds for green's calls after the window")
	assert.NoError(t, res.Err(), "a dry run that ran its course exits 0")
}

func TestRecipeDescribesItsOwnRegression(t *testing.T) {
	rc := Recipe(true)
	assert.Equal(t, "green passes its warm-up and shadow gates, then fails 20 % of its calls with UNAVAILABLE from the cut-over on",
		rc.DescribeRegression(regression(true)))
	assert.Equal(t, "green is as good as blue", Recipe(false).DescribeRegression(regression(false)))

	// The words come from the faults green gets, whatever the regression's
	// name.
	assert.Equal(t, "green passes its warm-up and shadow gates, then takes 4s a call instead of 2ms from the cut-over on",
		recipeWith(&slowGreen).DescribeRegression(demo.RegressionLatency))
	assert.Equal(t, "green passes its warm-up and shadow gates, then fails 50 % of its calls with UNAVAILABLE and hangs every call until its deadline from the cut-over on",
		recipeWith(&demoserver.Faults{Latency: demo.BaseLatency, ErrorRate: 0.5, Hang: true}).DescribeRegression(demo.RegressionErrors))
	assert.Equal(t, "green is as good as blue", recipeWith(nil).DescribeRegression(demo.RegressionLatency))
}

func TestBadFlags(t *testing.T) {
	assert.ErrorContains(t, run([]string{"-rate", "-3"}), "-rate -3")
	assert.ErrorContains(t, run([]string{"-nope"}), "flag provided but not defined: -nope")
}
