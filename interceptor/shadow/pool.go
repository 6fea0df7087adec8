package shadow

import (
	"context"
	"slices"
	"sync"
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
// Lock order: mu only; no leg runs under it.
type workers struct {
	wg     sync.WaitGroup
	idle   time.Duration
	now    func() time.Time
	parent context.Context // the Interceptor's: cancelled by Close

	mu      sync.Mutex
	parked  []*worker // the longest parked first
	running int
	max     int
	stopped bool
}

// worker is one goroutine of the pool; next receives its legs, nil to
// leave. Its copies are cancelled through stop, under the pool's.
type worker struct {
	next  chan *unaryLeg // one place: only the one who unparked it sends
	since time.Time      // when it parked
	stop  context.Context
}

func (p *workers) init(max int, idle time.Duration, stop context.Context) {
	p.max, p.idle, p.parent, p.now = max, idle, stop, time.Now
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
	case p.running < p.max:
		p.running++
		p.wg.Add(1)
		go p.run(l)
		return true
	}
	return false
}

// run is a worker's life: the legs handed to it, one at a time.
func (p *workers) run(l *unaryLeg) {
	defer p.wg.Done()
	stop, cancel := context.WithCancel(p.parent)
	defer cancel()
	w := &worker{next: make(chan *unaryLeg, 1), stop: stop}
	for l != nil {
		finished := l.run(w)
		// Parked before the call gives its slot back, so that a call
		// that takes the slot finds a worker.
		parked := p.park(w)
		if finished != nil {
			finished.finish()
		}
		if !parked {
			return
		}
		l = <-w.next
	}
}

// park puts w among the parked workers, and lets go of the one parked
// longest if it has been idle too long; false when the pool has stopped
// and w is to leave.
func (p *workers) park(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.running--
		return false
	}
	w.since = p.now()
	if len(p.parked) > 0 && w.since.Sub(p.parked[0].since) > p.idle {
		p.running--
		p.parked[0].next <- nil
		p.parked = slices.Delete(p.parked, 0, 1)
	}
	p.parked = append(p.parked, w)
	return true
}

// stop makes the parked workers leave, and the busy ones once their legs
// are done, and waits for them all.
func (p *workers) stop() {
	p.mu.Lock()
	p.stopped = true
	for _, w := range p.parked {
		p.running--
		w.next <- nil
	}
	p.parked = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// size returns the workers alive and those parked.
func (p *workers) size() (running, parked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, len(p.parked)
}
