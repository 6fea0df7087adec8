package promexport_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

const dashboardPath = "../../cookbook/dashboards/ninelives.json"

type dashTarget struct {
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

type dashPanel struct {
	ID      int          `json:"id"`
	Type    string       `json:"type"`
	Title   string       `json:"title"`
	Targets []dashTarget `json:"targets"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Panels []dashPanel `json:"panels"`
}

type dashboard struct {
	SchemaVersion int         `json:"schemaVersion"`
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

// promQLWords are the PromQL functions and keywords the dashboard may use.
var promQLWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "by": true, "without": true,
	"rate": true, "irate": true, "increase": true, "changes": true, "histogram_quantile": true,
	"label_values": true, "clamp_min": true, "on": true, "ignoring": true, "and": true, "or": true, "unless": true,
	"offset": true,
}

var (
	stringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	variable  = regexp.MustCompile(`\$\{?\w+\}?`)
	duration  = regexp.MustCompile(`\[[^\]]*\]|\boffset[ \t]+[0-9][0-9a-z]*`)
	ident     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// recordEveryInstrument records on every instrument of m: attempts in each
// role (one failed), a fallback, the weights of a split, a shadow comparison
// and drop, and a decision.
func recordEveryInstrument(t *testing.T, m *telemetry.Metrics) {
	t.Helper()
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)
	for _, role := range []balancer.Role{balancer.RolePrimary, balancer.RoleShadow, balancer.RoleWarmup} {
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: role, Method: getItem, Latency: 3 * time.Millisecond})
	}
	m.ObserveAttempt(&balancer.Attempt{Version: "stable", Role: balancer.RolePrimary, Method: getItem,
		Err: status.Error(codes.Unavailable, "down"), Latency: time.Millisecond})
	m.ObserveFallback("canary")
	ctx := context.Background()
	m.RecordShadowComparison(ctx, "canary", getItem, telemetry.ShadowMismatch)
	m.RecordShadowDropped(ctx, "concurrency")
	m.RecordDecision(ctx, "hold")
}

// TestDashboard checks the Grafana dashboard: Grafana 10 schema, a Prometheus
// data-source variable that every query uses, and queries that name only
// metrics and labels that a real scrape of this package's exporter shows.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	assert.GreaterOrEqual(t, d.SchemaVersion, 38, "Grafana 10.0 writes schema 38")
	assert.NotEmpty(t, d.UID)
	assert.NotEmpty(t, d.Title)

	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" {
			hasDS = string(v.Query) == `"prometheus"`
		}
	}
	require.True(t, hasDS, "a Prometheus data-source variable named datasource")

	// A real scrape: every instrument recorded, served by the exporter.
	prom, err := promexport.New(nil)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(prom.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	recordEveryInstrument(t, m)
	names, labels := map[string]bool{}, map[string]bool{}
	for name, mf := range scrape(t, prom.Handler()) {
		names[name] = true
		if mf.GetType().String() == "HISTOGRAM" {
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			labels["le"] = true
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = true
			}
		}
	}
	for _, want := range []string{"ninelives_rpc_calls_total", "ninelives_rpc_duration_seconds_bucket", "ninelives_split_weight",
		"ninelives_split_fallbacks_total", "ninelives_shadow_comparisons_total", "ninelives_shadow_dropped_total", "ninelives_sentinel_decisions_total"} {
		require.True(t, names[want], "the scrape has %s", want)
	}

	checkExpr := func(where, expr string) {
		t.Helper()
		require.NotEmpty(t, expr, where)
		body := stringLit.ReplaceAllString(expr, `""`)
		body = variable.ReplaceAllString(body, "")
		body = duration.ReplaceAllString(body, " ")
		metrics := 0
		for _, tok := range ident.FindAllString(body, -1) {
			switch {
			case promQLWords[tok]:
			case names[tok] && strings.HasPrefix(tok, "ninelives_"):
				metrics++
			case labels[tok]:
			default:
				t.Errorf("%s: %q is neither a metric nor a label of the scrape: %s", where, tok, expr)
			}
		}
		assert.Positive(t, metrics, "%s names no ninelives metric: %s", where, expr)
	}

	seen := map[int]bool{}
	var walk func([]dashPanel)
	queries := 0
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			assert.False(t, seen[p.ID], "panel id %d is unique", p.ID)
			seen[p.ID] = true
			require.NotNil(t, p.GridPos, p.Title)
			assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			require.NotEmpty(t, p.Targets, p.Title)
			for _, tg := range p.Targets {
				assert.Equal(t, "prometheus", tg.Datasource.Type, p.Title)
				assert.Equal(t, "${datasource}", tg.Datasource.UID, p.Title)
				checkExpr(p.Title, tg.Expr)
				queries++
			}
		}
	}
	walk(d.Panels)
	assert.GreaterOrEqual(t, queries, 8)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			checkExpr("annotation", a.Expr)
		}
	}

	// Each panel the dashboard must have.
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
	}
	for _, want := range []string{"Call rate", "Error ratio", "Latency p50", "Latency p99", "Weights", "Fallbacks", "Shadow comparisons", "Sentinel decisions"} {
		assert.True(t, titles[want], "panel %q", want)
	}
}
