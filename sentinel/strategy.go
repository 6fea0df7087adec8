package sentinel

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// State is what a strategy sees on each tick: where the rollout stands,
// the figures of this tick and of the whole step, and the judge's verdict
// after this tick's look.
type State struct {
	Position
	Now time.Time `json:"now"`
	// InStep is how long the current step has lasted.
	InStep time.Duration `json:"inStep"`
	// CandidateWeight is the candidate's weight now, in basis points.
	CandidateWeight int `json:"candidateWeight"`
	// Window is this tick's figures; StepWindow adds up every tick of the step.
	Window     *telemetry.Window `json:"window"`
	StepWindow *telemetry.Window `json:"stepWindow"`
	// Verdict is the judge's, over the whole rollout so far.
	Verdict judge.Verdict `json:"verdict"`
	// StepCalls is the candidate's primary calls in this step.
	StepCalls int64 `json:"stepCalls"`
	// Serving is what the candidate served over the last ticks: a step
	// advances, and a rollout promotes, only while Serving.OK; a strategy
	// rolls back as unavailable when Serving.Unavailable (contract 8). Its
	// zero value is no evidence of serving: a State made by hand sets OK
	// for a step to advance.
	Serving Serving `json:"serving"`
	// Judge gives a strategy the statistics themselves; it must not be kept
	// beyond the call.
	Judge *judge.Judge `json:"-"`
	// DryRun is set when the sentinel judges and reports but moves nothing.
	DryRun bool `json:"dryRun"`

	out leftOut // what the judge's look left out of Window (JudgedCandidate)
}

// JudgedCandidate returns the candidate's primary calls of this tick's
// Window as the judge saw them: without the calls its servers left
// unanswered as they went down, which are put down to the outage
// (Serving.Lost) or held for a tick before they are judged, and without
// the tick's latencies when some were left unanswered on it (theirs run to
// the moment the connection broke). A strategy that judges the window
// itself judges these figures.
func (s *State) JudgedCandidate() telemetry.RoleStats {
	return s.out.from(s.Window.Version(s.Candidate).Role(balancer.RolePrimary))
}

// Decision is a strategy's answer for one tick.
type Decision struct {
	Action Action `json:"action"`
	// Weight is the candidate's weight in basis points for ActionStart,
	// ActionAdvance and ActionSetWeights; the baseline gets the rest.
	Weight int `json:"weight,omitempty"`
	// StepName names the step an ActionStart or ActionAdvance begins. An
	// ActionSetWeights with a StepName begins a new step of that name (the
	// blue/green cut-over); without one the weights change within the step.
	StepName string `json:"stepName,omitempty"`
	Reason   string `json:"reason"`
	// Verdict, if set, is the evidence the decision rests on when it is not
	// the judge's verdict over the rollout — a strategy's own test (the
	// blue/green rollback window's) or the candidate's availability — and
	// the decision's event carries it instead of the judge's.
	Verdict *judge.Verdict `json:"verdict,omitempty"`
	// Alerts are raised beside the action; Logs are written to the log.
	Alerts []string `json:"alerts,omitempty"`
	Logs   []string `json:"logs,omitempty"`
}

// hold is the decision to keep everything as it is, for a reason.
func hold(reason string) Decision { return Decision{Action: ActionHold, Reason: reason} }

// Strategy decides, tick by tick, how a rollout moves. The built-in ones
// are made by NewCanary and NewBlueGreen; package script runs strategies
// written in Starlark. Decide is called from one goroutine at a time. A
// strategy that holds resources (a running warm-up, say) implements
// io.Closer; the sentinel's Close calls it.
type Strategy interface {
	Name() string
	Decide(ctx context.Context, s *State) (Decision, error)
}

// StatefulStrategy is implemented by strategies that keep state of their
// own from tick to tick that a rollout cannot carry on without, such as
// blue/green's stage, gates and blue's reference figures. Checkpoint saves
// that state in Checkpoint.StrategyState, and Restore gives it back before
// the restored rollout's next tick. A strategy that wraps another may
// have an Unwrap() Strategy method; Checkpoint and Restore look through it.
type StatefulStrategy interface {
	Strategy
	// StrategyState returns the strategy's state as JSON; nil when there is
	// nothing to save.
	StrategyState() (json.RawMessage, error)
	// RestoreStrategyState replaces the strategy's state with
	// cp.StrategyState (empty when the checkpoint holds none). It returns
	// an error, and changes nothing, when the strategy cannot carry the
	// rollout on from cp.
	RestoreStrategyState(cp Checkpoint) error
}
