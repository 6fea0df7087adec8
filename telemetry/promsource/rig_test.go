package promsource_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
	"github.com/ninelives-go/ninelives/telemetry/promsource"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// client is one client process's telemetry: a MeterProvider with the
// telemetry Source and the Prometheus exporter as its readers, the exporter
// served at a target the shared Prometheus scrapes. A new client on the same
// target is the process restarted.
type client struct {
	tel     *telemetry.Source
	metrics *telemetry.Metrics
	target  *promtest.Target
	// total is every counter's increase the telemetry source has seen,
	// which the scrapes must reach.
	total int64
}

func newClient(t *testing.T, tg *promtest.Target) *client {
	t.Helper()
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	exp, err := promexport.New(nil)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option(), exp.Option())
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	tg.Set(exp.Handler())
	return &client{tel: src, metrics: m, target: tg}
}

// collect reads the telemetry source's window and adds up its counts.
func (c *client) collect(t *testing.T) *telemetry.Window {
	t.Helper()
	w, err := c.tel.Collect(context.Background())
	require.NoError(t, err)
	c.total += counted(w)
	return w
}

// counted is the sum of every counter of a window: calls, comparisons,
// fallbacks and unanswered calls.
func counted(w *telemetry.Window) int64 {
	var n int64
	for _, v := range w.Versions {
		n += v.Fallbacks + v.Unanswered
		for _, c := range v.Shadow {
			n += c
		}
		for _, r := range v.Roles {
			n += r.Calls
		}
	}
	return n
}

// windowCounters are the counters a window holds, as Prometheus names them.
const windowCounters = `ninelives_rpc_calls_total|ninelives_shadow_comparisons_total|ninelives_split_fallbacks_total|ninelives_rpc_unanswered_total`

// waitScraped waits until Prometheus holds a scrape of the clients' targets
// that shows everything their telemetry sources have counted: the scrape
// that follows the calls.
func waitScraped(t *testing.T, srv *promtest.Server, clients ...*client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range clients {
		expr := fmt.Sprintf(`sum({__name__=~%q, instance=%q}) or vector(0)`, windowCounters, c.target.Addr())
		require.NoError(t, srv.WaitValue(ctx, expr, float64(c.total)))
	}
}

// newSource reads the shared Prometheus, scoped to the targets.
func newSource(t *testing.T, srv *promtest.Server, tgs []*promtest.Target, opts ...promsource.Option) *promsource.Source {
	t.Helper()
	var addrs []string
	for _, tg := range tgs {
		addrs = append(addrs, tg.Addr())
	}
	opts = append([]promsource.Option{promsource.WithSelector(fmt.Sprintf(`instance=~%q`, join(addrs)))}, opts...)
	src, err := promsource.NewSource(srv.URL(), opts...)
	require.NoError(t, err)
	t.Cleanup(src.Close)
	// A scrape already in flight is stamped with the time it began, before
	// the source's start, but may hold calls made after it: let the targets
	// be scraped afresh before the test makes any.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tg := range tgs {
		require.NoError(t, tg.WaitScrapesAfterNow(ctx))
	}
	return src
}

func join(addrs []string) string {
	out := ""
	for i, a := range addrs {
		if i > 0 {
			out += "|"
		}
		out += a
	}
	return out
}

func collect(t *testing.T, src *promsource.Source) *telemetry.Window {
	t.Helper()
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	return w
}

// assertSameWindow checks that the Prometheus window has the telemetry
// window's figures: every count exact, latency counts exact, sums equal to
// rounding, and quantiles within the conversion's bound.
func assertSameWindow(t *testing.T, want, got *telemetry.Window) {
	t.Helper()
	assert.Equal(t, want.VersionNames(), got.VersionNames(), "versions")
	for _, name := range want.VersionNames() {
		wv, gv := want.Version(name), got.Version(name)
		assert.Equal(t, wv.Shadow, gv.Shadow, "version %s: shadow comparisons", name)
		assert.Equal(t, wv.Fallbacks, gv.Fallbacks, "version %s: fallbacks", name)
		assert.Equal(t, wv.Unanswered, gv.Unanswered, "version %s: unanswered calls", name)
		var roles []string
		for r := range wv.Roles {
			roles = append(roles, string(r))
		}
		for r := range gv.Roles {
			if !slices.Contains(roles, string(r)) {
				roles = append(roles, string(r))
			}
		}
		for _, role := range roles {
			wr, gr := wv.Roles[balancer.Role(role)], gv.Roles[balancer.Role(role)]
			if !assert.NotNil(t, wr, "version %s role %s only in the Prometheus window", name, role) ||
				!assert.NotNil(t, gr, "version %s role %s missing from the Prometheus window", name, role) {
				continue
			}
			assert.Equal(t, wr.Calls, gr.Calls, "version %s role %s: calls", name, role)
			assert.Equal(t, wr.Errors, gr.Errors, "version %s role %s: errors", name, role)
			assert.Equal(t, wr.Codes, gr.Codes, "version %s role %s: codes", name, role)
			assertLatency(t, fmt.Sprintf("version %s role %s", name, role), wr.Latency, gr.Latency)
		}
	}
	assert.NoError(t, new(telemetry.Window).Merge(got), "the histograms are valid")
}

// assertLatency checks a converted histogram against the telemetry
// source's: the same count and sum, and each quantile within the bound of
// the explicit buckets around it: the true quantile lies in an explicit
// bucket (lo, hi], the conversion puts it within √(hi/lo)·2^(1/16) of it,
// and the telemetry source's estimate is within its own ErrorBound of it.
func assertLatency(t *testing.T, what string, want, got telemetry.Histogram) {
	t.Helper()
	assert.Equal(t, want.Count, got.Count, "%s: latency count", what)
	assert.InEpsilon(t, want.Sum, got.Sum, 1e-9, "%s: latency sum", what)
	if want.Count == 0 {
		return
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		tq, pq := want.Quantile(q), got.Quantile(q)
		e := math.Exp2(math.Exp2(-float64(want.Scale))) - 1 // the Histogram's stated bound
		r := widestBucket(tq/(1+e), tq*(1+e))
		bound := math.Log(math.Sqrt(r)*math.Exp2(1.0/16)) + math.Log1p(e)
		assert.LessOrEqual(t, math.Abs(math.Log(pq/tq)), bound,
			"%s: p%v %.6f s from Prometheus, %.6f s from telemetry (bound ×%.3f)", what, q*100, pq, tq, math.Exp(bound))
	}
}

// widestBucket is the largest hi/lo of the DurationBuckets that overlap
// [a, b]; the open buckets at the ends count as a factor of 2, as the
// conversion takes them.
func widestBucket(a, b float64) float64 {
	bounds := telemetry.DurationBuckets
	r := 1.0
	for i := range len(bounds) + 1 {
		lo, hi := 0.0, math.Inf(1)
		if i > 0 {
			lo = bounds[i-1]
		}
		if i < len(bounds) {
			hi = bounds[i]
		}
		if hi < a || lo > b || hi <= 0 {
			continue
		}
		switch {
		case lo <= 0 || math.IsInf(hi, 1):
			r = max(r, 2)
		default:
			r = max(r, hi/lo)
		}
	}
	return r
}

// bucket is one bucket of a histogram that holds values: count values in
// (lower, upper].
type bucket struct {
	lower, upper float64
	count        uint64
}

// buckets lists the buckets of h that hold values, in order.
func buckets(h telemetry.Histogram) []bucket {
	var out []bucket
	for i, c := range h.Counts {
		if c > 0 {
			j := float64(int64(h.Offset) + int64(i))
			out = append(out, bucket{lower: math.Exp2(j * math.Exp2(-float64(h.Scale))), upper: math.Exp2((j + 1) * math.Exp2(-float64(h.Scale))), count: c})
		}
	}
	return out
}
