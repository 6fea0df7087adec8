package demotest

import (
	"context"
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
// background load; a machine shared with other work moves both alike. It
// reports each side's calls/s and their ratio, second over first.
func Paired(b *testing.B, round, callers int, sides [2]Side) {
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
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(round, b.N-done)
		for i, s := range sides {
			spent[i] += run(s, n)
		}
		done += n
	}
	b.StopTimer()
	rate := func(i int) float64 { return float64(b.N) / spent[i].Seconds() }
	b.ReportMetric(rate(0), sides[0].Name+"-calls/s")
	b.ReportMetric(rate(1), sides[1].Name+"-calls/s")
	b.ReportMetric(rate(1)/rate(0), sides[1].Name+"/"+sides[0].Name)
}

// PairedLatency starts b.N calls on each side on a fixed schedule of rate
// calls/s (an open load: each call starts on time whatever the earlier ones
// do), the sides taking turns in rounds of round calls. It reports each
// side's p50 and p99 latency in µs, the process's CPU time per call in µs
// (its After included) and, for every side after the first, the ratios of
// its p50 and p99 to those of each side before it.
func PairedLatency(b *testing.B, rate, round int, sides ...Side) {
	if len(sides) < 2 {
		b.Fatalf("PairedLatency compares sides: got %d, want 2 or more", len(sides))
	}
	run := func(s Side, n int, lat *[]time.Duration, cpu *time.Duration) {
		c0, _ := CPUTime()
		var wg sync.WaitGroup
		var mu sync.Mutex
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
				d := time.Since(t0)
				mu.Lock()
				*lat = append(*lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if s.After != nil {
			s.After()
		}
		c1, _ := CPUTime()
		*cpu += c1 - c0
	}
	var warm []time.Duration
	var warmCPU time.Duration
	for _, s := range sides {
		run(s, min(round, rate), &warm, &warmCPU)
	}
	lat := make([][]time.Duration, len(sides))
	cpu := make([]time.Duration, len(sides))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(round, b.N-done)
		for i, s := range sides {
			run(s, n, &lat[i], &cpu[i])
		}
		done += n
	}
	b.StopTimer()
	q := func(i int, p float64) float64 {
		l := slices.Sorted(slices.Values(lat[i]))
		if len(l) == 0 {
			return 0
		}
		return float64(l[int(p*float64(len(l)-1))].Microseconds())
	}
	for i, s := range sides {
		b.ReportMetric(q(i, 0.5), s.Name+"-p50-µs")
		b.ReportMetric(q(i, 0.99), s.Name+"-p99-µs")
		if _, ok := CPUTime(); ok {
			b.ReportMetric(float64(cpu[i].Nanoseconds())/float64(b.N)/1e3, s.Name+"-cpu-µs/call")
		}
		for j := range i {
			b.ReportMetric(q(i, 0.5)/q(j, 0.5), "p50-"+s.Name+"/"+sides[j].Name)
			b.ReportMetric(q(i, 0.99)/q(j, 0.99), "p99-"+s.Name+"/"+sides[j].Name)
		}
	}
}
