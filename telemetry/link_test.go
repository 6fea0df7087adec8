package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// A reader built without ninelives' Producer gets none of the instruments:
// after a few collects that is warned about, once.
func TestReaderWithoutTheProducerIsWarnedAbout(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	plain := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(plain))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err = telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	before := otelErrors.count()
	var rm metricdata.ResourceMetrics
	for range 5 {
		require.NoError(t, plain.Collect(context.Background(), &rm))
		_, err := src.Collect(context.Background())
		require.NoError(t, err)
	}
	assert.Empty(t, rm.ScopeMetrics)
	assert.Equal(t, []string{"ninelives: a reader of the MeterProvider of telemetry.New collects without ninelives' Producer, so it gets none of the instruments of github.com/ninelives-go/ninelives/telemetry; build it with telemetry.NewPeriodicReader, promexport or otlpexport, or register a telemetry.Producer on it and Link it"},
		otelErrors.since(before))
}

// A linked reader is never taken for one without the Producer.
func TestLinkedReaderIsNotWarnedAbout(t *testing.T) {
	reader := linkedReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	before := otelErrors.count()
	var rm metricdata.ResourceMetrics
	for range 10 {
		m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
		require.NoError(t, reader.Collect(context.Background(), &rm))
	}
	assert.Empty(t, otelErrors.since(before))
	calls := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricCalls).Data.(metricdata.Sum[int64])
	assert.EqualValues(t, 10, calls.DataPoints[0].Value)
}

// A Producer registered on a reader but not linked to it says so.
func TestUnlinkedProducerIsWarnedAbout(t *testing.T) {
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(telemetry.NewProducer(nil)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	_, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	before := otelErrors.count()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.NoError(t, reader.Collect(context.Background(), &rm))
	assert.Equal(t, []string{"ninelives: a reader asks a telemetry.Producer that is not linked to it, which finds no Metrics: call Link with the reader"},
		otelErrors.since(before))
}

// Linking a Producer to a delta reader would take the reader's figures of
// other instruments: it is warned about.
func TestProducerLinkedToADeltaReaderIsWarnedAbout(t *testing.T) {
	before := otelErrors.count()
	p := telemetry.NewProducer(sdkmetric.DeltaTemporalitySelector)
	p.Link(sdkmetric.NewManualReader(sdkmetric.WithProducer(p), sdkmetric.WithTemporalitySelector(sdkmetric.DeltaTemporalitySelector)))
	assert.Equal(t, []string{"ninelives: a Producer of delta temporality is linked to a reader: each time it looks for Metrics it collects the reader and takes its figures of other instruments away from its export; use telemetry.NewPeriodicReader for a delta exporter"},
		otelErrors.since(before))
}

// A Source whose provider has no Metrics says so, once.
func TestSourceWithoutMetricsIsWarnedAbout(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	before := otelErrors.count()
	for range 5 {
		w, err := src.Collect(context.Background())
		require.NoError(t, err)
		assert.Empty(t, w.Versions)
	}
	assert.Equal(t, []string{"ninelives: the Source has found no telemetry.Metrics on its MeterProvider in 3 windows, so its windows are empty: make them with telemetry.New(telemetry.WithMeterProvider(mp)) on the provider the Source is registered on"},
		otelErrors.since(before))
}

// Up to four Sources read one Metrics with exact window extremes; a fifth
// is warned that it estimates them, and still counts every call.
func TestManySources(t *testing.T) {
	var opts []sdkmetric.Option
	var srcs []*telemetry.Source
	for range 5 {
		src, err := telemetry.NewSource()
		require.NoError(t, err)
		srcs = append(srcs, src)
		opts = append(opts, src.Option())
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	before := otelErrors.count()
	for _, d := range []time.Duration{3 * time.Millisecond, 5 * time.Millisecond} {
		m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: d})
	}
	for i, src := range srcs {
		w, err := src.Collect(context.Background())
		require.NoError(t, err)
		h := w.Version("v").Role(balancer.RolePrimary).Latency
		assert.EqualValues(t, 2, h.Count, "source %d", i)
		if i == 0 {
			assert.Equal(t, 0.003, h.Min, "the first Source's slot saw every call")
			assert.Equal(t, 0.005, h.Max)
		}
		assert.InEpsilon(t, 0.003, h.Min, 0.02, "source %d", i)
		assert.InEpsilon(t, 0.005, h.Max, 0.02, "source %d", i)
	}
	assert.Equal(t, []string{"ninelives: more than 4 Sources read one telemetry.Metrics: the windows of the others estimate their latencies' min and max from the buckets"},
		otelErrors.since(before))
}
