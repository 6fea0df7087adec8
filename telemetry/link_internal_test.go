package telemetry

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
)

// Collects that queue behind a linked Producer, as scrapes pile up on a
// process short of CPU, are no reader without the Producer: five of them,
// each waiting for the Producer before the next begins, warn about
// nothing. They share one export, made once the Producer is free, with
// what was recorded before they asked.
func TestCollectsQueuedBehindTheProducerShareAnExport(t *testing.T) {
	p := NewProducer(nil)
	r := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	p.Link(r)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := New(WithMeterProvider(mp))
	require.NoError(t, err)
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm)) // links p

	p.mu.Lock()
	m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: "/s.S/M", Latency: time.Millisecond})
	var wg sync.WaitGroup
	got := make([][]metricdata.Metrics, 5)
	for i := range got {
		wg.Go(func() {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, r.Collect(context.Background(), &rm))
			for _, sm := range rm.ScopeMetrics {
				if sm.Scope.Name == ScopeName {
					got[i] = sm.Metrics
				}
			}
		})
		waitUntil(t, func() bool { return producing.Load() == int64(i+1) }, "collect %d queued", i+1)
	}
	p.mu.Unlock()
	wg.Wait()
	assert.False(t, m.readers.warned.Load(), "warned")
	assert.EqualValues(t, 6, m.readers.served.Load())
	for i := range got {
		require.NotEmpty(t, got[i], "collect %d", i)
		assert.Same(t, &got[0][0], &got[i][0], "collect %d shares the export", i)
		assert.Equal(t, MetricCalls, got[i][0].Name)
	}
}

// waitUntil polls cond every millisecond for at most ten seconds.
func waitUntil(t *testing.T, cond func() bool, what string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+what, args...)
		}
	}
}
