package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Prometheus exposes a MeterProvider's metrics for Prometheus to scrape, in a
// registry of its own: register Reader on the provider and serve Handler at
// /metrics.
//
// Names follow Prometheus conventions: dots become underscores, the unit
// "s" adds _seconds and counters end in _total, so ninelives.rpc.calls is
// ninelives_rpc_calls_total and ninelives.rpc.duration is the histogram
// ninelives_rpc_duration_seconds (its _bucket, _sum and _count series).
// Attribute keys become labels the same way: ninelives_version,
// ninelives_role, rpc_method, rpc_grpc_status_code.
type Prometheus struct {
	registry *prometheus.Registry
	exporter *otelprom.Exporter
}

// NewPrometheus returns a Prometheus exporter that registers with reg, or
// with a new registry when reg is nil. It never touches Prometheus' global
// registry.
func NewPrometheus(reg *prometheus.Registry) (*Prometheus, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, fmt.Errorf("ninelives: creating the Prometheus exporter: %w", err)
	}
	return &Prometheus{registry: reg, exporter: exp}, nil
}

// Reader is the SDK reader to register on the MeterProvider.
func (p *Prometheus) Reader() sdkmetric.Reader { return p.exporter }

// Option is sdkmetric.WithReader(p.Reader()), for NewMeterProvider.
func (p *Prometheus) Option() sdkmetric.Option { return sdkmetric.WithReader(p.exporter) }

// Registry is the registry the exporter registered with; add other
// collectors to it to serve them at the same address.
func (p *Prometheus) Registry() *prometheus.Registry { return p.registry }

// Handler serves the registry in the Prometheus exposition formats.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{})
}

// OTLPOption configures NewOTLPReader.
type OTLPOption interface{ applyOTLP(*otlpConfig) }

type otlpOptionFunc func(*otlpConfig)

func (f otlpOptionFunc) applyOTLP(c *otlpConfig) { f(c) }

type otlpConfig struct {
	insecure bool
	interval time.Duration
	headers  map[string]string
	extra    []otlpmetricgrpc.Option
	errs     []error
}

// DefaultOTLPInterval is how often NewOTLPReader pushes by default.
const DefaultOTLPInterval = 15 * time.Second

// WithOTLPInsecure sends without TLS, as to a collector on the same host.
func WithOTLPInsecure() OTLPOption {
	return otlpOptionFunc(func(c *otlpConfig) { c.insecure = true })
}

// WithOTLPInterval sets how often the reader pushes (default
// DefaultOTLPInterval).
func WithOTLPInterval(d time.Duration) OTLPOption {
	return otlpOptionFunc(func(c *otlpConfig) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("ninelives: WithOTLPInterval: interval %v, want more than 0", d))
			return
		}
		c.interval = d
	})
}

// WithOTLPHeaders adds gRPC metadata to every push, such as an API key.
func WithOTLPHeaders(h map[string]string) OTLPOption {
	return otlpOptionFunc(func(c *otlpConfig) {
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		maps.Copy(c.headers, h)
	})
}

// WithOTLPExporterOptions passes further options to the otlpmetricgrpc
// exporter (TLS credentials, compression, retry, temporality…); they are
// applied after those NewOTLPReader sets.
func WithOTLPExporterOptions(opts ...otlpmetricgrpc.Option) OTLPOption {
	return otlpOptionFunc(func(c *otlpConfig) { c.extra = append(c.extra, opts...) })
}

// NewOTLPReader returns a reader that pushes the provider's metrics over
// OTLP/gRPC to endpoint ("host:port", such as an OpenTelemetry Collector's
// "localhost:4317") every interval, cumulative as most backends expect.
// Register it on the MeterProvider; the provider's Shutdown pushes a last
// time and stops it.
func NewOTLPReader(ctx context.Context, endpoint string, opts ...OTLPOption) (*sdkmetric.PeriodicReader, error) {
	cfg := otlpConfig{interval: DefaultOTLPInterval}
	for _, o := range opts {
		if o != nil {
			o.applyOTLP(&cfg)
		}
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(endpoint); err != nil {
		return nil, fmt.Errorf("ninelives: OTLP endpoint %q, want host:port: %v", endpoint, err)
	}
	eopts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(endpoint)}
	if cfg.insecure {
		eopts = append(eopts, otlpmetricgrpc.WithInsecure())
	}
	if len(cfg.headers) > 0 {
		eopts = append(eopts, otlpmetricgrpc.WithHeaders(cfg.headers))
	}
	eopts = append(eopts, cfg.extra...)
	exp, err := otlpmetricgrpc.New(ctx, eopts...)
	if err != nil {
		return nil, fmt.Errorf("ninelives: creating the OTLP exporter for %s: %w", endpoint, err)
	}
	return sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(cfg.interval)), nil
}
