package main

import (
	"context"
	"os"
	"path/filepath"
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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runRecipe runs the recipe on a virtual clock: each tick's 500 calls are
// made as fast as they can be, and the assertions are on counts and
// outcomes. The calls' latencies are still real: the judge compares the two
// versions' calls of the same tick, which share the machine's scheduling
// noise.
func runRecipe(t *testing.T, reg demo.Regression) *demo.Result {
	t.Helper()
	return runRecipeOf(t, Recipe(), reg)
}

func runRecipeOf(t *testing.T, rc *demo.Recipe, reg demo.Regression) *demo.Result {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.html")
	res, err := demo.Run(context.Background(), rc, demo.Options{
		Regression: reg,
		Rate:       500,
		Duration:   90 * time.Second,
		Interval:   time.Second,
		Report:     report,
		Virtual:    true,
		Seed:       7,
		Tail:       2,
	})
	require.NoError(t, err)
	html, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<svg", "the report holds its charts")
	assert.NotContains(t, string(html), "http://", "the report needs no external asset")
	return res
}

func actions(res *demo.Result) []sentinel.Action {
	var out []sentinel.Action
	for _, e := range res.Events {
		out = append(out, e.Action)
	}
	return out
}

func TestErrorRegressionIsRolledBack(t *testing.T) {
	res := runRecipe(t, demo.RegressionErrors)
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	require.NotEmpty(t, res.Alerts)
	assert.Equal(t, sentinel.ActionRollback, res.Alerts[len(res.Alerts)-1].Action, "the rollback alerted")
	// Stated bound: fewer than 600 canary calls before the rollback (the
	// judge's median for 10× errors is under 200; see the simulation table).
	assert.Less(t, res.CandidateCalls, int64(600))
	assert.Positive(t, res.CandidateCalls)
	last := res.Ticks[len(res.Ticks)-1]
	assert.Zero(t, last.Summary.Versions["canary"].Calls, "no canary traffic after the rollback")
	// The errors test, or the shadow test, whose copies failed where the
	// primaries did not: either catches it first.
	assert.Contains(t, []string{judge.TestErrors, judge.TestShadow}, res.Status.Verdict.Test)
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	res := runRecipe(t, demo.RegressionNone)
	assert.Equal(t, sentinel.PhasePromoted, res.Phase)
	assert.Equal(t, []sentinel.Action{sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionAdvance, sentinel.ActionPromote}, actions(res))
	assert.Zero(t, res.Failed)
	last := res.Ticks[len(res.Ticks)-1]
	assert.Equal(t, 10000, last.Summary.Weights["canary"])
	assert.Zero(t, last.Summary.Versions["stable"].Calls)
}

func TestLatencyRegressionIsRolledBack(t *testing.T) {
	// Both versions' calls take ten times the demo's: the same 5× slowdown,
	// but far above the scheduling noise of a busy machine, which at the
	// demo's 2 ms a call can hide it for thousands of calls.
	rc := Recipe()
	rc.BaselineFaults = func() demoserver.Faults { return slower(demo.RegressionNone.Faults()) }
	rc.CandidateFaults = func(r demo.Regression) demoserver.Faults { return slower(r.Faults()) }
	res := runRecipeOf(t, rc, demo.RegressionLatency)
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	assert.Equal(t, judge.TestLatency, res.Status.Verdict.Test)
	assert.Less(t, res.CandidateCalls, int64(2000))
}

func TestReplyDifferenceIsCaughtByShadowComparison(t *testing.T) {
	res := runRecipe(t, demo.RegressionDiff)
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	assert.Equal(t, judge.TestShadow, res.Status.Verdict.Test)
	require.NotEmpty(t, res.Shadow.Mismatches)
	var priced bool
	for _, m := range res.Shadow.Mismatches {
		if strings.Contains(strings.Join(m.Fields, ","), "price_cents") {
			priced = true
		}
	}
	assert.True(t, priced, "the mismatch samples name the field: %+v", res.Shadow.Mismatches)
	assert.Contains(t, res.Shadow.NoisyFields["/ninelives.demo.v1.DemoService/GetItem"], "generated_at", "the timestamp was learned as noise: %v", res.Shadow.NoisyFields)
}

func TestBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-regression oops": `-regression "oops": want one of none, errors, latency, diff, hang`,
		"-rate 0":          "-rate 0, want 1..20000",
		"-duration -1s":    "-duration -1s",
	} {
		err := run(strings.Fields(args))
		assert.ErrorContains(t, err, want, args)
	}
}

// slower makes a call ten times as slow.
func slower(f demoserver.Faults) demoserver.Faults {
	f.Latency *= 10
	return f
}
