package sentinel

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// Event is one decision with its evidence: what was done, by whom, why,
// where it left the rollout, and the figures and verdict it rested on.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	From   Phase     `json:"from"`
	Reason string    `json:"reason"`
	// Who made the decision: "sentinel" (the strategy), or the name given to
	// a manual control.
	Who string `json:"who"`
	// Position is where the rollout stands after the decision.
	Position
	// Verdict is the evidence the decision rests on: the judge's verdict
	// over the rollout, or the strategy's own when it gave one
	// (Decision.Verdict: blue/green's rollback-window test, the
	// candidate's availability).
	Verdict *judge.Verdict `json:"verdict,omitempty"`
	// Figures are each version's figures over the current step; for a
	// decision that begins a step (start, advance, a cut-over, a weight
	// set by hand), over the step it ends: the step that passed.
	Figures map[string]VersionFigures `json:"figures,omitempty"`
	// Alert is set when the event went to the alerters.
	Alert  bool `json:"alert"`
	DryRun bool `json:"dryRun,omitempty"`
}

// attrs renders the event for slog.
func (e Event) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.Uint64("seq", e.Seq),
		slog.String("action", string(e.Action)),
		slog.String("from", string(e.From)),
		slog.String("phase", string(e.Phase)),
		slog.Int("step", e.Step),
		slog.String("who", e.Who),
		slog.Any("weights", e.Weights),
	}
	if e.Verdict != nil {
		attrs = append(attrs, slog.String("verdict", e.Verdict.Outcome.String()), slog.String("verdict_reason", e.Verdict.Reason))
		if ev := e.Verdict.Evidence; ev != nil {
			attrs = append(attrs, slog.String("test", e.Verdict.Test), slog.Float64("statistic", finite(ev.Statistic)), slog.Float64("threshold", finite(ev.Threshold)))
		}
	}
	for v, f := range e.Figures {
		attrs = append(attrs, slog.Group(v, "calls", f.Calls, "errors", f.Errors, "error_rate", f.ErrorRate, "p99", f.P99))
	}
	if e.DryRun {
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	return attrs
}

// Alerter is told of every event that needs a person: a rollback, an abort, a
// promotion, a pause, a failing metric source or policy, and alerts a policy
// raises. Alert runs on the sentinel's alert goroutine, never on the tick,
// bounded by a timeout of 30 s. Every such event is also logged at Warn
// level.
type Alerter interface {
	Alert(ctx context.Context, e Event) error
}

// alertQueue hands events to the alerters on one goroutine, so a slow
// webhook never delays a tick. It holds at most cap events; past that it
// drops the oldest kind of work it can: the new event, logged.
type alertQueue struct {
	alerters []Alerter
	logger   *slog.Logger
	timeout  time.Duration

	mu      sync.Mutex
	ch      chan Event
	done    chan struct{}
	started bool
	closed  bool
}

func newAlertQueue(alerters []Alerter, logger *slog.Logger, timeout time.Duration) *alertQueue {
	return &alertQueue{alerters: alerters, logger: logger, timeout: timeout, ch: make(chan Event, 64), done: make(chan struct{})}
}

func (q *alertQueue) push(e Event) {
	if len(q.alerters) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if !q.started {
		q.started = true
		go q.run()
	}
	select {
	case q.ch <- e:
	default:
		q.logger.Warn("ninelives: alert queue full, alert dropped", "seq", e.Seq, "reason", e.Reason)
	}
}

func (q *alertQueue) run() {
	defer close(q.done)
	for e := range q.ch {
		for _, a := range q.alerters {
			ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
			if err := a.Alert(ctx, e); err != nil {
				q.logger.Error("ninelives: alerter failed", "seq", e.Seq, "error", err)
			}
			cancel()
		}
	}
}

// close delivers what is queued and stops the goroutine.
func (q *alertQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	started := q.started
	close(q.ch)
	q.mu.Unlock()
	if started {
		<-q.done
	}
}
