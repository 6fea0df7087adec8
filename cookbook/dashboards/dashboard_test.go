package dashboards_test

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
)

// want is what a query must show once the rig's traffic has run: the
// label that tells its series apart, values of it that must be among
// them, and those whose series must rise above 0 somewhere (counts and
// rates; a ratio may rightly be 0, as a healthy version's error ratio).
type want struct {
	label        string
	have, above0 []string
}

// wants holds a want for every query of the dashboard. A query added to
// the dashboard needs one here: the test fails on a query it has no want
// for, and on a want no query has.
func wants(decisions []string) map[string]want {
	both := []string{"stable", "canary"}
	return map[string]want{
		`panel "Call rate" (A)`:             {"ninelives_version", both, both},
		`panel "Error ratio" (A)`:           {"ninelives_version", both, []string{"stable"}},
		`panel "Latency p50" (A)`:           {"ninelives_version", both, both},
		`panel "Latency p99" (A)`:           {"ninelives_version", both, both},
		`panel "Calls by status code" (A)`:  {"rpc_grpc_status_code", []string{"0", "14"}, []string{"0", "14"}},
		`panel "Mean latency by role" (A)`:  {"ninelives_role", []string{"primary", "shadow"}, []string{"primary", "shadow"}},
		`panel "Weights" (A)`:               {"ninelives_version", []string{"stable", "canary", "dark"}, []string{"stable", "canary", "dark"}},
		`panel "Fallbacks" (A)`:             {"ninelives_version", []string{"dark"}, []string{"dark"}},
		`panel "Sentinel decisions" (A)`:    {"ninelives_sentinel_action", decisions, decisions},
		`panel "Shadow comparisons" (A)`:    {"ninelives_shadow_result", []string{"mismatch"}, []string{"mismatch"}},
		`panel "Shadow mismatch ratio" (A)`: {"ninelives_version", []string{"canary"}, []string{"canary"}},
		`panel "Shadow copies dropped" (A)`: {"ninelives_shadow_reason", []string{"unsafe_method"}, []string{"unsafe_method"}},
		`annotation "Sentinel decisions"`:   {"ninelives_sentinel_action", []string{"start"}, []string{"start"}},
	}
}

// TestEveryQueryShowsTheTraffic sends real traffic through the client
// stack into a real Prometheus, a fallback and shadow mismatches among
// it, and runs every query of the dashboard through Prometheus' HTTP API
// over that time, as Grafana would: with every version selected, and then
// with only the canary.
func TestEveryQueryShowsTheTraffic(t *testing.T) {
	d, err := loadDashboard("ninelives.json")
	require.NoError(t, err)
	r := startRig(t)
	start := time.Now()
	var decisions []string
	for round := range 8 {
		r.load(t, 200)
		if round > 0 {
			ev := r.tick()
			if round == 1 {
				require.Equal(t, sentinel.ActionStart, ev.Action, ev.Reason)
			}
			if !slices.Contains(decisions, string(ev.Action)) {
				decisions = append(decisions, string(ev.Action))
			}
		}
		r.waitScrapes(t)
	}
	end := time.Now()
	t.Logf("%d calls over %v; the sentinel decided %v", r.calls.Load(), end.Sub(start).Round(time.Millisecond), decisions)

	p := r.promAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checkVersionVariable(ctx, t, d, p, start, end)
	const step = time.Second
	all := grafana{step: step, scrape: scrapeInterval, vars: map[string]string{"version": versionAll(t, d)}}
	canary := grafana{step: step, scrape: scrapeInterval, vars: map[string]string{"version": "canary"}}
	w := wants(decisions)
	where, exprs := d.queries()
	for i, expr := range exprs {
		wt, ok := w[where[i]]
		if !assert.True(t, ok, "%s has no want in this test: say what it should show once the traffic has run", where[i]) {
			continue
		}
		delete(w, where[i])
		got := evaluate(ctx, t, p, all, where[i], expr, start, end, step)
		checkSeries(t, where[i], expr, got, wt)
		if strings.Contains(expr, "$version") {
			got = evaluate(ctx, t, p, canary, where[i]+` with version "canary"`, expr, start, end, step)
			checkOnlyCanary(t, where[i], expr, got, wt)
		}
	}
	assert.Empty(t, w, "wants for queries the dashboard does not have")
}

// evaluate runs expr, with the variables of g substituted, as a range
// query; it fails the test, naming where the query stands, if it cannot.
func evaluate(ctx context.Context, t *testing.T, p prom, g grafana, where, expr string, start, end time.Time, step time.Duration) []series {
	t.Helper()
	q, err := g.expand(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	got, err := p.queryRange(ctx, q, start, end, step)
	if err != nil {
		t.Errorf("%s: %s: %v", where, q, err)
	}
	return got
}

// checkSeries checks that a query's series include those the want names,
// rising above 0 where it says.
func checkSeries(t *testing.T, where, expr string, got []series, w want) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%s shows no series: %s", where, expr)
		return
	}
	peak := map[string]float64{}
	for _, s := range got {
		v := s.labels[w.label]
		if m := s.max(); !math.IsNaN(m) || !hasKey(peak, v) {
			peak[v] = math.Max(peak[v], m)
		}
	}
	for _, v := range w.have {
		assert.True(t, hasKey(peak, v), "%s shows no series with %s=%q (it has %v): %s", where, w.label, v, peak, expr)
	}
	for _, v := range w.above0 {
		assert.True(t, peak[v] > 0, "%s: the series with %s=%q is never above 0 (it peaks at %v): %s", where, w.label, v, peak[v], expr)
	}
}

// checkOnlyCanary checks a query with only the canary selected: it shows
// the canary's series if it showed them with every version, and no other
// version's.
func checkOnlyCanary(t *testing.T, where, expr string, got []series, w want) {
	t.Helper()
	if w.label == "ninelives_version" && slices.Contains(w.have, "canary") {
		assert.NotEmpty(t, got, "%s with version \"canary\" shows no series: %s", where, expr)
	}
	for _, s := range got {
		if v, ok := s.labels["ninelives_version"]; ok {
			assert.Equal(t, "canary", v, "%s with version \"canary\" shows another version: %s", where, expr)
		}
	}
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

// versionAll is the value of the version variable with All selected.
func versionAll(t *testing.T, d *dashboard) string {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Name == "version" {
			require.NotEmpty(t, v.AllValue, "the version variable needs an allValue: Grafana's default lists the values it loaded")
			return v.AllValue
		}
	}
	t.Fatal("the dashboard has no version variable")
	return ""
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)

// checkVersionVariable runs the version variable's query: it must offer
// every version of the split, the one that is down too.
func checkVersionVariable(ctx context.Context, t *testing.T, d *dashboard, p prom, start, end time.Time) {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Name != "version" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q), "the version variable's query")
		m := labelValuesQuery.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "the version variable's query %q is label_values(metric, label)", q.Query)
		got, err := p.labelValues(ctx, m[1], m[2], start, end)
		require.NoError(t, err, "variable version: %s", q.Query)
		for _, want := range []string{"stable", "canary", "dark"} {
			assert.Contains(t, got, want, "variable version: %s offers %v", q.Query, got)
		}
	}
}
