package sentinel

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Alerter is told of every event that needs a person: a rollback, an abort, a
// promotion, a pause, a failing metric source or policy, and alerts a policy
// raises. Alert runs on the sentinel's alert goroutine, never on the tick,
// bounded by WithAlertTimeout (default 30 s); it should return when its
// context ends. Every such event is also logged at Warn level, and so is
// each further alert a decision raises beside its own event.
type Alerter interface {
	Alert(ctx context.Context, e Event) error
}

// Limits of the alert queue. A slow receiver never makes the queue drop
// the alerts that matter: a promotion, rollback or abort is never dropped,
// and the other alerts of the sentinel itself (pauses, weights set by
// hand, a failing source or policy) only past maxNotices queued; a
// strategy's own alert texts, the chatter, are coalesced and then dropped
// oldest first past maxChatter. A decision sends at most
// maxAlertsPerDecision texts, well below maxChatter.
const (
	maxChatter           = 64
	maxNotices           = 256
	maxAlertsPerDecision = 16
)

// alertClass says how hard the queue holds on to an alert.
type alertClass int

const (
	classChatter alertClass = iota // a strategy's own alert texts
	classNotice                    // the sentinel's other alerts
	classFinal                     // promotion, rollback, abort: never dropped
)

func classOf(e Event) alertClass {
	switch e.Action {
	case ActionAlert:
		return classChatter
	case ActionPromote, ActionRollback, ActionAbort:
		return classFinal
	}
	return classNotice
}

// alertQueue hands events to the alerters on one goroutine, so a slow
// webhook never delays a tick. Urgent events (notices and finals, with
// the alert texts of their own decision) go out before the chatter still
// queued, each kind in order.
type alertQueue struct {
	alerters []Alerter
	logger   *slog.Logger
	timeout  time.Duration
	base     context.Context    // parent of every delivery's context
	cancel   context.CancelFunc // ends the delivery under way, at shutdown

	mu       sync.Mutex
	wake     *sync.Cond
	urgent   []Event
	chatter  []Event
	dropped  int    // chatter dropped or coalesced since the last delivered chatter
	inflight *Event // the event being delivered
	started  bool
	closed   bool
	done     chan struct{}
}

func newAlertQueue(alerters []Alerter, logger *slog.Logger, timeout time.Duration) *alertQueue {
	q := &alertQueue{alerters: alerters, logger: logger, timeout: timeout, done: make(chan struct{})}
	q.base, q.cancel = context.WithCancel(context.Background())
	q.wake = sync.NewCond(&q.mu)
	return q
}

// push queues e, making room by the queue's rules.
func (q *alertQueue) push(e Event) {
	if len(q.alerters) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.logger.Warn("ninelives: alert after shutdown, not sent", "seq", e.Seq, "action", string(e.Action), "reason", e.Reason)
		return
	}
	if !q.started {
		q.started = true
		go q.run()
	}
	switch {
	case classOf(e) != classChatter:
		q.pushUrgentLocked(e)
	case len(q.urgent) > 0 && q.urgent[len(q.urgent)-1].Seq == e.Seq:
		// An alert text of an urgent decision goes out with it.
		q.urgent = append(q.urgent, e)
	default:
		q.pushChatterLocked(e)
	}
	q.wake.Signal()
}

// pushChatterLocked coalesces e with the same text already queued, or
// queues it, dropping the oldest chatter past maxChatter.
func (q *alertQueue) pushChatterLocked(e Event) {
	if slices.ContainsFunc(q.chatter, func(p Event) bool { return p.Reason == e.Reason }) {
		q.dropped++
		return
	}
	if len(q.chatter) >= maxChatter {
		if q.dropped == 0 {
			q.logger.Warn("ninelives: the alert receiver is behind: dropping the oldest policy alerts", "queued", len(q.chatter))
		}
		q.chatter = slices.Delete(q.chatter, 0, 1)
		q.dropped++
	}
	q.chatter = append(q.chatter, e)
}

// pushUrgentLocked queues e; past maxNotices it drops the oldest notice
// or alert text, never a final event.
func (q *alertQueue) pushUrgentLocked(e Event) {
	if len(q.urgent) >= maxNotices {
		if i := slices.IndexFunc(q.urgent, func(p Event) bool { return classOf(p) != classFinal }); i >= 0 {
			old := q.urgent[i]
			q.logger.Error("ninelives: the alert receiver is far behind: alert dropped", "seq", old.Seq, "action", string(old.Action), "reason", old.Reason)
			q.urgent = slices.Delete(q.urgent, i, i+1)
		}
	}
	q.urgent = append(q.urgent, e)
}

func (q *alertQueue) run() {
	defer close(q.done)
	for {
		e, ok := q.next()
		if !ok {
			return
		}
		q.deliver(e)
		q.mu.Lock()
		q.inflight = nil
		q.mu.Unlock()
	}
}

// next waits for the next event to deliver; false once the queue is
// closed and empty.
func (q *alertQueue) next() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.urgent) == 0 && len(q.chatter) == 0 {
		if q.closed {
			return Event{}, false
		}
		q.wake.Wait()
	}
	var e Event
	if len(q.urgent) > 0 {
		e, q.urgent = q.urgent[0], q.urgent[1:]
	} else {
		e, q.chatter = q.chatter[0], q.chatter[1:]
		if q.dropped > 0 {
			e.Reason += fmt.Sprintf(" (and %d earlier policy alerts dropped or merged: the alert receiver was behind)", q.dropped)
			q.dropped = 0
		}
	}
	q.inflight = &e
	return e, true
}

func (q *alertQueue) deliver(e Event) {
	for _, a := range q.alerters {
		ctx, cancel := context.WithTimeout(q.base, q.timeout)
		if err := a.Alert(ctx, e); err != nil {
			q.logger.Error("ninelives: alerter failed", "seq", e.Seq, "action", string(e.Action), "error", err)
		}
		cancel()
	}
}

// shutdown delivers what is queued until ctx ends, then gives up: it ends
// the delivery under way and returns the events not delivered (that one
// first, then the queue in the order it would have gone out). It does not
// wait for an alerter that ignores its context.
func (q *alertQueue) shutdown(ctx context.Context) []Event {
	q.mu.Lock()
	q.closed = true
	q.wake.Broadcast()
	started := q.started
	q.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	var left []Event
	if q.inflight != nil {
		left = append(left, *q.inflight)
	}
	left = append(append(left, q.urgent...), q.chatter...)
	q.urgent, q.chatter = nil, nil
	q.mu.Unlock()
	q.cancel()
	return left
}

// capAlerts keeps at most maxAlertsPerDecision alert texts of a decision;
// the last one kept says how many more were cut.
func capAlerts(texts []string) []string {
	if len(texts) <= maxAlertsPerDecision {
		return texts
	}
	keep := maxAlertsPerDecision - 1
	rest := texts[keep:]
	return append(slices.Clone(texts[:keep]), fmt.Sprintf("and %d more alerts, merged here (at most %d a decision): %s",
		len(rest), maxAlertsPerDecision, strings.Join(rest[:min(len(rest), 3)], "; ")+" …"))
}

// ShutdownError says what Shutdown or Close left undone when its deadline
// came: the alerts it could not deliver and what was still running. It
// wraps the deadline's error.
type ShutdownError struct {
	// Undelivered are the alerts not delivered by the deadline: the one
	// being delivered (its receiver may still have taken it), then those
	// queued, in the order they would have gone out.
	Undelivered []Event
	// Running names what had not finished: "a tick", "the strategy's Close".
	Running []string
	// Err is the deadline's error (context.DeadlineExceeded, say).
	Err error
}

// Error implements error.
func (e *ShutdownError) Error() string {
	var parts []string
	for _, r := range e.Running {
		parts = append(parts, r+" still running")
	}
	if n := len(e.Undelivered); n > 0 {
		var seqs []string
		for _, ev := range e.Undelivered[:min(n, 5)] {
			seqs = append(seqs, fmt.Sprintf("#%d %s", ev.Seq, ev.Action))
		}
		if n > 5 {
			seqs = append(seqs, "…")
		}
		parts = append(parts, fmt.Sprintf("%d alerts not delivered (%s)", n, strings.Join(seqs, ", ")))
	}
	return fmt.Sprintf("ninelives: sentinel shutdown cut short: %s: %v", strings.Join(parts, "; "), e.Err)
}

// Unwrap returns Err.
func (e *ShutdownError) Unwrap() error { return e.Err }
