package demotest

import (
	"context"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Side is one of the two things a paired benchmark compares: a name for the
// metrics and the call to make. After, if set, runs at the end of each of
// the side's rounds, outside the clock (to let work the side left behind
// finish before the other side's round).
type Side struct {
	Name  string
	Call  func(ctx context.Context) error
	After func()
}

// Paired makes b.N calls on each side from callers goroutines, the two
// sides taking turns in rounds of round calls, so that both see the same
// background load; a machine shared with other work moves both alike. The
// side that starts a turn changes from one turn to the next (A B, B A, …),
// so that neither always follows the other: a round that follows the
// other side's meets the garbage collections and the cold caches that
// side's work left, and a fixed order would charge them to one side. It
// reports each side's calls/s and their ratio, second over first, and each
// side's CPU time and heap allocations per call (the process's, its After
// included) and the ratio of the CPU times.
func Paired(b *testing.B, round, callers int, sides [2]Side) {
	needPositive(b, "Paired", "round", round)
	needPositive(b, "Paired", "callers", callers)
	run := func(s Side, n int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if err := s.Call(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		if s.After != nil {
			b.StopTimer()
			s.After()
			b.StartTimer()
		}
		return d
	}
	for _, s := range sides { // warm both up
		run(s, round)
	}
	var spent [2]time.Duration
	var use [2]usage
	b.ReportAllocs()
	b.ResetTimer()
	orders := balancedOrders(len(sides))
	for turn, done := 0, 0; done < b.N; turn++ {
		n := min(round, b.N-done)
		for _, i := range orders[turn%len(orders)] {
			use[i].add(func() { spent[i] += run(sides[i], n) })
		}
		done += n
	}
	b.StopTimer()
	rate := func(i int) float64 { return float64(b.N) / spent[i].Seconds() }
	for i, s := range sides {
		b.ReportMetric(rate(i), s.Name+"-calls/s")
		use[i].report(b, s.Name, b.N)
	}
	b.ReportMetric(rate(1)/rate(0), sides[1].Name+"/"+sides[0].Name)
	if use[0].cpu > 0 { // 0 where the process's CPU time cannot be read
		b.ReportMetric(float64(use[1].cpu)/float64(use[0].cpu), sides[1].Name+"/"+sides[0].Name+"-cpu")
	}
}

// PairedLatency starts b.N calls on each side on a fixed schedule of rate
// calls/s (an open load: each call starts on time whatever the earlier ones
// do), the sides taking turns in rounds of round calls, in the orders of
// balancedOrders: every side follows every other equally often, so that
// none meets more often than another the garbage collections a side's
// work brought on. It reports each side's p50 and p99 latency in µs, the
// process's CPU time in µs and heap bytes allocated per call (its After
// included, and whatever else the process did meanwhile) and, for every
// side after the first, the ratios of its p50 and p99 to those of each
// side before it.
func PairedLatency(b *testing.B, rate, round int, sides ...Side) {
	if len(sides) < 2 {
		b.Fatalf("PairedLatency compares sides: got %d, want 2 or more", len(sides))
	}
	needPositive(b, "PairedLatency", "rate", rate)
	needPositive(b, "PairedLatency", "round", round)
	var warm openRun
	for _, s := range sides {
		warm.run(b, s, rate, min(round, rate))
	}
	runs := make([]openRun, len(sides))
	b.ReportAllocs()
	b.ResetTimer()
	orders := balancedOrders(len(sides))
	for turn, done := 0, 0; done < b.N; turn++ {
		n := min(round, b.N-done)
		for _, i := range orders[turn%len(orders)] {
			runs[i].run(b, sides[i], rate, n)
		}
		done += n
	}
	b.StopTimer()
	for i, s := range sides {
		b.ReportMetric(runs[i].quantile(0.5), s.Name+"-p50-µs")
		b.ReportMetric(runs[i].quantile(0.99), s.Name+"-p99-µs")
		runs[i].use.report(b, s.Name, b.N)
		for j := range i {
			b.ReportMetric(runs[i].quantile(0.5)/runs[j].quantile(0.5), "p50-"+s.Name+"/"+sides[j].Name)
			b.ReportMetric(runs[i].quantile(0.99)/runs[j].quantile(0.99), "p99-"+s.Name+"/"+sides[j].Name)
		}
	}
}

// needPositive fails b unless the argument name of fn is at least 1: a
// round of no calls would take its turns forever, no callers would make no
// calls, and a rate of 0 calls/s has no schedule.
func needPositive(b *testing.B, fn, name string, n int) {
	if n < 1 {
		b.Fatalf("demotest: %s: %s = %d, want at least 1", fn, name, n)
	}
}

// balancedOrders are the orders in which k sides take their turns, one
// order a turn, in a cycle: a Williams design, in which every side runs
// first, second, … equally often and follows every other side equally
// often (k orders for an even k, 2k for an odd one). Turning the sides
// round (A B C, B C A, C A B) would not do for three or more: B would
// follow A in two turns of three, and a side that follows a side that
// copies its calls meets the garbage collections that side left.
func balancedOrders(k int) [][]int {
	first := make([]int, k) // 0, 1, k−1, 2, k−2, …
	for j, lo, hi := 1, 1, k-1; j < k; j++ {
		if j%2 == 1 {
			first[j], lo = lo, lo+1
		} else {
			first[j], hi = hi, hi-1
		}
	}
	var orders [][]int
	for r := range k {
		o := make([]int, k)
		for j, f := range first {
			o[j] = (f + r) % k
		}
		orders = append(orders, o)
	}
	if k%2 == 1 {
		for r := range k {
			rev := slices.Clone(orders[r])
			slices.Reverse(rev)
			orders = append(orders, rev)
		}
	}
	return orders
}

// openRun is what the turns of one side measured: every call's latency and
// the process's CPU time.
type openRun struct {
	mu  sync.Mutex
	lat []time.Duration
	use usage
}

// run makes n calls of s, started on the schedule of rate calls/s, then
// runs its After.
func (r *openRun) run(b *testing.B, s Side, rate, n int) {
	r.use.add(func() { r.calls(b, s, rate, n) })
}

func (r *openRun) calls(b *testing.B, s Side, rate, n int) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := s.Call(context.Background()); err != nil {
				b.Error(err)
				return
			}
			r.add(time.Since(t0))
		}()
	}
	wg.Wait()
	if s.After != nil {
		s.After()
	}
}

// usage is the process's CPU time and heap allocations over a side's
// rounds: whatever the process did meanwhile, the servers' work when they
// run in it.
type usage struct {
	cpu         time.Duration
	objs, bytes uint64
}

// add runs f and adds what the process spent meanwhile.
func (u *usage) add(f func()) {
	heap := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(heap)
	o0, b0 := heap[0].Value.Uint64(), heap[1].Value.Uint64()
	c0, _ := CPUTime()
	f()
	c1, _ := CPUTime()
	metrics.Read(heap)
	u.cpu += c1 - c0
	u.objs += heap[0].Value.Uint64() - o0
	u.bytes += heap[1].Value.Uint64() - b0
}

// report reports u per call of n calls, its metrics named after side.
func (u usage) report(b *testing.B, side string, n int) {
	if u.cpu > 0 {
		b.ReportMetric(float64(u.cpu.Nanoseconds())/float64(n)/1e3, side+"-cpu-µs/call")
	}
	b.ReportMetric(float64(u.bytes)/float64(n), side+"-B/call")
	b.ReportMetric(float64(u.objs)/float64(n), side+"-objects/call")
}

func (r *openRun) add(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// quantile is the latencies' p quantile in µs; 0 when there are none.
func (r *openRun) quantile(p float64) float64 {
	l := slices.Sorted(slices.Values(r.lat))
	if len(l) == 0 {
		return 0
	}
	return float64(l[int(p*float64(len(l)-1))].Microseconds())
}
