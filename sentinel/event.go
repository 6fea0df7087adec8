package sentinel

import (
	"log/slog"
	"time"

	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
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
	Figures map[string]telemetry.Figures `json:"figures,omitempty"`
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
