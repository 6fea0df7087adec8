package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// How readers find the Metrics of their MeterProvider. Metrics registers a
// callback on an instrument that carries no data; the provider runs it each
// time one of its readers collects, with the context the reader collects
// with. A reader of this package (the Source, PeriodicReader) collects with
// a token in that context, so the callbacks tell it which Metrics are on
// its provider; a Producer on a reader it does not drive finds them by a
// collect of its own with a token (Link).

// linkName is the instrument whose callback links Metrics to readers.
const linkName = "ninelives.link"

// token gathers the Metrics whose callbacks ran in one collect.
type token struct {
	mu      sync.Mutex
	metrics []*Metrics
	linking bool // a Producer's own collect to find its Metrics: it gives nothing
}

type tokenKey struct{}

func withToken(ctx context.Context, t *token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

func tokenFrom(ctx context.Context) *token {
	t, _ := ctx.Value(tokenKey{}).(*token)
	return t
}

func (t *token) add(m *Metrics) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.metrics = append(t.metrics, m)
}

func (t *token) list() []*Metrics {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.metrics
}

// generation counts the Metrics made: a linked Producer looks for its
// Metrics again when it has changed.
var generation atomic.Uint64

// register makes the link instrument and its callback on mp.
func (m *Metrics) register(mp metric.MeterProvider) error {
	meter := mp.Meter(ScopeName, metric.WithInstrumentationVersion(moduleVersion))
	link, err := meter.Int64ObservableUpDownCounter(linkName,
		metric.WithDescription("Carries no data: the readers of ninelives' instruments find them through its callback."))
	if err != nil {
		return fmt.Errorf("ninelives: creating the link instrument: %w", err)
	}
	if _, err := meter.RegisterCallback(m.linkCallback, link); err != nil {
		return fmt.Errorf("ninelives: registering the link callback: %w", err)
	}
	generation.Add(1)
	return nil
}

func (m *Metrics) linkCallback(ctx context.Context, _ metric.Observer) error {
	if t := tokenFrom(ctx); t != nil {
		t.add(m)
		return nil
	}
	m.readers.collected()
	return nil
}

// readerCounts tells a reader that collects without ninelives' Producer
// from one whose linked Producer serves it: the first kind misses every
// ninelives instrument, which is worth a warning.
type readerCounts struct {
	untokened atomic.Int64 // collects without a token
	served    atomic.Int64 // collects a linked Producer served
	peak      atomic.Int64 // the most served collects seen under way at once
	warned    atomic.Bool
}

// producing counts the Produce calls of linked Producers under way that
// have not yet counted their collect as served: collects that queue for a
// Producer are no sign of a reader without one.
var producing atomic.Int64

// unservedLimit is how many more collects than served or queued ones are
// taken for a reader without the Producer, beyond the most collects seen
// under way at once: a collect on its way from the callback to its
// Producer is neither served nor queued yet.
const unservedLimit = 3

func (r *readerCounts) collected() {
	n := r.untokened.Add(1)
	queued := producing.Load() // before served: a Producer counts served first
	if n-r.served.Load()-queued >= unservedLimit+r.peak.Load() && r.warned.CompareAndSwap(false, true) {
		otel.Handle(fmt.Errorf("ninelives: a reader of the MeterProvider of telemetry.New collects without ninelives' Producer, so it gets none of the instruments of %s; build it with telemetry.NewPeriodicReader, promexport or otlpexport, or register a telemetry.Producer on it and Link it", ScopeName))
	}
}

// serve counts a collect a linked Producer serves, with the Produce calls
// under way beside it.
func (r *readerCounts) serve() {
	raise(&r.peak, producing.Load())
	r.served.Add(1)
}
