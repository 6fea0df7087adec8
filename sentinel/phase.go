package sentinel

import (
	"fmt"
	"slices"
)

// Phase is where a rollout stands.
type Phase string

// The phases of a rollout. Promoted, RolledBack and Aborted are final.
const (
	PhasePending     Phase = "pending"     // made, no traffic moved yet
	PhaseProgressing Phase = "progressing" // in step k of the strategy
	PhasePaused      Phase = "paused"      // weights held by hand; the judge still watches
	PhasePromoted    Phase = "promoted"    // the candidate has all the traffic
	PhaseRolledBack  Phase = "rolled_back" // the judge failed the candidate; the baseline has all the traffic
	PhaseAborted     Phase = "aborted"     // stopped by hand; the baseline has all the traffic
)

// Final reports whether no transition leaves the phase.
func (p Phase) Final() bool {
	return p == PhasePromoted || p == PhaseRolledBack || p == PhaseAborted
}

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool {
	switch p {
	case PhasePending, PhaseProgressing, PhasePaused, PhasePromoted, PhaseRolledBack, PhaseAborted:
		return true
	}
	return false
}

// transitions is every phase change a rollout may make. Anything else is an
// error that names both phases. Paused goes back to pending only when a
// rollout paused before its first step is resumed.
var transitions = map[Phase][]Phase{
	PhasePending:     {PhaseProgressing, PhasePaused, PhasePromoted, PhaseRolledBack, PhaseAborted},
	PhaseProgressing: {PhaseProgressing, PhasePaused, PhasePromoted, PhaseRolledBack, PhaseAborted},
	PhasePaused:      {PhasePending, PhaseProgressing, PhasePromoted, PhaseRolledBack, PhaseAborted},
}

// checkTransition says whether action may take the rollout from one phase
// to another.
func checkTransition(action Action, from, to Phase) error {
	if slices.Contains(transitions[from], to) {
		return nil
	}
	if from.Final() {
		return fmt.Errorf("%w: %s: the rollout is %s, which is final", ErrTransition, action, from)
	}
	return fmt.Errorf("%w: %s from %s to %s", ErrTransition, action, from, to)
}

// Action is what a decision does. Each decision is counted in the
// ninelives.sentinel.decisions metric under its action.
type Action string

// The actions.
const (
	ActionHold       Action = "hold"        // keep the weights; the reason says why
	ActionStart      Action = "start"       // pending → the first step
	ActionAdvance    Action = "advance"     // the next step's weights
	ActionSetWeights Action = "set_weights" // weights set by hand or by a script
	ActionPromote    Action = "promote"     // all traffic to the candidate
	ActionRollback   Action = "rollback"    // all traffic back to the baseline, by the judge or a policy
	ActionPause      Action = "pause"
	ActionResume     Action = "resume"
	ActionAbort      Action = "abort" // all traffic back to the baseline, by hand
	ActionAlert      Action = "alert" // a policy raised an alert without changing anything
	ActionSourceFail Action = "source_error"
	ActionPolicyFail Action = "policy_error"
)
