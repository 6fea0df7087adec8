package host

import (
	"context"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
)

// Warmup is one warm-up at a time, run on a goroutine of its own. It is
// not safe for concurrent use: its owner calls Start, Done and Running
// under its own lock, and Stop without it.
type Warmup struct {
	cancel  context.CancelFunc
	done    chan struct{}
	version string
}

// StopWait is how long the Close of a strategy waits for its warm-up to
// return once told to stop.
const StopWait = 5 * time.Second

// Start warms version up with warm, bounded by timeout, and hands the
// result to finish on the warm-up's goroutine. ctx's values carry over,
// its end does not. A warm-up that panics finishes with an error.
func (w *Warmup) Start(ctx context.Context, timeout time.Duration, version string,
	warm func(context.Context, string) (*warmup.Report, error),
	finish func(*warmup.Report, error)) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	done := make(chan struct{})
	w.cancel, w.done, w.version = cancel, done, version
	go func() {
		defer close(done)
		defer cancel()
		finish(run(wctx, warm, version))
	}()
}

// run calls the user's warm-up, turning a panic into an error.
func run(ctx context.Context, warm func(context.Context, string) (*warmup.Report, error), version string) (rep *warmup.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("ninelives: the warm-up of %q panicked: %v", version, p)
		}
	}()
	return warm(ctx, version)
}

// Done returns a channel closed when the last warm-up has finished; nil
// before the first starts.
func (w *Warmup) Done() <-chan struct{} { return w.done }

// Running reports whether a warm-up has started and not finished.
func (w *Warmup) Running() bool {
	if w.done == nil {
		return false
	}
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// Finished reports whether a warm-up has started and finished.
func (w *Warmup) Finished() bool { return w.done != nil && !w.Running() }

// Stop ends a running warm-up and waits for it, at most wait: a warm-up
// that ignores its context is left to finish on its own goroutine, and the
// error says so.
func (w Warmup) Stop(wait time.Duration) error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		return fmt.Errorf("ninelives: the warm-up of %q did not return within %v of being stopped; it is left running", w.version, wait)
	}
}

// Shadow turns shadow copies to a version on and off; interceptor's
// *Shadow is one.
type Shadow interface {
	SetCandidate(version string) error
	SetRate(rate float64) error
}

// Switch remembers whether its owner turned a Shadow's copies on, so that
// it turns them off once and only if it did.
type Switch struct{ on bool }

// Set turns the copies to candidate on at rate, or off. It does nothing
// without a Shadow or when the copies are already as asked.
func (w *Switch) Set(sh Shadow, candidate string, on bool, rate float64) error {
	if sh == nil || on == w.on {
		return nil
	}
	if on {
		if err := sh.SetCandidate(candidate); err != nil {
			return fmt.Errorf("ninelives: shadow to %q: %w", candidate, err)
		}
		if err := sh.SetRate(rate); err != nil {
			return fmt.Errorf("ninelives: shadow rate %v: %w", rate, err)
		}
		w.on = true
		return nil
	}
	if err := sh.SetRate(0); err != nil {
		return fmt.Errorf("ninelives: turning the shadow off: %w", err)
	}
	w.on = false
	return nil
}
