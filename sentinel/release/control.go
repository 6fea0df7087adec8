package release

import (
	"context"
	"fmt"
	"slices"

	"github.com/ninelives-go/ninelives/sentinel"
)

// Run runs a round every interval until ctx ends. A lifecycle of one
// rollout (no BuildSource) returns nil once it is over, like
// sentinel.Run; otherwise Run goes on, rollout after rollout, and returns
// ctx's error.
func (l *Lifecycle) Run(ctx context.Context) error {
	c, stop := l.cfg.clock.Ticker(l.cfg.interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c:
			if ev := l.Tick(ctx); l.builds == nil && ev.Phase.Final() {
				return nil
			}
		}
	}
}

// Status returns the sentinel's status, with the events of every rollout
// of the lifecycle (renumbered, oldest first) instead of the current one's
// only.
func (l *Lifecycle) Status() sentinel.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statusLocked()
}

func (l *Lifecycle) statusLocked() sentinel.Status {
	st := l.sen.Status()
	st.Events = slices.Clone(l.log)
	return st
}

// Release returns where the lifecycle stands.
func (l *Lifecycle) Release() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.releaseLocked()
}

func (l *Lifecycle) releaseLocked() Status {
	st := l.status
	st.Record = l.rec
	return st
}

// Snapshot returns Status and Release of one moment, between two rounds:
// the stage and the rollout's phase agree (finalizing only once
// promoted), which two calls, a round apart, need not.
func (l *Lifecycle) Snapshot() (sentinel.Status, Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statusLocked(), l.releaseLocked()
}

// EventsSince returns the logged events numbered above n, oldest first
// (as many as the log still holds).
func (l *Lifecycle) EventsSince(n uint64) []sentinel.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.log, n+1, func(e sentinel.Event, seq uint64) int { return int(e.Seq) - int(seq) })
	return slices.Clone(l.log[i:])
}

// Restore carries the lifecycle on from rec, after the sentinel was
// restored from a checkpoint (a fleet's new leader does both); a zero
// Record starts it afresh.
func (l *Lifecycle) Restore(rec Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.builds == nil:
		rec.Stage = StageRolling
	case rec.Stage == "":
		rec.Stage = StageWaiting
	}
	l.rec, l.pulled, l.log = rec, 0, nil
	l.status = Status{Record: rec}
}

// Continuous reports whether the lifecycle runs rollout after rollout (it
// has a BuildSource) rather than one.
func (l *Lifecycle) Continuous() bool { return l.builds != nil }

// Record returns what the lifecycle carries from rollout to rollout.
func (l *Lifecycle) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// control runs a manual control on the sentinel while a rollout is under
// way; between rollouts there is nothing to control.
func (l *Lifecycle) control(do func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rec.Stage != StageRolling {
		return fmt.Errorf("%w: no rollout is under way (%s): %s", sentinel.ErrTransition, l.rec.Stage, l.status.Note)
	}
	err := do()
	l.pullLocked()
	l.settleLocked(l.sen.Status().Phase)
	return err
}

// Pause pauses the rollout under way (sentinel.Sentinel.Pause).
func (l *Lifecycle) Pause(ctx context.Context, who, reason string) error {
	return l.control(func() error { return l.sen.Pause(ctx, who, reason) })
}

// Resume resumes it, or starts a new build's rollout that waits without
// auto-start (sentinel.Sentinel.Resume).
func (l *Lifecycle) Resume(ctx context.Context, who, reason string) error {
	return l.control(func() error { return l.sen.Resume(ctx, who, reason) })
}

// Promote promotes it (sentinel.Sentinel.Promote).
func (l *Lifecycle) Promote(ctx context.Context, who, reason string) error {
	return l.control(func() error { return l.sen.Promote(ctx, who, reason) })
}

// Abort aborts it (sentinel.Sentinel.Abort).
func (l *Lifecycle) Abort(ctx context.Context, who, reason string) error {
	return l.control(func() error { return l.sen.Abort(ctx, who, reason) })
}

// SetWeight sets the candidate's weight by hand (sentinel.Sentinel.SetWeight).
func (l *Lifecycle) SetWeight(ctx context.Context, who, reason string, candidateWeight int) error {
	return l.control(func() error { return l.sen.SetWeight(ctx, who, reason, candidateWeight) })
}
