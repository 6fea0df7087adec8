package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

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
