package interceptor

import (
	"sync"
	"time"
)

// workerIdle is how long a copy worker waits for its next copy before it
// exits.
const workerIdle = time.Second

// workers runs copies on goroutines that outlive one copy, so that a copy
// pays neither for a new goroutine nor for growing its stack through
// grpc's call path again. A copy is handed to an idle worker when there is
// one and starts a new worker otherwise; a worker exits when it has been
// idle for workerIdle or the Shadow stops. The copies themselves are
// bounded by the Shadow's slots, so the workers are too.
type workers struct {
	jobs chan func()
	stop <-chan struct{}
	wg   sync.WaitGroup
}

func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		w.wg.Add(1)
		go w.loop(job)
	}
}

func (w *workers) loop(job func()) {
	defer w.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(workerIdle)
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// wait returns when every worker has exited; call it after stop is closed.
func (w *workers) wait() { w.wg.Wait() }
