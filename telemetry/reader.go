package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ninelives-go/ninelives/internal/config"
)

// exportTimeout bounds one collect and export, as the SDK's periodic
// reader's default does.
const exportTimeout = 30 * time.Second

// PeriodicReader collects a MeterProvider's metrics every interval, the
// instruments of this package among them, and hands them to an exporter,
// in the exporter's temporality, delta or cumulative: the SDK's periodic
// reader with ninelives' Producer built in. Register it on the provider
// with sdkmetric.WithReader; the provider's ForceFlush pushes at once and
// its Shutdown pushes a last time and stops it.
type PeriodicReader struct {
	*sdkmetric.ManualReader
	exporter sdkmetric.Exporter
	flush    chan chan error
	cancel   context.CancelFunc
	done     chan struct{}
	shutdown sync.Once
}

// NewPeriodicReader returns a reader that pushes to exp every interval.
func NewPeriodicReader(exp sdkmetric.Exporter, interval time.Duration) (*PeriodicReader, error) {
	if exp == nil {
		return nil, config.Errorf(ErrBadConfig, "NewPeriodicReader", nil, "the exporter is nil")
	}
	if interval <= 0 {
		return nil, config.Errorf(ErrBadConfig, "interval", interval, "want more than 0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &PeriodicReader{
		ManualReader: sdkmetric.NewManualReader(
			sdkmetric.WithTemporalitySelector(exp.Temporality),
			sdkmetric.WithAggregationSelector(exp.Aggregation),
			sdkmetric.WithProducer(NewProducer(exp.Temporality)),
		),
		exporter: exp,
		flush:    make(chan chan error),
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go r.run(ctx, interval)
	return r, nil
}

// Collect gathers the metrics without exporting them.
func (r *PeriodicReader) Collect(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	return r.ManualReader.Collect(withToken(ctx, new(token)), rm)
}

func (r *PeriodicReader) run(ctx context.Context, interval time.Duration) {
	defer close(r.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := r.export(ctx); err != nil {
				otel.Handle(err)
			}
		case errc := <-r.flush:
			errc <- r.export(ctx)
			tick.Reset(interval)
		case <-ctx.Done():
			return
		}
	}
}

// export collects and exports once, within exportTimeout.
func (r *PeriodicReader) export(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		return err
	}
	return r.exporter.Export(ctx, &rm)
}

// ForceFlush collects and exports now, then flushes the exporter.
func (r *PeriodicReader) ForceFlush(ctx context.Context) error {
	errc := make(chan error, 1)
	select {
	case r.flush <- errc:
	case <-r.done:
		return sdkmetric.ErrReaderShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.exporter.ForceFlush(ctx)
}

// Shutdown stops the reader after a last export and shuts the exporter
// down; later calls return sdkmetric.ErrReaderShutdown.
func (r *PeriodicReader) Shutdown(ctx context.Context) error {
	err := sdkmetric.ErrReaderShutdown
	r.shutdown.Do(func() {
		r.cancel()
		<-r.done
		err = r.export(ctx)
		if errors.Is(err, sdkmetric.ErrReaderNotRegistered) {
			err = nil // nothing was ever registered, so nothing to push
		}
		err = errors.Join(err, r.ManualReader.Shutdown(ctx), r.exporter.Shutdown(ctx))
	})
	return err
}
