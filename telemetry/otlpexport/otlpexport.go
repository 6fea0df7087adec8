package otlpexport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ErrBadConfig is the kind of the errors NewReader returns for a bad
// endpoint or option: errors.Is(err, ErrBadConfig) holds for them.
var ErrBadConfig = errors.New("ninelives: bad OTLP config")

// defaultInterval is how often a reader pushes unless WithInterval says.
const defaultInterval = 15 * time.Second

// Option configures NewReader.
type Option interface{ apply(*settings) }

type optionFunc func(*settings)

func (f optionFunc) apply(c *settings) { f(c) }

type settings struct {
	insecure bool
	interval time.Duration
	headers  map[string]string
	extra    []otlpmetricgrpc.Option
	errs     []error
}

// WithInsecure sends without TLS, as to a collector on the same host.
func WithInsecure() Option {
	return optionFunc(func(c *settings) { c.insecure = true })
}

// WithInterval sets how often the reader pushes (default 15 s).
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c *settings) {
		if d <= 0 {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithInterval", d, "want more than 0"))
			return
		}
		c.interval = d
	})
}

// WithHeaders adds gRPC metadata to every push, such as an API key.
func WithHeaders(h map[string]string) Option {
	return optionFunc(func(c *settings) {
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		maps.Copy(c.headers, h)
	})
}

// WithExporterOptions passes further options to the otlpmetricgrpc exporter
// (TLS credentials, compression, retry, temporality…); they are applied
// after those NewReader sets, so they win.
func WithExporterOptions(opts ...otlpmetricgrpc.Option) Option {
	return optionFunc(func(c *settings) { c.extra = append(c.extra, opts...) })
}

// NewReader returns a reader that pushes the provider's metrics, the
// ninelives instruments among them, over OTLP/gRPC to endpoint
// ("host:port", such as an OpenTelemetry Collector's "localhost:4317") every
// interval, cumulative as most backends expect unless an exporter option
// chooses delta. Register it on the MeterProvider with sdkmetric.WithReader;
// the provider's Shutdown pushes a last time and stops it.
func NewReader(ctx context.Context, endpoint string, opts ...Option) (*telemetry.PeriodicReader, error) {
	cfg := settings{interval: defaultInterval}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(endpoint); err != nil {
		return nil, &config.Error{Kind: ErrBadConfig, Field: "endpoint", Value: endpoint, Reason: "want host:port: " + err.Error(), Err: err}
	}
	exp, err := otlpmetricgrpc.New(ctx, cfg.exporterOptions(endpoint)...)
	if err != nil {
		return nil, fmt.Errorf("ninelives: creating the OTLP exporter for %s: %w", endpoint, err)
	}
	return telemetry.NewPeriodicReader(exp, cfg.interval)
}

// exporterOptions are the otlpmetricgrpc options of the settings, the
// caller's own last.
func (c *settings) exporterOptions(endpoint string) []otlpmetricgrpc.Option {
	eopts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(endpoint)}
	if c.insecure {
		eopts = append(eopts, otlpmetricgrpc.WithInsecure())
	}
	if len(c.headers) > 0 {
		eopts = append(eopts, otlpmetricgrpc.WithHeaders(c.headers))
	}
	return append(eopts, c.extra...)
}
