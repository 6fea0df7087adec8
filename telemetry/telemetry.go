package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
// weights, fallbacks, shadow comparisons and sentinel decisions as
// OpenTelemetry instruments. It implements balancer.Observer; attach it to a
// Split with Instrument. It is safe for concurrent use.
//
// Every attribute set is built once and cached, so that recording allocates
// nothing once each (version, role, method, status code) has been seen.
type Metrics struct {
	calls       metric.Int64ObservableCounter
	duration    metric.Float64Histogram
	comparisons metric.Int64Counter
	dropped     metric.Int64Counter
	weight      metric.Int64ObservableGauge
	fallbacks   metric.Int64Counter
	decisions   metric.Int64Counter
	meter       metric.Meter

	methodCap int

	// mu serialises the slow paths that add to the caches below; the fast
	// paths read the caches without a lock.
	mu          sync.Mutex
	methods     cowMap[string, *methodSlot] // at most methodCap methods
	methodsFull atomic.Bool
	other       *methodSlot // the methods past the cap
	warned      atomic.Bool // the cap's warning is raised

	shadow      cowMap[shadowKey, []metric.AddOption]
	fallbackOpt cowMap[string, []metric.AddOption]
	droppedOpt  cowMap[string, []metric.AddOption]
	decisionOpt cowMap[string, []metric.AddOption]
	weightOpt   cowMap[string, []metric.ObserveOption]
}

var _ balancer.Observer = (*Metrics)(nil)

// methodSlot holds the cache entries of one method: a short list, searched
// linearly, of its (version, role) pairs. Keying the cache by method alone
// hashes one string per attempt; the versions and roles are few and their
// strings compare by pointer first.
type methodSlot struct {
	name    string // the rpc.method value
	entries atomic.Pointer[[]*attemptEntry]
}

// attemptEntry holds the options of one (version, role, method), one slot per
// status code, filled on first use.
type attemptEntry struct {
	version string
	role    balancer.Role
	method  string
	codes   [maxCode + 1]atomic.Pointer[attemptOpts]
}

type attemptOpts struct {
	n   atomic.Int64 // calls, reported by the calls callback
	obs []metric.ObserveOption
	rec []metric.RecordOption
}

type shadowKey struct{ version, method, result string }

// maxCode is the largest gRPC status code; larger ones are recorded as Unknown.
const maxCode = errcodes.Max

// New creates the instruments on the configured MeterProvider (by default the
// global one).
func New(opts ...Option) (*Metrics, error) {
	cfg, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	meter := cfg.provider.Meter(ScopeName, metric.WithInstrumentationVersion(moduleVersion))
	m := &Metrics{meter: meter, methodCap: cfg.methodCap, other: &methodSlot{name: otherMethod}}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The calls are counted in the cache entries and reported when a reader
	// collects: an attempt then costs one atomic add and one histogram record
	// instead of two trips through the SDK.
	m.calls, err = meter.Int64ObservableCounter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Attempts of calls the ninelives balancer sent, by version, role, method and status code."))
	add(err)
	m.duration, err = meter.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of attempts from the pick to their end (for streams, the stream's end), by version, role, method and status code."),
		metric.WithExplicitBucketBoundaries(cfg.buckets...))
	add(err)
	m.comparisons, err = meter.Int64Counter(MetricComparisons, metric.WithUnit("{comparison}"),
		metric.WithDescription("Comparisons of shadow replies with primary replies, by version, method and result."))
	add(err)
	m.dropped, err = meter.Int64Counter(MetricDropped, metric.WithUnit("{call}"),
		metric.WithDescription("Shadow copies that were not made or not finished, by reason."))
	add(err)
	m.weight, err = meter.Int64ObservableGauge(MetricWeight, metric.WithUnit("{basis_point}"),
		metric.WithDescription("Weight of each version of a split, in basis points (10000 is all the traffic)."))
	add(err)
	m.fallbacks, err = meter.Int64Counter(MetricFallbacks, metric.WithUnit("{pick}"),
		metric.WithDescription("Picks whose chosen version had no ready endpoint, so the call went to another version; by the chosen version."))
	add(err)
	m.decisions, err = meter.Int64Counter(MetricDecisions, metric.WithUnit("{decision}"),
		metric.WithDescription("Decisions of the sentinel, by action."))
	add(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("ninelives: creating instruments: %w", errors.Join(errs...))
	}
	if _, err := meter.RegisterCallback(m.observeCalls, m.calls); err != nil {
		return nil, fmt.Errorf("ninelives: registering the calls callback: %w", err)
	}
	return m, nil
}

// observeCalls reports the call count of every (version, role, method, code)
// seen so far.
func (m *Metrics) observeCalls(_ context.Context, o metric.Observer) error {
	observe := func(s *methodSlot) {
		es := s.entries.Load()
		if es == nil {
			return
		}
		for _, e := range *es {
			for i := range e.codes {
				if c := e.codes[i].Load(); c != nil {
					o.ObserveInt64(m.calls, c.n.Load(), c.obs...)
				}
			}
		}
	}
	if slots := m.methods.p.Load(); slots != nil {
		for _, s := range *slots {
			observe(s)
		}
	}
	observe(m.other)
	return nil
}

// Instrument attaches m to the split: every attempt and fallback of the
// clients the split steers is recorded, and the split's weights are reported
// as ninelives.split.weight. The returned function detaches it again.
func (m *Metrics) Instrument(split *balancer.Split) (stop func(), err error) {
	if split == nil {
		return nil, config.Errorf(ErrBadConfig, "Instrument", nil, "the split is nil")
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, w := range split.Weights() {
			o.ObserveInt64(m.weight, int64(w.Weight), m.weightOptions(w.Version)...)
		}
		return nil
	}, m.weight)
	if err != nil {
		return nil, fmt.Errorf("ninelives: registering the weight callback: %w", err)
	}
	remove := split.AddObserver(m)
	var once sync.Once
	return func() {
		once.Do(func() {
			remove()
			if err := reg.Unregister(); err != nil {
				otel.Handle(err)
			}
		})
	}, nil
}

// ObserveAttempt records one finished attempt: one call in ninelives.rpc.calls
// and its latency in ninelives.rpc.duration. It implements balancer.Observer.
func (m *Metrics) ObserveAttempt(a *balancer.Attempt) {
	code := status.Code(a.Err)
	if code > maxCode {
		code = codes.Unknown
	}
	role := a.Role
	switch role {
	case balancer.RolePrimary, balancer.RoleShadow, balancer.RoleWarmup:
	default:
		role = otherRole // a role of a caller's own keeps the series bounded
	}
	e := m.attemptEntry(a.Version, role, a.Method)
	o := e.codes[code].Load()
	if o == nil {
		o = e.build(code)
	}
	o.n.Add(1)
	if ctx := context.Background(); m.duration.Enabled(ctx) {
		m.duration.Record(ctx, a.Latency.Seconds(), o.rec...)
	}
}

// ObserveFallback counts one fallback against the chosen version. It
// implements balancer.Observer.
func (m *Metrics) ObserveFallback(chosen string) {
	m.addOne(context.Background(), m.fallbacks, &m.fallbackOpt, AttrVersion, chosen)
}

// RecordShadowComparison counts one comparison of a shadow reply from version
// with its primary reply. method is the full method name; result is one of
// ShadowMatch, ShadowMismatch, ShadowNoise, ShadowError, ShadowPrimaryError.
func (m *Metrics) RecordShadowComparison(ctx context.Context, version, method, result string) {
	if !m.comparisons.Enabled(ctx) {
		return
	}
	k := shadowKey{version, method, result}
	opts, ok := m.shadow.load(k)
	if !ok {
		// Known methods are cached under their own name, so this path
		// runs once for them; past the cap it runs for every comparison.
		name := m.slot(method).name
		if name == otherMethod {
			k.method = otherMethod
		}
		if opts, ok = m.shadow.load(k); !ok {
			opts = addOptionsSlow(&m.mu, &m.shadow, k,
				AttrVersion.String(version), AttrMethod.String(name), AttrShadowResult.String(result))
		}
	}
	m.comparisons.Add(ctx, 1, opts...)
}

// RecordShadowDropped counts one shadow copy that was dropped for reason (such
// as "concurrency" or "stream_buffer").
func (m *Metrics) RecordShadowDropped(ctx context.Context, reason string) {
	m.addOne(ctx, m.dropped, &m.droppedOpt, AttrShadowReason, reason)
}

// RecordDecision counts one decision of the sentinel with the given action
// (such as "promote", "rollback" or "hold").
func (m *Metrics) RecordDecision(ctx context.Context, action string) {
	m.addOne(ctx, m.decisions, &m.decisionOpt, AttrAction, action)
}

// addOne adds one to counter under the attribute set {key: value}, whose
// options are cached in c.
func (m *Metrics) addOne(ctx context.Context, counter metric.Int64Counter, c *cowMap[string, []metric.AddOption], key attribute.Key, value string) {
	if !counter.Enabled(ctx) {
		return
	}
	opts, ok := c.load(value)
	if !ok {
		opts = addOptionsSlow(&m.mu, c, value, key.String(value))
	}
	counter.Add(ctx, 1, opts...)
}

// otherRole is the role recorded for attempts whose role is none of
// primary, shadow and warmup, so that roles a caller invents cannot make
// the series unbounded.
const otherRole balancer.Role = "other"

// attemptEntry returns the cached entry of (version, role, method), the
// method collapsed into otherMethod past the cap.
func (m *Metrics) attemptEntry(version string, role balancer.Role, method string) *attemptEntry {
	slot := m.slot(method)
	if es := slot.entries.Load(); es != nil {
		for _, e := range *es {
			if e.version == version && e.role == role {
				return e
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var next []*attemptEntry
	if es := slot.entries.Load(); es != nil {
		for _, e := range *es {
			if e.version == version && e.role == role {
				return e
			}
		}
		next = append(next, *es...)
	}
	e := &attemptEntry{version: version, role: role, method: slot.name}
	next = append(next, e)
	slot.entries.Store(&next)
	return e
}

// slot returns the slot of method, or the otherMethod slot once the cap of
// distinct methods is reached and method is not one of them.
func (m *Metrics) slot(method string) *methodSlot {
	if s, ok := m.methods.load(method); ok {
		return s
	}
	if !m.methodsFull.Load() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if s, ok := m.methods.load(method); ok {
			return s
		}
		if n := m.methods.len(); n < m.methodCap {
			s := &methodSlot{name: trimMethod(method)}
			m.methods.storeLocked(method, s)
			if n+1 >= m.methodCap {
				m.methodsFull.Store(true)
			}
			return s
		}
		m.methodsFull.Store(true)
	}
	if !m.warned.Load() && m.warned.CompareAndSwap(false, true) {
		otel.Handle(fmt.Errorf("ninelives: telemetry records calls of more than %d methods, the cap: %s and further methods are recorded as rpc.method %q; raise the cap with WithMethodCap", m.methodCap, trimMethod(method), otherMethod))
	}
	return m.other
}

// build makes the options of one status code of the entry.
func (e *attemptEntry) build(code codes.Code) *attemptOpts {
	set := attribute.NewSet(
		AttrVersion.String(e.version),
		AttrRole.String(string(e.role)),
		AttrMethod.String(e.method),
		AttrStatusCode.Int64(int64(code)),
	)
	o := &attemptOpts{
		obs: []metric.ObserveOption{metric.WithAttributeSet(set)},
		rec: []metric.RecordOption{metric.WithAttributeSet(set)},
	}
	if e.codes[code].CompareAndSwap(nil, o) {
		return o
	}
	return e.codes[code].Load()
}

func (m *Metrics) weightOptions(version string) []metric.ObserveOption {
	if opts, ok := m.weightOpt.load(version); ok {
		return opts
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if opts, ok := m.weightOpt.load(version); ok {
		return opts
	}
	opts := []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(AttrVersion.String(version)))}
	m.weightOpt.storeLocked(version, opts)
	return opts
}

// addOptionsSlow builds and caches the add options of key.
func addOptionsSlow[K comparable](mu *sync.Mutex, c *cowMap[K, []metric.AddOption], key K, kvs ...attribute.KeyValue) []metric.AddOption {
	mu.Lock()
	defer mu.Unlock()
	if opts, ok := c.load(key); ok {
		return opts
	}
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
	c.storeLocked(key, opts)
	return opts
}

// trimMethod turns grpc's "/pkg.Service/Method" into "pkg.Service/Method",
// the form of rpc.method in the OpenTelemetry conventions and of grpc.method
// in grpc-go's own metrics.
func trimMethod(m string) string { return strings.TrimPrefix(m, "/") }

// cowMap is a copy-on-write map: reads take no lock; writers, serialised by a
// mutex the caller holds, copy the map. It suits small sets that stop growing
// after warm-up.
type cowMap[K comparable, V any] struct {
	p atomic.Pointer[map[K]V]
}

func (c *cowMap[K, V]) load(k K) (V, bool) {
	if m := c.p.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cowMap[K, V]) len() int {
	if m := c.p.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// storeLocked adds k; the caller holds the mutex that serialises writers.
func (c *cowMap[K, V]) storeLocked(k K, v V) {
	var next map[K]V
	if old := c.p.Load(); old != nil {
		next = make(map[K]V, len(*old)+1)
		for kk, vv := range *old {
			next[kk] = vv
		}
	} else {
		next = make(map[K]V, 1)
	}
	next[k] = v
	c.p.Store(&next)
}
