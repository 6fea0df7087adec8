package promexport_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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

// blockingCollector holds every Collect until release is closed.
type blockingCollector struct {
	entered chan struct{}
	release chan struct{}
}

func (c *blockingCollector) Describe(chan<- *prometheus.Desc) {}

func (c *blockingCollector) Collect(chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
}

// Scrapes that pile up behind a slow gather are refused with 503 past
// MaxScrapesInFlight instead of queueing without a bound.
func TestScrapesBeyondTheBoundAreRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	slow := &blockingCollector{entered: make(chan struct{}, promexport.MaxScrapesInFlight), release: make(chan struct{})}
	require.NoError(t, reg.Register(slow))
	exp, err := promexport.New(reg)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(exp.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	srv := httptest.NewServer(exp.Handler())
	t.Cleanup(srv.Close)

	var wg sync.WaitGroup
	codes := make(chan int, promexport.MaxScrapesInFlight)
	for range promexport.MaxScrapesInFlight {
		wg.Go(func() {
			resp, err := http.Get(srv.URL)
			if assert.NoError(t, err) {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			}
		})
	}
	for range promexport.MaxScrapesInFlight {
		<-slow.entered // every allowed scrape is gathering
	}
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "one scrape too many")
	close(slow.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		assert.Equal(t, http.StatusOK, c)
	}
}
