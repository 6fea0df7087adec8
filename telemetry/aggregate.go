package telemetry

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
)

// The aggregates Metrics records into: cumulative since New and lock-free
// to write. The Source and the Producer read them; each keeps the values it
// last read to turn them into deltas.

// series holds the attempts of one (version, role, method, status code): how
// many fell in each of the explicit buckets advised to exporters, their sum
// and their extremes. The number of attempts is the sum of the buckets.
type series struct {
	entry   *attemptEntry
	code    codes.Code
	id      int             // index in Metrics.series
	buckets []atomic.Uint64 // bucket i holds (bounds[i-1], bounds[i]]
	sum     atomic.Int64    // nanoseconds
	lo, hi  atomic.Int64    // nanoseconds; empty: lo > hi
	attrs   atomic.Pointer[attribute.Set]
}

func (s *series) record(ns int64, bounds []int64) {
	s.buckets[searchBounds(bounds, ns)].Add(1)
	s.sum.Add(ns)
	lower(&s.lo, ns)
	raise(&s.hi, ns)
}

// count is the number of attempts recorded.
func (s *series) count() uint64 {
	var n uint64
	for i := range s.buckets {
		n += s.buckets[i].Load()
	}
	return n
}

// attributes returns the series' attribute set, built on first use.
func (s *series) attributes() attribute.Set {
	if a := s.attrs.Load(); a != nil {
		return *a
	}
	a := attribute.NewSet(
		AttrVersion.String(s.entry.version),
		AttrRole.String(string(s.entry.role)),
		AttrMethod.String(s.entry.slot.name),
		AttrStatusCode.Int64(int64(s.code)),
	)
	s.attrs.CompareAndSwap(nil, &a)
	return *s.attrs.Load()
}

// searchBounds is the index of the first bound at or above ns, len(bounds)
// when there is none: the explicit bucket of ns.
func searchBounds(bounds []int64, ns int64) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bounds[mid] < ns {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// boundsNanos turns bucket bounds in seconds into nanoseconds such that a
// latency d falls at or below bound b exactly when d.Seconds() <= b, as the
// SDK would place it.
func boundsNanos(bounds []float64) []int64 {
	out := make([]int64, len(bounds))
	for i, b := range bounds {
		switch {
		case b >= float64(math.MaxInt64)/1e9:
			out[i] = math.MaxInt64
		case b < 0:
			out[i] = -1
		default:
			n := int64(b * 1e9)
			for time.Duration(n).Seconds() > b {
				n--
			}
			for n < math.MaxInt64 && time.Duration(n+1).Seconds() <= b {
				n++
			}
			out[i] = n
		}
	}
	return out
}

// The Source's latency histograms are base-2 exponential at scale expScale
// (64 buckets per doubling, relative error ≤ 1.1 %), in octaves allocated on
// first use between 2^minOctave and 2^(minOctave+numOctaves) seconds; values
// outside land in the outer buckets (the extremes stay exact).
const (
	expScale   = 6
	expPerOct  = 1 << expScale
	minOctave  = -31 // below 1 ns
	numOctaves = 58  // up to 2^27 s, four years
)

type octave [expPerOct]atomic.Uint64

// roleAgg holds the latencies of one (version, role) over all its methods
// and codes, for the Source, and its extremes since each Source last read
// them: one slot per Source, up to maxSources.
type roleAgg struct {
	version string
	role    balancer.Role
	id      int // index in Metrics.roles
	zeros   atomic.Uint64
	octaves [numOctaves]atomic.Pointer[octave]
	ext     [maxSources]extremes

	mu sync.Mutex // serialises growing octaves
}

// maxSources is how many Sources read exact window extremes from one
// Metrics; a further Source estimates them from the buckets.
const maxSources = 4

func newRoleAgg(version string, role balancer.Role, id int) *roleAgg {
	r := &roleAgg{version: version, role: role, id: id}
	for i := range r.ext {
		r.ext[i].reset()
	}
	return r
}

// record counts ns, updating the extremes of the first sources slots.
func (r *roleAgg) record(ns int64, sources int) {
	for i := range min(sources, maxSources) {
		r.ext[i].update(ns)
	}
	if ns <= 0 {
		r.zeros.Add(1)
		return
	}
	o, j := expIndex(ns)
	oct := r.octaves[o].Load()
	if oct == nil {
		oct = r.grow(o)
	}
	oct[j].Add(1)
}

func (r *roleAgg) grow(o int) *octave {
	r.mu.Lock()
	defer r.mu.Unlock()
	if oct := r.octaves[o].Load(); oct != nil {
		return oct
	}
	oct := new(octave)
	r.octaves[o].Store(oct)
	return oct
}

// expBounds[j] is the lower bound of bucket j of an octave [1, 2):
// 2^(j/64), the same values as lowerBound gives.
var expBounds = func() (b [expPerOct + 1]float64) {
	for j := range b {
		b[j] = lowerBound(int64(j), expScale)
	}
	return b
}()

// expGuess maps the top 10 bits of a mantissa to the bucket that holds the
// lowest mantissa with those bits; a mantissa lies in it or the next one, as
// a bucket is wider than 1/1024.
var expGuess = func() (g [1024]uint8) {
	j := 0
	for k := 1; k < len(g); k++ {
		m := 1 + float64(k)/1024
		for expBounds[j+1] < m {
			j++
		}
		g[k] = uint8(j)
	}
	return g
}()

// expIndex returns the octave (an index of roleAgg.octaves) and the bucket
// in it of ns nanoseconds, where bucket j of octave o holds
// (2^(o+j/64), 2^(o+(j+1)/64)] seconds.
func expIndex(ns int64) (o, j int) {
	bits := math.Float64bits(time.Duration(ns).Seconds())
	const fracBits = 52
	exp := int(bits>>fracBits&0x7ff) - 1023
	frac := bits & (1<<fracBits - 1)
	if frac == 0 { // a power of two closes the bucket below it
		exp, j = exp-1, expPerOct-1
	} else {
		j = int(expGuess[frac>>(fracBits-10)])
		if m := math.Float64frombits(frac | 1023<<fracBits); m > expBounds[j+1] {
			j++
		}
	}
	switch o = exp - minOctave; {
	case o < 0:
		return 0, 0
	case o >= numOctaves:
		return numOctaves - 1, expPerOct - 1
	}
	return o, j
}

// extremes are the least and greatest nanoseconds seen since reset.
type extremes struct{ lo, hi atomic.Int64 }

func (e *extremes) update(ns int64) {
	lower(&e.lo, ns)
	raise(&e.hi, ns)
}

func (e *extremes) reset() {
	e.lo.Store(math.MaxInt64)
	e.hi.Store(-1)
}

// take returns the extremes and resets them; lo > hi when none were seen.
func (e *extremes) take() (lo, hi int64) {
	return e.lo.Swap(math.MaxInt64), e.hi.Swap(-1)
}

func lower(a *atomic.Int64, v int64) {
	for cur := a.Load(); v < cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
	}
}

func raise(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur && !a.CompareAndSwap(cur, v); cur = a.Load() {
	}
}

// counter is one series of a counter other than the calls: its attribute
// set, and the version and label (result, reason or action) it counts.
type counter struct {
	id      int
	n       atomic.Int64
	attrs   attribute.Set
	version string
	label   string
}

// counterSet is the series of one counter, found by key without a lock and
// listed in the order they were added.
type counterSet[K comparable] struct {
	byKey growMap[K, *counter]
	all   list[*counter]
}

// add counts one under key, making the counter with newAttrs on first use;
// mu serialises the additions.
func (c *counterSet[K]) add(mu *sync.Mutex, key K, version, label string, newAttrs func() attribute.Set) {
	n, ok := c.byKey.load(key)
	if !ok {
		n = c.addSlow(mu, key, version, label, newAttrs)
	}
	n.n.Add(1)
}

func (c *counterSet[K]) addSlow(mu *sync.Mutex, key K, version, label string, newAttrs func() attribute.Set) *counter {
	mu.Lock()
	defer mu.Unlock()
	if n, ok := c.byKey.loadLocked(key); ok {
		return n
	}
	n := &counter{id: c.all.len(), attrs: newAttrs(), version: version, label: label}
	c.all.appendLocked(n)
	c.byKey.storeLocked(key, n)
	return n
}

// growMap is a map read without a lock that grows in amortised constant
// time, as sync.Map once did but typed: new keys go to a dirty map, under a
// mutex of the caller's, that holds every key; once lookups have missed the
// read map as often as the dirty map has keys, the dirty map replaces it.
type growMap[K comparable, V any] struct {
	read   atomic.Pointer[map[K]V]
	dirty  map[K]V // nil when read holds every key
	misses int
}

func (g *growMap[K, V]) load(k K) (V, bool) {
	if r := g.read.Load(); r != nil {
		v, ok := (*r)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// loadLocked looks in the read map, then in the dirty map, counting the
// miss; the caller holds the mutex.
func (g *growMap[K, V]) loadLocked(k K) (V, bool) {
	if v, ok := g.load(k); ok {
		return v, ok
	}
	v, ok := g.dirty[k]
	if g.misses++; g.misses >= len(g.dirty) {
		g.promoteLocked()
	}
	return v, ok
}

// promoteLocked makes the read map hold every key; the caller holds the
// mutex.
func (g *growMap[K, V]) promoteLocked() {
	if g.dirty != nil {
		d := g.dirty
		g.read.Store(&d)
		g.dirty, g.misses = nil, 0
	}
}

// storeLocked adds k; the caller holds the mutex.
func (g *growMap[K, V]) storeLocked(k K, v V) {
	if g.dirty == nil {
		var n int
		if r := g.read.Load(); r != nil {
			n = len(*r)
		}
		g.dirty = make(map[K]V, 2*n+1)
		if r := g.read.Load(); r != nil {
			for kk, vv := range *r {
				g.dirty[kk] = vv
			}
		}
	}
	g.dirty[k] = v
}

// list is an append-only slice read without a lock: readers see a prefix,
// appenders are serialised by a mutex of the caller's.
type list[T any] struct{ p atomic.Pointer[[]T] }

func (l *list[T]) load() []T {
	if s := l.p.Load(); s != nil {
		return *s
	}
	return nil
}

func (l *list[T]) len() int { return len(l.load()) }

func (l *list[T]) appendLocked(v T) {
	s := append(l.load(), v)
	l.p.Store(&s)
}
