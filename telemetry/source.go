package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"

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

// sourceMaxBuckets bounds the buckets of a window's latency histogram, which
// starts at scale 6 (expScale, 64 buckets per doubling, error ≤ 1.1 %) and
// lowers its scale until its buckets fit: 320 keep scale 4 (16 buckets per
// doubling, error ≤ 4.4 %) for latencies that span up to 2^20 in one window,
// such as 30 µs to 30 s.
const sourceMaxBuckets = 320

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

// Source reads what Metrics recorded as Windows for the sentinel, straight
// from its aggregates. Register it on the MeterProvider given to New, beside
// any exporters; that is how it finds the Metrics:
//
//	src, _ := telemetry.NewSource()
//	prom, _ := promexport.New(nil)
//	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
//	m, _ := telemetry.New(telemetry.WithMeterProvider(mp))
//
// Each Source keeps what it read last, so its windows leave the exporters'
// figures alone, and the other way round. It counts every call, however
// many series there are: nothing it reads goes through the SDK's
// aggregation or its cardinality limit.
type Source struct {
	reader     *sdkmetric.ManualReader
	errorCodes errcodes.Set
	now        func() time.Time

	mu      sync.Mutex // serialises Collect; guards what follows
	rm      metricdata.ResourceMetrics
	last    time.Time
	states  map[*Metrics]*sourceState
	empty   int      // windows collected without finding Metrics
	scratch []uint64 // one role's bucket deltas
	warned  bool
}

var _ MetricSource = (*Source)(nil)

// NewSource returns a Source whose first window starts now.
func NewSource(opts ...SourceOption) (*Source, error) {
	cfg, err := newSourceConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Source{now: cfg.now, errorCodes: cfg.errorCodes, states: map[*Metrics]*sourceState{}}
	// The reader aggregates nothing but the kind of the instrument that
	// links it to Metrics: the provider's other instruments cost it nothing.
	s.reader = sdkmetric.NewManualReader(sdkmetric.WithAggregationSelector(linkAggregation))
	s.last = s.now()
	return s, nil
}

func linkAggregation(kind sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	if kind == sdkmetric.InstrumentKindObservableUpDownCounter {
		return sdkmetric.AggregationSum{}
	}
	return sdkmetric.AggregationDrop{}
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
	t := new(token)
	if err := s.reader.Collect(withToken(ctx, t), &s.rm); err != nil {
		return nil, fmt.Errorf("ninelives: collecting metrics: %w", err)
	}
	now := s.now()
	w := &Window{Start: s.last, End: now}
	s.last = now
	ms := t.list()
	s.noticeEmpty(len(ms))
	for _, m := range ms {
		s.read(w, s.state(m))
	}
	return w, nil
}

// emptyLimit is how many windows a Source collects without finding Metrics
// before it warns.
const emptyLimit = 3

func (s *Source) noticeEmpty(found int) {
	if found > 0 {
		s.empty = 0
		return
	}
	if s.empty++; s.empty == emptyLimit && !s.warned && len(s.states) == 0 {
		s.warned = true
		otel.Handle(fmt.Errorf("ninelives: the Source has found no telemetry.Metrics on its MeterProvider in %d windows, so its windows are empty: make them with telemetry.New(telemetry.WithMeterProvider(mp)) on the provider the Source is registered on", emptyLimit))
	}
}

// state returns what the Source last read of m, claiming a slot of m's
// window extremes on first sight.
func (s *Source) state(m *Metrics) *sourceState {
	st := s.states[m]
	if st == nil {
		st = &sourceState{m: m, slot: int(m.sources.Add(1)) - 1}
		if st.slot >= maxSources {
			st.slot = -1
			otel.Handle(fmt.Errorf("ninelives: more than %d Sources read one telemetry.Metrics: the windows of the others estimate their latencies' min and max from the buckets", maxSources))
		}
		s.states[m] = st
	}
	return st
}

// sourceState is what a Source last read of one Metrics, by series, role
// and counter id, and the role figures of the window being built.
type sourceState struct {
	m           *Metrics
	slot        int // the slot of the window extremes, -1 for none
	series      []seriesLast
	roles       []*roleLast
	comparisons []int64
	fallbacks   []int64
	unanswered  []int64

	stats []*RoleStats // the window's figures of each role, nil if none yet
	sums  []int64      // the window's latency sum of each role, ns
}

type seriesLast struct {
	n   uint64
	sum int64
}

type roleLast struct {
	zeros   uint64
	octaves [numOctaves]*[expPerOct]uint64
}

// read adds what m recorded since the last read into w.
func (s *Source) read(w *Window, st *sourceState) {
	m := st.m
	series := m.series.load()
	roles := m.roles.load() // after the series: it holds every role they refer to
	st.stats = resize(st.stats, len(roles))
	st.sums = resize(st.sums, len(roles))
	clear(st.stats)
	clear(st.sums)
	st.series = resize(st.series, len(series))
	for _, se := range series {
		s.readSeries(w, st, m, se)
	}
	st.roles = resize(st.roles, len(roles))
	for _, r := range roles {
		s.readLatency(w, st, r)
	}
	st.readCounters(w, s.errorCodes.Has(codes.Unavailable))
}

// readCounters adds the shadow comparisons, fallbacks and unanswered calls
// since the last read; the unanswered ones only when Unavailable is an
// error (unanswered), as VersionStats.Unanswered counts them.
func (st *sourceState) readCounters(w *Window, unanswered bool) {
	growth(st.m.comparisons.all.load(), &st.comparisons, func(c *counter, d int64) {
		v := w.MutableVersion(c.version)
		if v.Shadow == nil {
			v.Shadow = map[string]int64{}
		}
		v.Shadow[c.label] += d
	})
	growth(st.m.fallbacks.all.load(), &st.fallbacks, func(c *counter, d int64) {
		w.MutableVersion(c.version).Fallbacks += d
	})
	growth(st.m.unanswered.all.load(), &st.unanswered, func(c *counter, d int64) {
		if unanswered {
			w.MutableVersion(c.version).Unanswered += d
		}
	})
}

func (s *Source) readSeries(w *Window, st *sourceState, m *Metrics, se *series) {
	last := &st.series[se.id]
	n, sum := se.count(), se.sum.Load()
	d := int64(n - last.n)
	st.sums[se.entry.agg.id] += sum - last.sum
	*last = seriesLast{n, sum}
	if d == 0 {
		return
	}
	r := st.roleStats(w, se.entry.agg)
	r.Calls += d
	if r.Codes == nil {
		r.Codes = map[codes.Code]int64{}
	}
	r.Codes[se.code] += d
	if s.errorCodes.Has(se.code) {
		r.Errors += d
	}
	if se.entry.slot == m.other {
		w.Overflow.OtherMethods += d
	}
}

func (st *sourceState) roleStats(w *Window, r *roleAgg) *RoleStats {
	rs := st.stats[r.id]
	if rs == nil {
		rs = w.MutableVersion(r.version).MutableRole(r.role)
		st.stats[r.id] = rs
	}
	return rs
}

// readLatency sets the window's latency histogram of one role from its
// buckets' deltas, at scale 6 and lowered until it fits sourceMaxBuckets.
func (s *Source) readLatency(w *Window, st *sourceState, r *roleAgg) {
	rl := st.roles[r.id]
	if rl == nil {
		rl = new(roleLast)
		st.roles[r.id] = rl
	}
	p := s.deltaPart(r, rl)
	lo, hi := int64(math.MaxInt64), int64(-1)
	if st.slot >= 0 {
		lo, hi = r.ext[st.slot].take()
	}
	if p.count == 0 {
		return
	}
	p.sum = time.Duration(st.sums[r.id]).Seconds()
	p.min, p.max = p.extremes(lo, hi)
	h, rs := sumParts([]part{p}, sourceMaxBuckets), st.roleStats(w, r)
	if rs.Latency.Empty() {
		rs.Latency = h
	} else {
		rs.Latency.merge(h) // several Metrics on one provider have the role
	}
}

// deltaPart is a part at scale 6 of the role's counts since rl, which it
// updates; its counts are the Source's scratch.
func (s *Source) deltaPart(r *roleAgg, rl *roleLast) part {
	zeros := r.zeros.Load()
	p := part{scale: expScale, zeros: zeros - rl.zeros, count: zeros - rl.zeros}
	rl.zeros = zeros
	s.scratch = resize(s.scratch, numOctaves*expPerOct)
	first, last := -1, -1
	for o := range r.octaves {
		out := s.scratch[o*expPerOct : (o+1)*expPerOct]
		n := deltaOctave(r.octaves[o].Load(), &rl.octaves[o], out)
		if n == 0 {
			continue
		}
		p.count += n
		lo, hi := spanOf(out)
		if first < 0 {
			first = o*expPerOct + lo
		}
		last = o*expPerOct + hi
	}
	if first >= 0 {
		p.offset = int32(first + minOctave*expPerOct)
		p.counts = s.scratch[first : last+1]
	}
	return p
}

// deltaOctave writes into out the growth of each bucket of oct since *prev,
// which it updates, and returns the total growth.
func deltaOctave(oct *octave, prev **[expPerOct]uint64, out []uint64) uint64 {
	if oct == nil {
		clear(out) // left from another role
		return 0
	}
	if *prev == nil {
		*prev = new([expPerOct]uint64)
	}
	var n uint64
	for j := range oct {
		c := oct[j].Load()
		out[j] = c - (*prev)[j]
		(*prev)[j] = c
		n += out[j]
	}
	return n
}

// spanOf returns the first and last index of counts that are not zero, -1
// when none is.
func spanOf(counts []uint64) (first, last int) {
	first, last = -1, -1
	for i, c := range counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// extremes returns the window's min and max in seconds from the nanoseconds
// a Source's slot saw, checked against the buckets: a call recorded while
// the window was read may have its count in one window and its extremes in
// the next, and then the bounds of the outer buckets stand in.
func (p *part) extremes(lo, hi int64) (minV, maxV float64) {
	first, last, ok := p.span(p.scale)
	if !ok {
		return 0, 0 // zeros only
	}
	firstLo, firstHi := lowerBound(first, p.scale), lowerBound(first+1, p.scale)
	lastLo, lastHi := lowerBound(last, p.scale), lowerBound(last+1, p.scale)
	if p.zeros > 0 {
		firstLo, firstHi = 0, 0
	}
	minV, maxV = firstLo, lastHi
	if lo <= hi {
		if v := time.Duration(lo).Seconds(); v >= firstLo && v <= firstHi {
			minV = v
		}
		if v := time.Duration(hi).Seconds(); v >= lastLo && v <= lastHi {
			maxV = v
		}
	}
	return minV, maxV
}

// growth calls f with each counter that grew since last, and its growth.
func growth(cs []*counter, last *[]int64, f func(*counter, int64)) {
	*last = resize(*last, len(cs))
	for i, c := range cs {
		n := c.n.Load()
		if d := n - (*last)[i]; d != 0 {
			(*last)[i] = n
			f(c, d)
		}
	}
}

// resize returns s with length n, its first elements kept.
func resize[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}
