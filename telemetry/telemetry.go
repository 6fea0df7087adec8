package telemetry

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry/internal/errcodes"
)

// ErrBadConfig is the kind of every error of a bad option or argument of
// this package: errors.Is(err, ErrBadConfig) holds for them.
var ErrBadConfig = errors.New("ninelives: bad telemetry config")

// ScopeName is the instrumentation scope of every instrument of this package.
const ScopeName = "github.com/ninelives-go/ninelives/telemetry"

// The names of the instruments, as OpenTelemetry knows them. Prometheus
// exporters translate them (see the package documentation).
const (
	MetricCalls       = "ninelives.rpc.calls"
	MetricDuration    = "ninelives.rpc.duration"
	MetricComparisons = "ninelives.shadow.comparisons"
	MetricDropped     = "ninelives.shadow.dropped"
	MetricWeight      = "ninelives.split.weight"
	MetricFallbacks   = "ninelives.split.fallbacks"
	MetricUnanswered  = "ninelives.rpc.unanswered"
	MetricDecisions   = "ninelives.sentinel.decisions"
)

// The attribute keys of the instruments.
const (
	AttrVersion      = attribute.Key("ninelives.version")
	AttrRole         = attribute.Key("ninelives.role")
	AttrMethod       = attribute.Key("rpc.method")
	AttrStatusCode   = attribute.Key("rpc.grpc.status_code")
	AttrShadowResult = attribute.Key("ninelives.shadow.result")
	AttrShadowReason = attribute.Key("ninelives.shadow.reason")
	AttrAction       = attribute.Key("ninelives.sentinel.action")
)

// The results of a shadow comparison, the values of AttrShadowResult.
const (
	// ShadowMatch: the shadow's reply equals the primary's.
	ShadowMatch = "match"
	// ShadowMismatch: the replies differ in a field that matters.
	ShadowMismatch = "mismatch"
	// ShadowNoise: the replies differ only in fields known to differ between
	// any two calls (timestamps, ids), as two calls to the baseline showed.
	ShadowNoise = "noise"
	// ShadowError: the shadow call failed where the primary succeeded.
	ShadowError = "shadow_error"
	// ShadowPrimaryError: the primary call failed, so nothing was compared.
	ShadowPrimaryError = "primary_error"
)

// otherMethod is the rpc.method value of the methods past the method cap.
const otherMethod = "other"

// defaultMethodCap is the number of distinct methods recorded under their
// own name before further methods collapse into otherMethod.
const defaultMethodCap = 100

// DurationBuckets are the explicit bucket boundaries, in seconds, that
// ninelives.rpc.duration advises to exporters: the same as grpc-go's
// stats/opentelemetry plugin uses for its latency histograms, so the two sets
// of histograms line up on one dashboard. They cover 10 µs to 100 s, about
// four buckets per factor of ten between 100 µs and 1 s. The Source does not
// use them: it reads the histogram with base-2 exponential buckets.
var DurationBuckets = []float64{0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100}

// moduleVersion is the version of this module, as the build recorded it, or
// "devel" when the build did not record one (as in its own tests): the
// version of the instrumentation scope.
var moduleVersion = func() string {
	const path = "github.com/ninelives-go/ninelives"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if bi.Main.Path == path && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == path && d.Version != "" {
			return d.Version
		}
	}
	return "devel"
}()

// Option configures New.
type Option interface{ apply(*settings) }

type optionFunc func(*settings)

func (f optionFunc) apply(c *settings) { f(c) }

type settings struct {
	provider    metric.MeterProvider
	methodCap   int
	buckets     []float64
	errs        []error
	providerSet bool
}

func newSettings(opts []Option) (settings, error) {
	c := settings{
		methodCap: defaultMethodCap,
		buckets:   DurationBuckets,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if len(c.errs) > 0 {
		return c, errors.Join(c.errs...)
	}
	if !c.providerSet {
		c.provider = otel.GetMeterProvider()
	}
	return c, nil
}

// WithMeterProvider makes the instruments on mp instead of the global
// MeterProvider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *settings) {
		if mp == nil {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithMeterProvider", nil, "the provider is nil"))
			return
		}
		c.provider, c.providerSet = mp, true
	})
}

// WithMethodCap sets how many distinct methods are recorded under their own
// name (default 100); calls of further methods are recorded with rpc.method
// "other", and the first of them raises a warning through OpenTelemetry's
// error handler (otel.Handle).
func WithMethodCap(n int) Option {
	return optionFunc(func(c *settings) {
		if n < 1 {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithMethodCap", n, "want at least 1"))
			return
		}
		c.methodCap = n
	})
}

// WithDurationBuckets replaces DurationBuckets as the bucket boundaries that
// ninelives.rpc.duration advises to exporters. They must be finite and
// strictly increasing. The Source is not affected.
func WithDurationBuckets(bounds ...float64) Option {
	return optionFunc(func(c *settings) {
		if err := checkBounds(bounds); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.buckets = append([]float64(nil), bounds...)
	})
}

// checkBounds checks the bounds of WithDurationBuckets: at least one, finite,
// strictly increasing.
func checkBounds(bounds []float64) error {
	if len(bounds) == 0 {
		return config.Errorf(ErrBadConfig, "WithDurationBuckets", nil, "want at least one bound")
	}
	for i, b := range bounds {
		field := fmt.Sprintf("WithDurationBuckets[%d]", i)
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return config.Errorf(ErrBadConfig, field, b, "want a finite number")
		}
		if i > 0 && b <= bounds[i-1] {
			return config.Errorf(ErrBadConfig, field, b, "want more than the bound before it, %v", bounds[i-1])
		}
	}
	return nil
}

// Metrics records the outcome of every call the balancer makes, the split
// weights, fallbacks, shadow comparisons and sentinel decisions. It
// implements balancer.Observer; attach it to a Split with Instrument. It is
// safe for concurrent use.
//
// It records into aggregates of its own, without a lock and, once each
// (version, role, method, status code) has been seen, without allocating.
// The Source reads them directly; readers of the MeterProvider get them as
// the instruments of this package through a Producer (see the package
// documentation).
type Metrics struct {
	start     time.Time
	bounds    []float64 // the explicit bucket bounds advised to exporters
	boundsNs  []int64   // the same in nanoseconds
	methodCap int

	// mu serialises the slow paths that add methods, series, roles,
	// counters and splits; the record paths and the readers go without it.
	mu          sync.Mutex
	methods     growMap[string, *methodSlot] // at most methodCap methods
	nMethods    int
	methodsFull atomic.Bool
	other       *methodSlot // the methods past the cap
	warned      atomic.Bool // the cap's warning is raised

	series      list[*series]
	roles       list[*roleAgg]
	roleByKey   map[roleKey]*roleAgg
	comparisons counterSet[shadowKey]
	fallbacks   counterSet[string]
	unanswered  counterSet[methodKey]
	dropped     counterSet[string]
	decisions   counterSet[string]
	splits      map[*balancer.Split]int // instrumented splits, by times
	sources     atomic.Int32            // extremes slots claimed by Sources

	readers readerCounts
}

var _ balancer.Observer = (*Metrics)(nil)

type roleKey struct {
	version string
	role    balancer.Role
}

type shadowKey struct{ version, method, result string }

type methodKey struct{ version, method string }

// maxCode is the largest gRPC status code; larger ones are recorded as Unknown.
const maxCode = errcodes.Max

// New returns Metrics whose instruments reach the readers of the configured
// MeterProvider (by default the global one).
func New(opts ...Option) (*Metrics, error) {
	cfg, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	m := &Metrics{
		start:     time.Now(),
		bounds:    cfg.buckets,
		boundsNs:  boundsNanos(cfg.buckets),
		methodCap: cfg.methodCap,
		other:     &methodSlot{name: otherMethod},
		roleByKey: map[roleKey]*roleAgg{},
		splits:    map[*balancer.Split]int{},
	}
	if err := m.register(cfg.provider); err != nil {
		return nil, err
	}
	return m, nil
}

// Instrument attaches m to the split: every attempt and fallback of the
// clients the split steers is recorded, and the split's weights are reported
// as ninelives.split.weight. The returned function detaches it again.
func (m *Metrics) Instrument(split *balancer.Split) (stop func(), err error) {
	if split == nil {
		return nil, config.Errorf(ErrBadConfig, "Instrument", nil, "the split is nil")
	}
	m.mu.Lock()
	m.splits[split]++
	m.mu.Unlock()
	remove := split.AddObserver(m)
	var once sync.Once
	return func() {
		once.Do(func() {
			remove()
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.splits[split]--; m.splits[split] == 0 {
				delete(m.splits, split)
			}
		})
	}, nil
}

// weights returns the weights of the instrumented splits.
func (m *Metrics) weights() []balancer.Weight {
	m.mu.Lock()
	splits := make([]*balancer.Split, 0, len(m.splits))
	for s := range m.splits {
		splits = append(splits, s)
	}
	m.mu.Unlock()
	var out []balancer.Weight
	for _, s := range splits {
		out = append(out, s.Weights()...)
	}
	return out
}
