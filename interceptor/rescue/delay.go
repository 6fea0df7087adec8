package rescue

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Answer times are counted in log-linear buckets: 8 a doubling (each at
// most 12.5 % wide), exact below 8 ns, up to 2^41 ns (about 36 minutes);
// the last bucket takes any longer time.
const (
	subBits    = 3
	maxOctave  = 40
	numBuckets = (maxOctave - subBits + 2) << subBits
)

// bucketOf is the bucket of an answer time.
func bucketOf(d time.Duration) int {
	ns := uint64(max(d, 0))
	e := bits.Len64(ns) - 1 // 2^e <= ns < 2^(e+1)
	if e < subBits {
		return int(ns)
	}
	if e > maxOctave {
		return numBuckets - 1
	}
	sub := int(ns>>(e-subBits)) & (1<<subBits - 1)
	return (e-subBits+1)<<subBits + sub
}

// upperBound is the end of bucket i: every time in it is below.
func upperBound(i int) time.Duration {
	if i < 1<<subBits {
		return time.Duration(i + 1)
	}
	e := i>>subBits + subBits - 1
	sub := i & (1<<subBits - 1)
	return time.Duration((1<<subBits + sub + 1) << (e - subBits))
}

// estimator learns the hedge delay of one method from the baseline's
// answer times. It keeps two generations of counts, the current one and
// the one before, and the quantile is read over both: the last window to
// 2 × window answers. Observing takes no lock; the generation turns and
// the delay is recomputed under mu, by one observer at a time.
type estimator struct {
	s     *settings
	cur   atomic.Uint32 // the current generation, 0 or 1
	gens  [2]generation
	delay atomic.Int64 // the hedge delay; 0 while unknown
	mu    sync.Mutex
}

type generation struct {
	n      atomic.Int64
	counts [numBuckets]atomic.Uint32
}

// recomputeEvery is how many answers pass between two recomputations of
// the delay.
const recomputeEvery = 32

// observe counts one answer time of the baseline.
func (e *estimator) observe(d time.Duration) {
	g := &e.gens[e.cur.Load()]
	g.counts[bucketOf(d)].Add(1)
	n := g.n.Add(1)
	if n%recomputeEvery == 0 || n == int64(e.s.HedgeMinSamples) {
		e.recompute(n >= int64(e.s.HedgeWindow))
	}
}

// recompute reads the delay off the counts and, when the current
// generation is full, starts the next one.
func (e *estimator) recompute(turn bool) {
	if !e.mu.TryLock() {
		return // another observer is at it
	}
	defer e.mu.Unlock()
	e.delay.Store(int64(e.compute()))
	if turn {
		next := 1 - e.cur.Load()
		g := &e.gens[next]
		for i := range g.counts {
			g.counts[i].Store(0)
		}
		g.n.Store(0)
		e.cur.Store(next)
	}
}

// compute is the hedge delay from both generations, or 0 with too few
// answers.
func (e *estimator) compute() time.Duration {
	var counts [numBuckets]int64
	var total int64
	for g := range e.gens {
		for i := range counts {
			c := int64(e.gens[g].counts[i].Load())
			counts[i] += c
			total += c
		}
	}
	if total < int64(e.s.HedgeMinSamples) {
		return 0
	}
	rank := int64(e.s.HedgeQuantile*float64(total-1)) + 1 // the rank-th smallest, 1-based
	var q time.Duration
	for i, c := range counts {
		if rank -= c; rank <= 0 {
			q = upperBound(i)
			break
		}
	}
	d := time.Duration(float64(q) * e.s.HedgeFactor)
	return min(max(d, e.s.MinHedgeDelay), e.s.MaxHedgeDelay)
}

// hedgeDelay is the current delay; false while unknown.
func (e *estimator) hedgeDelay() (time.Duration, bool) {
	d := time.Duration(e.delay.Load())
	return d, d > 0
}
