package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseRegression(t *testing.T) {
	for _, r := range Regressions {
		got, err := ParseRegression(string(r))
		require.NoError(t, err)
		assert.Equal(t, r, got)
		assert.NotEmpty(t, r.Describe())
	}
	_, err := ParseRegression("slow")
	assert.ErrorContains(t, err, `-regression "slow": want one of none, errors, latency, diff, hang`)
	assert.Equal(t, 0.05, RegressionErrors.Faults().ErrorRate)
	assert.Equal(t, BaseLatency*5, RegressionLatency.Faults().Latency)
	assert.True(t, RegressionHang.Faults().Hang)
	assert.Equal(t, BaseLatency, RegressionNone.Faults().Latency)
}

func TestReportIsSelfContainedAndEscaped(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "canary", Baseline: "stable", Candidate: "canary"}
	res := &Result{Recipe: "canary", Regression: RegressionErrors, Phase: sentinel.PhaseRolledBack, Elapsed: 3 * time.Second}
	for i := 1; i <= 3; i++ {
		calls := int64(50)
		if i == 3 {
			calls = 0 // no canary calls: the line breaks
		}
		res.Ticks = append(res.Ticks, Tick{N: i, At: time.Duration(i) * time.Second,
			Decision: sentinel.Event{Time: start.Add(time.Duration(i) * time.Second)},
			Summary: sentinel.TickSummary{Weights: map[string]int{"canary": 1000},
				Versions: map[string]sentinel.VersionFigures{"stable": {Calls: 450, P99: 0.003}, "canary": {Calls: calls, Errors: 3, ErrorRate: 0.06, P99: 0.004}}}})
	}
	res.Events = []sentinel.Event{{Time: start.Add(2 * time.Second), Action: sentinel.ActionRollback, Who: "sentinel", Reason: `<script>alert("x")</script> errors`}}
	path := filepath.Join(t.TempDir(), "r.html")
	require.NoError(t, WriteReport(path, rc, res))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	html := string(b)
	assert.NotContains(t, html, `<script>alert`, "text from events is escaped")
	assert.Contains(t, html, "&lt;script&gt;alert")
	assert.Equal(t, 3, strings.Count(html, "<svg "), "three charts")
	assert.NotContains(t, html, "src=", "no external asset")
	assert.Contains(t, html, `stroke="#c0392b"`, "the rollback is marked")
	assert.Contains(t, html, "<polyline", "the series are drawn")

	assert.Equal(t, 1.0, niceCeil(0))
	assert.Equal(t, 2.5, niceCeil(2.1))
	assert.Equal(t, 50.0, niceCeil(41))
}

func TestRunLeavesTheRecipeAloneAndUsesItsDescription(t *testing.T) {
	rc := &Recipe{
		Name: "test", Baseline: "stable", Candidate: "canary",
		CandidateFaults: func(r Regression) demoserver.Faults { return r.Faults() },
		Strategy: func(*Env) (sentinel.Strategy, error) {
			return sentinel.NewCanary(sentinel.CanaryConfig{})
		},
		Describe: func(r Regression) string { return "the recipe's own words for " + string(r) },
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), rc, Options{Regression: RegressionErrors, Rate: 20, Duration: 2 * time.Second,
		Interval: time.Second, Virtual: true, Seed: 1, Out: &out})
	require.NoError(t, err)
	assert.Len(t, res.Ticks, 2)
	assert.Zero(t, rc.Instances, "Run fills in the default instances on its own copy")
	assert.Contains(t, out.String(), "3 stable and 3 canary servers", "the run used the default")
	assert.Contains(t, out.String(), "\nRegression: errors: the recipe's own words for errors\n")
	assert.NotContains(t, out.String(), RegressionErrors.Describe())

	path := filepath.Join(t.TempDir(), "r.html")
	require.NoError(t, WriteReport(path, rc, res))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), "the recipe&#39;s own words for errors")
	assert.Equal(t, RegressionErrors.Describe(), (&Recipe{}).DescribeRegression(RegressionErrors), "no Describe: the shared words")
}

func TestAPausedRunSaysSoAndIsNoError(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "canary", Baseline: "stable", Candidate: "canary", Instances: 3}
	res := &Result{Phase: sentinel.PhasePaused, Elapsed: time.Minute,
		Ticks: []Tick{{N: 1, At: time.Second, Decision: sentinel.Event{Time: start.Add(time.Second)}}},
		Events: []sentinel.Event{
			{Time: start.Add(time.Second), Action: sentinel.ActionStart, Phase: sentinel.PhaseProgressing, Who: "sentinel"},
			{Time: start.Add(5 * time.Second), Action: sentinel.ActionPause, Phase: sentinel.PhasePaused, Who: "alice", Reason: "checking"},
		}}
	var out bytes.Buffer
	newView(&out, rc, Options{Regression: RegressionNone, Duration: time.Minute, Interval: time.Second}).summary(res)
	assert.Contains(t, out.String(), "The rollout was paused by hand (by alice: checking) and was still paused when the run's -duration of 1m0s ran out")
	assert.NotContains(t, out.String(), "give it a longer -duration")
	assert.NoError(t, outcome(res, time.Minute), "a paused run exits 0")

	res.Phase = sentinel.PhaseProgressing
	out.Reset()
	newView(&out, rc, Options{Regression: RegressionNone, Duration: time.Minute, Interval: time.Second}).summary(res)
	assert.Contains(t, out.String(), "give it a longer -duration")
	assert.ErrorContains(t, outcome(res, time.Minute), "ninelives: the rollout did not finish in 1m0s (phase progressing)")
	res.Phase = sentinel.PhasePromoted
	assert.NoError(t, outcome(res, time.Minute))
	assert.Equal(t, "from the status page or the API", pausedBy(nil))
}
