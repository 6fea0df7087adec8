package chaos

import (
	"context"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
)

// Sample is what the process holds at a moment: goroutines, the live heap
// after a collection, and open file descriptors.
type Sample struct {
	Goroutines int
	HeapBytes  uint64
	FDs        int
}

// Take collects the garbage and samples the process. It collects twice:
// what sync.Pools hold (gRPC's buffers) survives the first collection in
// their victim caches.
func Take() Sample {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Sample{Goroutines: runtime.NumGoroutine(), HeapBytes: m.HeapAlloc, FDs: openFDs()}
}

// openFDs counts the process's open file descriptors (-1 where /proc is
// not there).
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es) - 1 // the directory read itself
}

// Slack is what a process may hold more than before a scenario once it
// is over: the goroutines and files of the runtime and of libraries,
// started once.
const (
	goroutineSlack = 10
	fdSlack        = 5
)

// Settle waits, at most wait, until the process holds no more goroutines
// and open files than before, within the slack (calls, connections and
// timers ending), and samples it then.
func Settle(before Sample, wait time.Duration) Sample {
	deadline := time.Now().Add(wait)
	for {
		s := Take()
		if s.Goroutines <= before.Goroutines+goroutineSlack && s.FDs <= before.FDs+fdSlack || time.Now().After(deadline) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Timings are the durations of ticks.
type Timings struct {
	mu sync.Mutex
	ds []time.Duration
}

func (t *Timings) add(d time.Duration) {
	t.mu.Lock()
	t.ds = append(t.ds, d)
	t.mu.Unlock()
}

// Quantiles returns the median, the 99th percentile and the largest tick,
// and how many there were.
func (t *Timings) Quantiles() (p50, p99, worst time.Duration, n int) {
	t.mu.Lock()
	ds := slices.Clone(t.ds)
	t.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
	return at(0.5), at(0.99), ds[len(ds)-1], len(ds)
}

// Ticker ticks a sentinel every interval, timing each tick, and keeps its
// decisions but holds.
type Ticker struct {
	Timings
	mu     sync.Mutex
	events []timedEvent
}

type timedEvent struct {
	at time.Time
	e  sentinel.Event
}

// Tick runs s's ticks until ctx ends.
func (t *Ticker) Tick(ctx context.Context, s *sentinel.Sentinel, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		start := time.Now()
		e := s.Tick(ctx)
		t.add(time.Since(start))
		if e.Action != sentinel.ActionHold {
			t.mu.Lock()
			t.events = append(t.events, timedEvent{time.Now(), e})
			t.mu.Unlock()
		}
	}
}

// First returns the time of the first decision with action after since.
func (t *Ticker) First(action sentinel.Action, since time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, te := range t.events {
		if te.e.Action == action && te.at.After(since) {
			return te.at, true
		}
	}
	return time.Time{}, false
}

// Phase is the phase of the last decision but a hold.
func (t *Ticker) Phase() sentinel.Phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.events) == 0 {
		return sentinel.PhasePending
	}
	return t.events[len(t.events)-1].e.Phase
}
