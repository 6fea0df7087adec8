package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// manySeries records one call of every (version, method, code) of 10
// versions × 1,000 methods × 5 codes.
func manySeries(m *telemetry.Metrics) {
	codes := []codes.Code{codes.OK, codes.InvalidArgument, codes.NotFound, codes.Unavailable, codes.DeadlineExceeded}
	a := &balancer.Attempt{Role: balancer.RolePrimary, Latency: 2 * time.Millisecond}
	for v := range 10 {
		a.Version = fmt.Sprintf("v%d", v)
		for i := range 1000 {
			a.Method = fmt.Sprintf("/load.Service/Method%04d", i)
			for _, c := range codes {
				a.Err = status.Error(c, "x")
				m.ObserveAttempt(a)
			}
		}
	}
}

// Every call is in the window, whatever the number of series: under the
// method cap each under its own method, past it under "other", counted in
// the window's overflow and warned about once.
func TestEveryCallIsInTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cap      int
		overflow int64
	}{
		{"cap 1000: 50,000 series", 1000, 0},
		{"default cap 100: 10 × 900 methods × 5 codes as other", 0, 10 * 900 * 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := telemetry.NewSource()
			require.NoError(t, err)
			mp := sdkmetric.NewMeterProvider(src.Option())
			t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			opts := []telemetry.Option{telemetry.WithMeterProvider(mp)}
			if tc.cap > 0 {
				opts = append(opts, telemetry.WithMethodCap(tc.cap))
			}
			m, err := telemetry.New(opts...)
			require.NoError(t, err)
			warned := otelErrors.count()

			manySeries(m)
			w, err := src.Collect(context.Background())
			require.NoError(t, err)
			var calls, latencies int64
			for _, v := range w.VersionNames() {
				r := w.Version(v).Role(balancer.RolePrimary)
				assert.EqualValues(t, 5000, r.Calls, v)
				assert.EqualValues(t, 1000, r.Codes[codes.Unavailable], v)
				assert.EqualValues(t, 2000, r.Errors, v, "Unavailable and DeadlineExceeded")
				calls += r.Calls
				latencies += int64(r.Latency.Count)
			}
			assert.EqualValues(t, 50000, calls)
			assert.EqualValues(t, 50000, latencies)
			assert.Equal(t, tc.overflow, w.Overflow.OtherMethods)
			if tc.overflow > 0 {
				assert.Len(t, otelErrors.since(warned), 1, "one warning")
			}
		})
	}
}

// A provider built with the SDK's default cardinality limit, 2,000 series
// an instrument: an instrument of the application's own folds what is past
// it into one overflow series, but ninelives' instruments come from a
// Producer outside that limit, so a reader still gets all 5,050 series (10
// versions × 101 methods under the default cap × 5 codes) and all 50,000
// calls, and the Source's window counts them all and reports the calls past
// the method cap.
func TestProviderWithTheDefaultCardinalityLimit(t *testing.T) {
	mp, src, reader := sourceAndReader(t)
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	own, err := mp.Meter("app").Int64Counter("app.requests")
	require.NoError(t, err)
	for i := range 5050 {
		own.Add(context.Background(), 1, metric.WithAttributes(attribute.Int("i", i)))
	}

	manySeries(m)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	ownPts := metricNamed(t, &rm, "app", "app.requests").Data.(metricdata.Sum[int64]).DataPoints
	assert.Len(t, ownPts, 2000, "the SDK keeps 1,999 series and one overflow series")
	calls := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricCalls).Data.(metricdata.Sum[int64]).DataPoints
	assert.Len(t, calls, 5050)
	var total int64
	for _, p := range calls {
		total += p.Value
		_, overflow := p.Attributes.Value("otel.metric.overflow")
		assert.False(t, overflow)
	}
	assert.EqualValues(t, 50000, total)

	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	var inWindow int64
	for _, v := range w.VersionNames() {
		inWindow += w.Version(v).Role(balancer.RolePrimary).Calls
	}
	assert.EqualValues(t, 50000, inWindow)
	assert.EqualValues(t, 45000, w.Overflow.OtherMethods)
}

// metricNamed returns the instrument called name of scope in rm.
func metricNamed(t *testing.T, rm *metricdata.ResourceMetrics, scope, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sm.Scope.Name == scope && m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no %s %s in %d scopes", scope, name, len(rm.ScopeMetrics))
	return metricdata.Metrics{}
}
