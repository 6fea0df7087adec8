package telemetry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// memExporter keeps what it is sent, in the temporality it was made with.
type memExporter struct {
	temporality sdkmetric.TemporalitySelector
	mu          sync.Mutex
	got         []*metricdata.ResourceMetrics
	shut        bool
}

func (e *memExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return e.temporality(k)
}

func (e *memExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *memExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, rm)
	return nil
}

func (e *memExporter) ForceFlush(context.Context) error { return nil }

func (e *memExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shut = true
	return nil
}

// last returns the calls and the durations' count of the last export.
func (e *memExporter) last(t *testing.T) (calls metricdata.Sum[int64], durations metricdata.Histogram[float64]) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NotEmpty(t, e.got)
	rm := e.got[len(e.got)-1]
	calls, _ = metricNamed(t, rm, telemetry.ScopeName, telemetry.MetricCalls).Data.(metricdata.Sum[int64])
	durations, _ = metricNamed(t, rm, telemetry.ScopeName, telemetry.MetricDuration).Data.(metricdata.Histogram[float64])
	return calls, durations
}

// Each reader gets the temporality it asks for: a delta exporter the calls
// since its previous export, a cumulative one every call so far, and the
// Source its own windows, none of them disturbing the others.
func TestReadersGetTheirTemporality(t *testing.T) {
	delta := &memExporter{temporality: sdkmetric.DeltaTemporalitySelector}
	cumulative := &memExporter{temporality: sdkmetric.CumulativeTemporalitySelector}
	var readers []*telemetry.PeriodicReader
	for _, e := range []*memExporter{delta, cumulative} {
		r, err := telemetry.NewPeriodicReader(e, time.Hour) // pushes come from ForceFlush
		require.NoError(t, err)
		readers = append(readers, r)
	}
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(readers[0]), sdkmetric.WithReader(readers[1]))
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	ctx := context.Background()
	record := func(n int) {
		for range n {
			m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
		}
	}
	total := func(s metricdata.Sum[int64]) (n int64) {
		for _, p := range s.DataPoints {
			n += p.Value
		}
		return n
	}

	for _, n := range []int{3, 2} {
		record(n)
		require.NoError(t, mp.ForceFlush(ctx))
		w, err := src.Collect(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, n, w.Version("v").Role(balancer.RolePrimary).Calls, "the Source's window")

		calls, durations := delta.last(t)
		assert.Equal(t, metricdata.DeltaTemporality, calls.Temporality)
		assert.EqualValues(t, n, total(calls))
		require.Len(t, durations.DataPoints, 1)
		assert.Equal(t, metricdata.DeltaTemporality, durations.Temporality)
		assert.EqualValues(t, n, durations.DataPoints[0].Count)
	}
	calls, durations := cumulative.last(t)
	assert.Equal(t, metricdata.CumulativeTemporality, calls.Temporality)
	assert.EqualValues(t, 5, total(calls))
	assert.EqualValues(t, 5, durations.DataPoints[0].Count)
	minV, ok := durations.DataPoints[0].Min.Value()
	assert.True(t, ok)
	assert.Equal(t, 0.001, minV)

	require.NoError(t, mp.Shutdown(ctx))
	assert.True(t, delta.shut)
	assert.True(t, cumulative.shut)
	assert.ErrorIs(t, readers[0].Shutdown(ctx), sdkmetric.ErrReaderShutdown)
	assert.ErrorIs(t, readers[0].ForceFlush(ctx), sdkmetric.ErrReaderShutdown)
}

func TestPeriodicReaderBadConfig(t *testing.T) {
	_, err := telemetry.NewPeriodicReader(nil, time.Second)
	assert.EqualError(t, err, "ninelives: bad telemetry config: NewPeriodicReader: the exporter is nil")
	_, err = telemetry.NewPeriodicReader(&memExporter{temporality: sdkmetric.DefaultTemporalitySelector}, 0)
	assert.EqualError(t, err, "ninelives: bad telemetry config: interval = 0s: want more than 0")
	assert.ErrorIs(t, err, telemetry.ErrBadConfig)
}

// Two Metrics on one provider add up: one point per series for a reader,
// every call in the Source's window.
func TestTwoMetricsOnOneProvider(t *testing.T) {
	mp, src, reader := sourceAndReader(t)
	for range 2 {
		m, err := telemetry.New(telemetry.WithMeterProvider(mp))
		require.NoError(t, err)
		m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
		m.ObserveFallback("v")
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	calls := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricCalls).Data.(metricdata.Sum[int64])
	require.Len(t, calls.DataPoints, 1)
	assert.EqualValues(t, 2, calls.DataPoints[0].Value)
	durations := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricDuration).Data.(metricdata.Histogram[float64])
	require.Len(t, durations.DataPoints, 1)
	assert.EqualValues(t, 2, durations.DataPoints[0].Count)
	fallbacks := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricFallbacks).Data.(metricdata.Sum[int64])
	require.Len(t, fallbacks.DataPoints, 1)
	assert.EqualValues(t, 2, fallbacks.DataPoints[0].Value)

	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, w.Version("v").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 2, w.Version("v").Role(balancer.RolePrimary).Latency.Count)
	assert.EqualValues(t, 2, w.Version("v").Fallbacks)
}
