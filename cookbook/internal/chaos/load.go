package chaos

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
)

// Load makes the demo's mix of calls (GetItem most of the time; PutItem,
// the one method not safe to repeat, a tenth) at a steady rate, open
// loop: each call starts on time whatever the calls before it do, up to
// maxInFlight at once. It counts every call.
type Load struct {
	demo *demo.Load
	rate int
	sem  chan struct{}

	paused atomic.Bool

	mu    sync.Mutex
	tally Tally
	// failed are the starts of the failed calls (the first maxFailures),
	// sorted out against the mark when the tally is read.
	failed []time.Time
}

// maxFailures bounds the failed calls whose start a Load keeps.
const maxFailures = 1 << 16

// maxInFlight bounds the calls a Load has in flight.
const maxInFlight = 1024

// Tally counts the calls of a Load.
type Tally struct {
	Calls, Failed int64
	// FailedSafe counts the failed calls of methods safe to repeat.
	FailedSafe int64
	// FailedBefore counts the failed calls that began before the mark
	// (Load.Mark): those a fault caught in flight, or before the client
	// saw it.
	FailedBefore int64
	// Served counts the successful calls by the version that served them;
	// LastServed is when each version last served one.
	Served     map[string]int64
	LastServed map[string]time.Time
	// Errors keeps the first few errors; FirstFailure and LastFailure are
	// when the first and the last failed call began.
	Errors                    []string
	FirstFailure, LastFailure time.Time
	mark                      time.Time
}

// NewLoad returns a load of rate calls/s on cc, each call with deadline
// timeout.
func NewLoad(cc *grpc.ClientConn, rate int, timeout time.Duration, seed uint64) *Load {
	d := demo.NewLoad(cc, rate, seed)
	d.SetCallTimeout(timeout)
	return &Load{demo: d, rate: rate, sem: make(chan struct{}, maxInFlight),
		tally: Tally{Served: map[string]int64{}, LastServed: map[string]time.Time{}}}
}

// Start makes calls until stop is called; stop waits for the calls in
// flight and returns the tally.
func (l *Load) Start() (stop func() Tally) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { l.run(done, &wg) })
	return func() Tally {
		close(done)
		wg.Wait()
		return l.Tally()
	}
}

// run starts a call every 1/rate, on a schedule kept from the start, so
// that a late call is followed by the next at once.
func (l *Load) run(done <-chan struct{}, wg *sync.WaitGroup) {
	period := time.Second / time.Duration(l.rate)
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		for !time.Now().Before(next) {
			if l.paused.Load() { // no calls, none owed: start afresh
				next = time.Now().Add(period)
				break
			}
			select {
			case l.sem <- struct{}{}:
			case <-done:
				return
			}
			kind, user := l.demo.Next()
			wg.Go(func() {
				defer func() { <-l.sem }()
				l.call(kind, user)
			})
			next = next.Add(period)
		}
		t.Reset(time.Until(next))
	}
}

func (l *Load) call(kind int, user string) {
	start := time.Now()
	v, err := l.demo.Call(context.Background(), kind, user)
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.tally
	t.Calls++
	if err == nil {
		t.Served[v]++
		t.LastServed[v] = time.Now()
		return
	}
	t.Failed++
	if t.FirstFailure.IsZero() || start.Before(t.FirstFailure) {
		t.FirstFailure = start
	}
	if start.After(t.LastFailure) {
		t.LastFailure = start
	}
	if demo.Safe(kind) {
		t.FailedSafe++
	}
	if len(l.failed) < maxFailures {
		l.failed = append(l.failed, start)
	}
	if len(t.Errors) < 5 {
		t.Errors = append(t.Errors, status.Convert(err).Message())
	}
}

// Mark notes the time the client saw a fault: calls that began before it
// and fail are counted apart (FailedBefore), as those the fault caught in
// flight or before the client knew.
func (l *Load) Mark() {
	l.mu.Lock()
	l.tally.mark = time.Now()
	l.mu.Unlock()
}

// Tally returns the counts so far.
func (l *Load) Tally() Tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tally
	for _, start := range l.failed {
		if start.Before(t.mark) {
			t.FailedBefore++
		}
	}
	t.Served, t.LastServed = maps.Clone(t.Served), maps.Clone(t.LastServed)
	t.Errors = append([]string(nil), t.Errors...)
	return t
}

// ServedSince reports whether version served a call after t.
func (l *Load) ServedSince(version string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tally.LastServed[version].After(t)
}

// Pause stops making calls and waits, at most wait, until none is in
// flight; resume makes them again, on a fresh schedule.
func (l *Load) Pause(wait time.Duration) (resume func()) {
	l.paused.Store(true)
	deadline := time.Now().Add(wait)
	for len(l.sem) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return func() { l.paused.Store(false) }
}
