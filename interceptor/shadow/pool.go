package shadow

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// legsPerCall is the most copies one unary call makes: to the candidate,
// and to the baseline for noise.
const legsPerCall = 2

// workerIdle is how long a parked worker stays unused before it is let go.
const workerIdle = 30 * time.Second

// workers runs the legs of unary copies on goroutines that outlive them,
// so that a copy costs a hand-over instead of a goroutine's start and its
// stack's growth: at most max at a time, parked in between, the most
// recently parked first (its stack is the warmest). submit never waits for
// anything but the mutex: it hands the leg to a parked worker or starts
// one, and refuses past max. A worker left parked for idle is let go the
// next time a worker parks, without a timer; stop lets them all go.
//
// No leg runs under mu.
type workers struct {
	wg   sync.WaitGroup
	idle time.Duration
	now  func() time.Time

	mu      sync.Mutex
	all     map[*worker]struct{}
	parked  []*worker // the longest parked first
	max     int
	stopped bool
}

// worker is one goroutine of the pool; next receives its legs, nil to
// leave. Its timer ends the copy it is making at the copy's deadline.
type worker struct {
	next  chan *unaryLeg              // one place: only the one who unparked it sends
	since time.Time                   // when its last leg started
	cur   atomic.Pointer[copyContext] // the copy it is making, for its timer and Close

	mu    sync.Mutex
	timer *time.Timer
	armed time.Time // when the timer fires; zero once it has
}

func newWorker() *worker {
	w := &worker{next: make(chan *unaryLeg, 1)}
	w.timer = time.AfterFunc(time.Hour, w.expire)
	w.timer.Stop()
	return w
}

func (p *workers) init(max int, idle time.Duration) {
	p.max, p.idle, p.now = max, idle, time.Now
	p.all = map[*worker]struct{}{}
}

// submit hands l to a worker. It returns false, at once, when max workers
// are busy or the pool has stopped.
func (p *workers) submit(l *unaryLeg) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped:
		return false
	case len(p.parked) > 0:
		w := p.parked[len(p.parked)-1]
		p.parked = p.parked[:len(p.parked)-1]
		w.next <- l // never waits: w's one place is empty while it is parked
		return true
	case len(p.all) < p.max:
		w := newWorker()
		p.all[w] = struct{}{}
		p.wg.Add(1)
		go p.run(w, l)
		return true
	}
	return false
}

// run is a worker's life: the legs handed to it, one at a time.
func (p *workers) run(w *worker, l *unaryLeg) {
	defer p.wg.Done()
	defer w.timer.Stop()
	for l != nil {
		start := p.now()
		finished := l.run(w, start)
		// Parked before the call gives its slot back, so that a call
		// that takes the slot finds a worker.
		parked := p.park(w, start)
		if finished != nil {
			finished.finish()
		}
		if !parked {
			return
		}
		l = <-w.next
	}
}

// park puts w, whose last leg started at since, among the parked workers,
// and lets go of the one parked longest if it has been idle too long
// (counted from the start of its last leg, which saves reading the clock
// again); false when the pool has stopped and w is to leave.
func (p *workers) park(w *worker, since time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		delete(p.all, w)
		return false
	}
	w.since = since
	if len(p.parked) > 0 && w.since.Sub(p.parked[0].since) > p.idle {
		p.leaveLocked(p.parked[0])
		p.parked = slices.Delete(p.parked, 0, 1)
	}
	p.parked = append(p.parked, w)
	return true
}

// leaveLocked lets a parked worker go.
func (p *workers) leaveLocked(w *worker) {
	delete(p.all, w)
	w.next <- nil
}

// stop makes the parked workers leave, and the busy ones once their legs
// are done, and waits for them all.
func (p *workers) stop() {
	p.mu.Lock()
	p.stopped = true
	for _, w := range p.parked {
		p.leaveLocked(w)
	}
	p.parked = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// cancelCopies cancels the copies the workers are making; at Close, once
// the Interceptor's context is cancelled, which a copy that starts later
// sees (start).
func (p *workers) cancelCopies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.all {
		if x := w.cur.Load(); x != nil {
			x.cancel(context.Canceled)
		}
	}
}

// start makes x, which has budget left, the copy w is making, ended at its
// deadline by w's timer. The timer is set only when it is not set to fire
// by then: copies of one budget follow one another with later deadlines,
// and a firing before a copy's deadline sets the timer again for it.
func (w *worker) start(x *copyContext, budget time.Duration) {
	w.cur.Store(x)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed.IsZero() || w.armed.After(x.deadline) {
		w.armed = x.deadline
		w.timer.Reset(budget)
	}
}

// end cancels x, the copy w was making, to release what was derived from
// it. w's timer is left to fire: it ends nothing but a copy past its
// deadline.
func (w *worker) end(x *copyContext) {
	w.cur.Store(nil)
	x.cancel(context.Canceled)
}

// expire ends the copy w is making if its deadline has passed, or sets
// the timer again for that deadline: the timer may fire for a copy that
// has ended, once w has started another.
func (w *worker) expire() {
	if x, left := w.rearm(); x != nil && left <= 0 {
		x.cancel(context.DeadlineExceeded)
	}
}

// rearm returns the copy w is making and the time it has left, and sets
// the timer for its deadline if that has not passed.
func (w *worker) rearm() (*copyContext, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = time.Time{}
	x := w.cur.Load()
	if x == nil {
		return nil, 0
	}
	left := time.Until(x.deadline)
	if left > 0 {
		w.armed = x.deadline
		w.timer.Reset(left)
	}
	return x, left
}

// size returns the workers alive and those parked.
func (p *workers) size() (running, parked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all), len(p.parked)
}
