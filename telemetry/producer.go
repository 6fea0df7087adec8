package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Producer hands the instruments of this package to one OpenTelemetry
// reader: register it with sdkmetric.WithProducer. It exports what Metrics
// aggregated, so a call costs the same whatever reads it and however many
// readers there are, and its series do not count against the SDK's
// cardinality limit.
//
// The readers of this package (PeriodicReader, and promexport and
// otlpexport, built on it) come with one. On a reader of your own, Link
// the Producer to it so that it finds the Metrics of the reader's provider:
//
//	p := telemetry.NewProducer(nil)
//	r := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
//	p.Link(r)
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
//	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
//
// One Producer serves one reader. Collects of a cumulative reader that
// arrive while an export is under way share the next one, so scrapes that
// pile up on a busy process cost two exports, not one each.
type Producer struct {
	temporality sdkmetric.TemporalitySelector

	nextMu sync.Mutex // guards next
	next   *export    // the export the linked reader's collects wait for

	mu         sync.Mutex // serialises exports; guards what follows
	reader     sdkmetric.Reader
	gen        uint64     // the generation the Metrics were found at
	linked     []*Metrics // the Metrics found by Link's collect
	states     map[*Metrics]*exportState
	warnedLink bool
}

// NewProducer returns a Producer for a reader whose temporality is given by
// temporality (as the reader's exporter or sdkmetric.WithTemporalitySelector
// says); nil is cumulative.
func NewProducer(temporality sdkmetric.TemporalitySelector) *Producer {
	if temporality == nil {
		temporality = sdkmetric.CumulativeTemporalitySelector
	}
	return &Producer{temporality: temporality, states: map[*Metrics]*exportState{}}
}

// Link tells p the reader it is registered on, when the reader is not one
// of this package's: p finds the Metrics of the reader's provider by
// collecting the reader once itself, and again whenever Metrics have been
// made since. The reader must be cumulative, as Prometheus' is: that
// collect would take a delta reader's figures of other instruments away
// from its export (for a delta exporter use NewPeriodicReader). A Producer
// made for delta temporality is warned about.
func (p *Producer) Link(r sdkmetric.Reader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reader, p.gen = r, 0
	if p.temporality(sdkmetric.InstrumentKindCounter) == metricdata.DeltaTemporality ||
		p.temporality(sdkmetric.InstrumentKindHistogram) == metricdata.DeltaTemporality {
		otel.Handle(fmt.Errorf("ninelives: a Producer of delta temporality is linked to a reader: each time it looks for Metrics it collects the reader and takes its figures of other instruments away from its export; use telemetry.NewPeriodicReader for a delta exporter"))
	}
}

// Produce returns the instruments of the Metrics on the reader's provider,
// in the reader's temporality. It implements sdkmetric.Producer.
func (p *Producer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	t := tokenFrom(ctx)
	switch {
	case t != nil && t.linking:
		return nil, nil // Link's own collect
	case t != nil:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exportLocked(t.list()), nil
	}
	producing.Add(1) // until it counts the collect as served
	defer producing.Add(-1)
	f := p.flight(ctx)
	for _, m := range f.metrics {
		m.readers.serve()
	}
	return f.out, f.err
}

// export is one export for the linked reader, shared by the collects that
// asked for it before it began.
type export struct {
	done    chan struct{}
	metrics []*Metrics
	out     []metricdata.ScopeMetrics
	err     error
}

// flight returns an export that began after the call. Collects of a
// cumulative reader that pile up (scrapes of a process short of CPU) share
// the next one, so they cost two exports at most, not one each; a delta
// reader's collects each take their own, as each takes the growth since
// the one before.
func (p *Producer) flight(ctx context.Context) *export {
	p.nextMu.Lock()
	f, run := p.next, p.next == nil
	if run {
		f = &export{done: make(chan struct{})}
		if p.cumulative() {
			p.next = f
		}
	}
	p.nextMu.Unlock()
	if run {
		p.mu.Lock()
		p.nextMu.Lock()
		if p.next == f {
			p.next = nil // who asks from now on waits for a later export
		}
		p.nextMu.Unlock()
		f.metrics, f.err = p.linkedLocked(ctx)
		if f.err == nil {
			f.out = p.exportLocked(f.metrics)
		}
		p.mu.Unlock()
		close(f.done)
	}
	<-f.done
	return f
}

func (p *Producer) cumulative() bool {
	return p.temporality(sdkmetric.InstrumentKindCounter) == metricdata.CumulativeTemporality &&
		p.temporality(sdkmetric.InstrumentKindHistogram) == metricdata.CumulativeTemporality
}

// exportLocked returns the instruments of ms in p's temporality.
func (p *Producer) exportLocked(ms []*Metrics) []metricdata.ScopeMetrics {
	if len(ms) == 0 {
		return nil
	}
	b := newExportBuilder(time.Now(), p.temporality)
	for _, m := range ms {
		b.add(m, p.stateLocked(m, b))
	}
	scope := instrumentation.Scope{Name: ScopeName, Version: moduleVersion}
	return []metricdata.ScopeMetrics{{Scope: scope, Metrics: b.metrics(len(ms) > 1)}}
}

// linkedLocked returns the Metrics of the linked reader's provider, found
// by Link's collect.
func (p *Producer) linkedLocked(ctx context.Context) ([]*Metrics, error) {
	if err := p.relinkLocked(ctx); err != nil {
		return nil, err
	}
	return p.linked, nil
}

// stateLocked returns what p last exported of m, nil when the reader is
// cumulative throughout.
func (p *Producer) stateLocked(m *Metrics, b *exportBuilder) *exportState {
	if !b.deltaCount && !b.deltaHist {
		return nil
	}
	st := p.states[m]
	if st == nil {
		st = &exportState{since: m.start}
		p.states[m] = st
	}
	return st
}

// relinkLocked finds the Metrics of the linked reader's provider when
// Metrics have been made since it last looked.
func (p *Producer) relinkLocked(ctx context.Context) error {
	if p.reader == nil {
		if !p.warnedLink {
			p.warnedLink = true
			otel.Handle(fmt.Errorf("ninelives: a reader asks a telemetry.Producer that is not linked to it, which finds no Metrics: call Link with the reader"))
		}
		return nil
	}
	g := generation.Load()
	if g == p.gen {
		return nil
	}
	t := &token{linking: true}
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(withToken(ctx, t), &rm); err != nil {
		return fmt.Errorf("ninelives: finding the Metrics of the reader: %w", err)
	}
	p.gen, p.linked = g, t.list()
	return nil
}
