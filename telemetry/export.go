package telemetry

import (
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// instrument is what readers see of one instrument besides its data.
type instrument struct{ name, unit, description string }

var (
	instCalls = instrument{MetricCalls, "{call}",
		"Attempts of calls the ninelives balancer sent, by version, role, method and status code."}
	instDuration = instrument{MetricDuration, "s",
		"Duration of attempts from the pick to their end (for streams, the stream's end), by version, role, method and status code."}
	instComparisons = instrument{MetricComparisons, "{comparison}",
		"Comparisons of shadow replies with primary replies, by version, method and result."}
	instDropped = instrument{MetricDropped, "{call}",
		"Shadow copies that were not made or not finished, by reason."}
	instWeight = instrument{MetricWeight, "{basis_point}",
		"Weight of each version of a split, in basis points (10000 is all the traffic)."}
	instFallbacks = instrument{MetricFallbacks, "{pick}",
		"Picks whose chosen version had no ready endpoint, so the call went to another version; by the chosen version."}
	instUnanswered = instrument{MetricUnanswered, "{call}",
		"Primary attempts that failed with Unavailable before the server sent anything (the connection was lost or refused, as when a server dies with calls in flight); also counted in ninelives.rpc.calls; by version and method."}
	instDecisions = instrument{MetricDecisions, "{decision}",
		"Decisions of the sentinel, by action."}
)

// The counters other than the calls, in the order of exportState.counters.
const (
	cComparisons = iota
	cFallbacks
	cUnanswered
	cDropped
	cDecisions
	numCounters
)

func (m *Metrics) counterSets() [numCounters][]*counter {
	return [numCounters][]*counter{m.comparisons.all.load(), m.fallbacks.all.load(), m.unanswered.all.load(), m.dropped.all.load(), m.decisions.all.load()}
}

// exportState is what a Producer last exported of one Metrics, to turn the
// cumulative aggregates into deltas.
type exportState struct {
	since    time.Time    // the end of the last export, the start of delta points
	series   []seriesSnap // by series id
	counters [numCounters][]int64
}

// seriesSnap is a series' buckets, their total and their sum (ns) at one time.
type seriesSnap struct {
	counts []uint64
	n      uint64
	sum    int64
}

func (s *series) snapshot() seriesSnap {
	snap := seriesSnap{counts: make([]uint64, len(s.buckets)), sum: s.sum.Load()}
	for i := range s.buckets {
		snap.counts[i] = s.buckets[i].Load()
		snap.n += snap.counts[i]
	}
	return snap
}

// minus is the growth from prev to s.
func (s seriesSnap) minus(prev seriesSnap) seriesSnap {
	d := seriesSnap{counts: make([]uint64, len(s.counts)), n: s.n - prev.n, sum: s.sum - prev.sum}
	for i := range s.counts {
		d.counts[i] = s.counts[i]
		if i < len(prev.counts) {
			d.counts[i] -= prev.counts[i]
		}
	}
	return d
}

// exportBuilder builds one export of the instruments of one or more Metrics.
type exportBuilder struct {
	now                   time.Time
	deltaCount, deltaHist bool
	calls                 []metricdata.DataPoint[int64]
	durations             []metricdata.HistogramDataPoint[float64]
	counters              [numCounters][]metricdata.DataPoint[int64]
	weights               []metricdata.DataPoint[int64]
}

func newExportBuilder(now time.Time, temporality sdkmetric.TemporalitySelector) *exportBuilder {
	return &exportBuilder{
		now:        now,
		deltaCount: temporality(sdkmetric.InstrumentKindCounter) == metricdata.DeltaTemporality,
		deltaHist:  temporality(sdkmetric.InstrumentKindHistogram) == metricdata.DeltaTemporality,
	}
}

// add adds the points of m; st is nil for a cumulative reader.
func (b *exportBuilder) add(m *Metrics, st *exportState) {
	for _, s := range m.series.load() {
		b.addSeries(m, s, st)
	}
	for kind, cs := range m.counterSets() {
		for _, c := range cs {
			n, prev := c.n.Load(), int64(0)
			if st != nil {
				prev = st.swapCounter(kind, c.id, n)
			}
			b.counters[kind] = b.appendCount(b.counters[kind], c.attrs, m.start, st, n, prev)
		}
	}
	for _, w := range m.weights() {
		b.weights = append(b.weights, metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(AttrVersion.String(w.Version)), StartTime: m.start, Time: b.now, Value: int64(w.Weight)})
	}
	if st != nil {
		st.since = b.now
	}
}

func (b *exportBuilder) addSeries(m *Metrics, s *series, st *exportState) {
	cur := s.snapshot()
	var prev seriesSnap
	if st != nil {
		prev = st.swapSeries(s.id, cur)
	}
	attrs := s.attributes()
	b.calls = b.appendCount(b.calls, attrs, m.start, st, int64(cur.n), int64(prev.n))
	switch {
	case !b.deltaHist:
		dp := histPoint(attrs, m.start, b.now, m.bounds, cur)
		if lo, hi := s.lo.Load(), s.hi.Load(); lo <= hi {
			dp.Min, dp.Max = metricdata.NewExtrema(time.Duration(lo).Seconds()), metricdata.NewExtrema(time.Duration(hi).Seconds())
		}
		b.durations = append(b.durations, dp)
	case cur.n > prev.n:
		b.durations = append(b.durations, histPoint(attrs, st.since, b.now, m.bounds, cur.minus(prev)))
	}
}

// appendCount appends the point of a counter at n: n itself, or for a
// delta reader its growth since prev, and no point when it did not grow.
func (b *exportBuilder) appendCount(pts []metricdata.DataPoint[int64], attrs attribute.Set, start time.Time, st *exportState, n, prev int64) []metricdata.DataPoint[int64] {
	switch {
	case !b.deltaCount:
		return append(pts, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: b.now, Value: n})
	case n > prev:
		return append(pts, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: st.since, Time: b.now, Value: n - prev})
	}
	return pts
}

func histPoint(attrs attribute.Set, start, now time.Time, bounds []float64, s seriesSnap) metricdata.HistogramDataPoint[float64] {
	return metricdata.HistogramDataPoint[float64]{
		Attributes: attrs, StartTime: start, Time: now,
		Count: s.n, Bounds: bounds, BucketCounts: s.counts, Sum: time.Duration(s.sum).Seconds(),
	}
}

// swapSeries stores the series' snapshot and returns the one before.
func (st *exportState) swapSeries(id int, cur seriesSnap) seriesSnap {
	st.series = resize(st.series, max(len(st.series), id+1))
	prev := st.series[id]
	st.series[id] = cur
	return prev
}

// swapCounter stores a counter's value and returns the one before.
func (st *exportState) swapCounter(kind, id int, n int64) int64 {
	st.counters[kind] = resize(st.counters[kind], max(len(st.counters[kind]), id+1))
	prev := st.counters[kind][id]
	st.counters[kind][id] = n
	return prev
}

// metrics returns the instruments that have points, in a fixed order.
func (b *exportBuilder) metrics(merge bool) []metricdata.Metrics {
	if merge {
		b.mergeAll()
	}
	counterTemp := temporalityOf(b.deltaCount)
	var out []metricdata.Metrics
	sum := func(in instrument, pts []metricdata.DataPoint[int64]) {
		if len(pts) > 0 {
			out = append(out, in.metrics(metricdata.Sum[int64]{DataPoints: pts, Temporality: counterTemp, IsMonotonic: true}))
		}
	}
	sum(instCalls, b.calls)
	if len(b.durations) > 0 {
		out = append(out, instDuration.metrics(metricdata.Histogram[float64]{DataPoints: b.durations, Temporality: temporalityOf(b.deltaHist)}))
	}
	sum(instComparisons, b.counters[cComparisons])
	sum(instDropped, b.counters[cDropped])
	if len(b.weights) > 0 {
		out = append(out, instWeight.metrics(metricdata.Gauge[int64]{DataPoints: b.weights}))
	}
	sum(instFallbacks, b.counters[cFallbacks])
	sum(instUnanswered, b.counters[cUnanswered])
	sum(instDecisions, b.counters[cDecisions])
	return out
}

func (in instrument) metrics(data metricdata.Aggregation) metricdata.Metrics {
	return metricdata.Metrics{Name: in.name, Description: in.description, Unit: in.unit, Data: data}
}

func temporalityOf(delta bool) metricdata.Temporality {
	if delta {
		return metricdata.DeltaTemporality
	}
	return metricdata.CumulativeTemporality
}

// mergeAll adds up the points of several Metrics that share attributes;
// the last weight of a version wins, as for an observed gauge.
func (b *exportBuilder) mergeAll() {
	addInt := func(dst, src *metricdata.DataPoint[int64]) bool { dst.Value += src.Value; return true }
	b.calls = mergePoints(b.calls, func(p *metricdata.DataPoint[int64]) attribute.Set { return p.Attributes }, addInt)
	for k := range b.counters {
		b.counters[k] = mergePoints(b.counters[k], func(p *metricdata.DataPoint[int64]) attribute.Set { return p.Attributes }, addInt)
	}
	b.weights = mergePoints(b.weights, func(p *metricdata.DataPoint[int64]) attribute.Set { return p.Attributes },
		func(dst, src *metricdata.DataPoint[int64]) bool { *dst = *src; return true })
	b.durations = mergePoints(b.durations, func(p *metricdata.HistogramDataPoint[float64]) attribute.Set { return p.Attributes }, addHist)
}

// addHist adds src into dst when their buckets are the same.
func addHist(dst, src *metricdata.HistogramDataPoint[float64]) bool {
	if len(dst.Bounds) != len(src.Bounds) {
		return false
	}
	for i := range dst.Bounds {
		if dst.Bounds[i] != src.Bounds[i] {
			return false
		}
	}
	dst.BucketCounts = slices.Clone(dst.BucketCounts) // it may be a Producer's last counts
	for i := range dst.BucketCounts {
		dst.BucketCounts[i] += src.BucketCounts[i]
	}
	dst.Count += src.Count
	dst.Sum += src.Sum
	dst.Min = mergeExtrema(dst.Min, src.Min, math.Min)
	dst.Max = mergeExtrema(dst.Max, src.Max, math.Max)
	dst.StartTime = minTime(dst.StartTime, src.StartTime)
	return true
}

func mergeExtrema(a, b metricdata.Extrema[float64], pick func(x, y float64) float64) metricdata.Extrema[float64] {
	av, aok := a.Value()
	bv, bok := b.Value()
	switch {
	case aok && bok:
		return metricdata.NewExtrema(pick(av, bv))
	case bok:
		return b
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// mergePoints folds points with equal attributes into the first of them
// when add allows it.
func mergePoints[P any](pts []P, attrs func(*P) attribute.Set, add func(dst, src *P) bool) []P {
	at := make(map[attribute.Distinct]int, len(pts))
	out := pts[:0]
	for i := range pts {
		a := attrs(&pts[i])
		key := a.Equivalent()
		if j, ok := at[key]; ok && add(&out[j], &pts[i]) {
			continue
		}
		at[key] = len(out)
		out = append(out, pts[i])
	}
	return out
}
