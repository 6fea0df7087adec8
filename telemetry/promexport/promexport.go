package promexport

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ninelives-go/ninelives/telemetry"
)

// Exporter exposes a MeterProvider's metrics for Prometheus to scrape, from a
// registry of its own: register it on the provider with Option and serve
// Handler at /metrics.
//
// Names follow Prometheus conventions: dots become underscores, the unit
// "s" adds _seconds and counters end in _total, so ninelives.rpc.calls is
// ninelives_rpc_calls_total and ninelives.rpc.duration is the histogram
// ninelives_rpc_duration_seconds (its _bucket, _sum and _count series).
// Attribute keys become labels the same way: ninelives_version,
// ninelives_role, rpc_method, rpc_grpc_status_code.
type Exporter struct {
	registry *prometheus.Registry
	exporter *otelprom.Exporter
}

// New returns an Exporter that registers with reg, or with a registry of its
// own when reg is nil; pass a registry to serve other collectors at the same
// address. It never touches Prometheus' global registry.
func New(reg *prometheus.Registry) (*Exporter, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	// The ninelives instruments reach the exporter through a Producer; the
	// exporter is cumulative, so the Producer may collect it to find them.
	producer := telemetry.NewProducer(nil)
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithProducer(producer),
	)
	if err != nil {
		return nil, fmt.Errorf("ninelives: creating the Prometheus exporter: %w", err)
	}
	producer.Link(exp)
	return &Exporter{registry: reg, exporter: exp}, nil
}

// Option registers the exporter's reader on a MeterProvider: pass it to
// sdkmetric.NewMeterProvider.
func (e *Exporter) Option() sdkmetric.Option { return sdkmetric.WithReader(e.exporter) }

// MaxScrapesInFlight is how many scrapes Handler serves at once; those
// beyond are answered 503 at once. A scrape that outlasts its scraper's
// timeout on a starved process is still gathered after the scraper has
// gone; without a bound, scrapes arriving meanwhile queue behind it, each
// to be gathered in turn, and the queue only grows.
const MaxScrapesInFlight = 4

// Handler serves the registry in the Prometheus exposition formats, at
// most MaxScrapesInFlight scrapes at once.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{MaxRequestsInFlight: MaxScrapesInFlight})
}
