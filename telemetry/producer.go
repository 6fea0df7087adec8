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
// One Producer serves one reader.
type Producer struct {
	temporality sdkmetric.TemporalitySelector

	mu         sync.Mutex // serialises Produce; guards what follows
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
	if t != nil && t.linking {
		return nil, nil // Link's own collect
	}
	if t == nil {
		producing.Add(1) // until it counts the collect as served
		defer producing.Add(-1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ms, err := p.metricsLocked(ctx, t)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	b := newExportBuilder(time.Now(), p.temporality)
	for _, m := range ms {
		b.add(m, p.stateLocked(m, b))
	}
	scope := instrumentation.Scope{Name: ScopeName, Version: moduleVersion}
	return []metricdata.ScopeMetrics{{Scope: scope, Metrics: b.metrics(len(ms) > 1)}}, nil
}

// metricsLocked returns the Metrics of the collecting reader's provider:
// those the token of this package's readers gathered, or else those found
// by Link's collect.
func (p *Producer) metricsLocked(ctx context.Context, t *token) ([]*Metrics, error) {
	if t != nil {
		return t.list(), nil
	}
	if err := p.relinkLocked(ctx); err != nil {
		return nil, err
	}
	for _, m := range p.linked {
		m.readers.serve()
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
