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
)

// Collects that queue behind a linked Producer, as scrapes pile up on a
// process short of CPU, are no reader without the Producer: five of them,
// each waiting for the Producer before the next begins, warn about
// nothing, and each is served once the Producer is free.
func TestCollectsQueuedBehindTheProducerAreNotWarnedAbout(t *testing.T) {
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
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			var rm metricdata.ResourceMetrics
			assert.NoError(t, r.Collect(context.Background(), &rm))
		})
		waitUntil(t, func() bool { return producing.Load() == int64(i+1) }, "collect %d queued", i+1)
	}
	p.mu.Unlock()
	wg.Wait()
	assert.False(t, m.readers.warned.Load(), "warned")
	assert.EqualValues(t, 6, m.readers.served.Load())
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
