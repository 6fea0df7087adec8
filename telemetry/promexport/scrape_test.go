package promexport_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

// otelErrors gathers what OpenTelemetry's error handler is given.
type otelErrors struct {
	mu   sync.Mutex
	errs []string
}

func (e *otelErrors) Handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err.Error())
}

// Two scrapers at once, as a Prometheus pair: the exporter is never taken
// for a reader without ninelives' Producer. (Collects queued behind the
// Producer, as when scrapes pile up, are tested in package telemetry.)
func TestConcurrentScrapesAreNotWarnedAbout(t *testing.T) {
	var warned otelErrors
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(&warned)
	t.Cleanup(func() { otel.SetErrorHandler(prev) })

	exp, err := promexport.New(nil)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(exp.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	recordEveryInstrument(t, m)
	srv := httptest.NewServer(exp.Handler())
	t.Cleanup(srv.Close)

	scrape(t, exp.Handler()) // Prometheus' first scrape
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 100 {
				resp, err := http.Get(srv.URL)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	assert.Contains(t, scrape(t, exp.Handler()), "ninelives_rpc_calls_total")
	warned.mu.Lock()
	defer warned.mu.Unlock()
	assert.Empty(t, warned.errs)
}
