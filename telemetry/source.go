package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry/internal/errcodes"
)

// DefaultErrorCodes are the status codes a Source counts as errors: the
// server-side failures. Codes such as InvalidArgument, NotFound or
// PermissionDenied describe the request, not the release, and are left out.
var DefaultErrorCodes = []codes.Code{
	codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented,
	codes.Internal, codes.Unavailable, codes.DataLoss,
}

// Source histograms are base-2 exponential with at most sourceMaxBuckets
// buckets a series: 320 keep scale 4 (16 buckets per doubling, error
// ≤ 4.4 %) for latencies that span up to 2^20 in one window, such as 30 µs to
// 30 s. They start at sourceMaxScale (64 buckets per doubling, error ≤ 1.1 %)
// rather than OpenTelemetry's 20, which no spread of latencies keeps and
// which costs the first records of each window a chain of downscales.
const (
	sourceMaxBuckets = 320
	sourceMaxScale   = 6
)

// SourceOption configures NewSource.
type SourceOption interface{ applySource(*sourceConfig) }

type sourceOptionFunc func(*sourceConfig)

func (f sourceOptionFunc) applySource(c *sourceConfig) { f(c) }

type sourceConfig struct {
	errorCodes errcodes.Set
	now        func() time.Time
	errs       []error
}

func newSourceConfig(opts []SourceOption) (sourceConfig, error) {
	c := sourceConfig{now: time.Now}
	c.errorCodes, _ = errcodes.New(nil, "", DefaultErrorCodes)
	for _, o := range opts {
		if o != nil {
			o.applySource(&c)
		}
	}
	return c, errors.Join(c.errs...)
}

// WithErrorCodes sets the status codes that count as errors in a window's
// RoleStats.Errors (default DefaultErrorCodes). Every code is still counted in
// RoleStats.Codes. No codes at all is allowed: then nothing is an error.
func WithErrorCodes(cs ...codes.Code) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		e, err := errcodes.New(ErrBadConfig, "WithErrorCodes", cs)
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.errorCodes = e
	})
}

// WithClock sets the clock that stamps the windows' Start and End (default
// time.Now).
func WithClock(now func() time.Time) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if now == nil {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithClock", nil, "the clock is nil"))
			return
		}
		c.now = now
	})
}

// Source reads the instruments back as Windows for the sentinel. It is an SDK
// reader of its own, with delta temporality, that the user registers on the
// MeterProvider given to New, beside any exporters:
//
//	src, _ := telemetry.NewSource()
//	prom, _ := promexport.New(nil)
//	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
//	m, _ := telemetry.New(telemetry.WithMeterProvider(mp))
//
// Readers of one provider do not share state, so the Source's delta windows
// leave a cumulative exporter's figures alone, and the other way round.
//
// The reader reads ninelives.rpc.duration as a base-2 exponential histogram
// (other readers keep the explicit DurationBuckets). It drops the instrument
// kinds it does not read (the weights' gauge among them); the other counters and histograms of the provider
// are aggregated but never read, so an application whose own instruments are
// many and busy may give ninelives a MeterProvider of its own.
type Source struct {
	reader     *sdkmetric.ManualReader
	errorCodes errcodes.Set
	now        func() time.Time

	mu   sync.Mutex // serialises Collect; guards rm and last
	rm   metricdata.ResourceMetrics
	last time.Time
}

var _ MetricSource = (*Source)(nil)

// NewSource returns a Source whose first window starts now.
func NewSource(opts ...SourceOption) (*Source, error) {
	cfg, err := newSourceConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Source{now: cfg.now, errorCodes: cfg.errorCodes}
	s.reader = sdkmetric.NewManualReader(
		sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
			return metricdata.DeltaTemporality
		}),
		sdkmetric.WithAggregationSelector(sourceAggregation),
	)
	s.last = s.now()
	return s, nil
}

// sourceAggregation keeps what the Source reads: sums of counters and
// exponential histograms.
func sourceAggregation(kind sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	switch kind {
	case sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindObservableCounter:
		return sdkmetric.AggregationSum{}
	case sdkmetric.InstrumentKindHistogram:
		return sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: sourceMaxBuckets, MaxScale: sourceMaxScale}
	default:
		return sdkmetric.AggregationDrop{}
	}
}

// Option registers the Source's reader on a MeterProvider: pass it to
// sdkmetric.NewMeterProvider.
func (s *Source) Option() sdkmetric.Option { return sdkmetric.WithReader(s.reader) }

// Collect returns what was recorded since the previous Collect (or since
// NewSource): a window from the end of the previous one to now. It fails when
// the reader is not registered on a provider or the provider is shut down.
func (s *Source) Collect(ctx context.Context) (*Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reader.Collect(ctx, &s.rm); err != nil {
		return nil, fmt.Errorf("ninelives: collecting metrics: %w", err)
	}
	now := s.now()
	w := &Window{Start: s.last, End: now}
	s.last = now
	for i := range s.rm.ScopeMetrics {
		sm := &s.rm.ScopeMetrics[i]
		if sm.Scope.Name != ScopeName {
			continue
		}
		for j := range sm.Metrics {
			if err := s.read(w, &sm.Metrics[j]); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

func (s *Source) read(w *Window, m *metricdata.Metrics) error {
	switch m.Name {
	case MetricCalls:
		sum, ok := m.Data.(metricdata.Sum[int64])
		if !ok {
			return unexpected(m)
		}
		for i := range sum.DataPoints {
			dp := &sum.DataPoints[i]
			if dp.Value == 0 {
				continue // a series that had no call in this window
			}
			r := w.MutableVersion(str(dp.Attributes, AttrVersion)).MutableRole(balancer.Role(str(dp.Attributes, AttrRole)))
			code := codes.Code(num(dp.Attributes, AttrStatusCode))
			r.Calls += dp.Value
			if r.Codes == nil {
				r.Codes = map[codes.Code]int64{}
			}
			r.Codes[code] += dp.Value
			if s.errorCodes.Has(code) {
				r.Errors += dp.Value
			}
		}
	case MetricDuration:
		h, ok := m.Data.(metricdata.ExponentialHistogram[float64])
		if !ok {
			return fmt.Errorf("ninelives: %s reaches the source as %T, not as a base-2 exponential histogram: a View changed its aggregation for every reader; leave it to the readers", m.Name, m.Data)
		}
		// One histogram per version and role from the series of all
		// methods and codes, its buckets allocated once.
		groups := map[*RoleStats][]part{}
		for i := range h.DataPoints {
			dp := &h.DataPoints[i]
			if dp.Count == 0 {
				continue
			}
			r := w.MutableVersion(str(dp.Attributes, AttrVersion)).MutableRole(balancer.Role(str(dp.Attributes, AttrRole)))
			groups[r] = append(groups[r], partFrom(dp))
		}
		for r, parts := range groups {
			if !r.Latency.Empty() {
				parts = append(parts, r.Latency.part())
			}
			r.Latency = sumParts(parts)
		}
	case MetricComparisons:
		return eachSum(m, func(a attribute.Set, n int64) {
			v := w.MutableVersion(str(a, AttrVersion))
			if v.Shadow == nil {
				v.Shadow = map[string]int64{}
			}
			v.Shadow[str(a, AttrShadowResult)] += n
		})
	case MetricFallbacks:
		return eachSum(m, func(a attribute.Set, n int64) { w.MutableVersion(str(a, AttrVersion)).Fallbacks += n })
	}
	return nil
}

func eachSum(m *metricdata.Metrics, f func(attribute.Set, int64)) error {
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		return unexpected(m)
	}
	for i := range sum.DataPoints {
		if sum.DataPoints[i].Value != 0 {
			f(sum.DataPoints[i].Attributes, sum.DataPoints[i].Value)
		}
	}
	return nil
}

func unexpected(m *metricdata.Metrics) error {
	return fmt.Errorf("ninelives: %s reaches the source as %T; a View changed its aggregation for every reader", m.Name, m.Data)
}

func str(s attribute.Set, k attribute.Key) string {
	v, _ := s.Value(k)
	return v.AsString()
}

func num(s attribute.Set, k attribute.Key) int64 {
	v, _ := s.Value(k)
	return v.AsInt64()
}
