package sentinel

import (
	"time"

	"github.com/ninelives-go/ninelives/balancer"
)

// Router is what a Sentinel steers: the versions' weights, in basis points
// summing to balancer.TotalWeight. *balancer.Split is one; the fleet's
// leader has another, whose weights it publishes to every replica. Its
// methods must be safe to call from any goroutine.
type Router interface {
	// Weights returns every version's weight, in the router's order.
	Weights() []balancer.Weight
	// SetWeights sets every version's weight at once.
	SetWeights(weights ...balancer.Weight) error
	// Generation counts the changes of the weights: it grows with each.
	Generation() uint64
}

var _ Router = (*balancer.Split)(nil)

// endpointLister is a Router that knows its versions' endpoints, for the
// status; *balancer.Split is one.
type endpointLister interface {
	Endpoints(version string) []balancer.EndpointInfo
}

// versionsOf lists the versions of ws in order.
func versionsOf(ws []balancer.Weight) []string {
	vs := make([]string, len(ws))
	for i, w := range ws {
		vs[i] = w.Version
	}
	return vs
}

// weightIn is version's weight in ws, 0 if absent.
func weightIn(ws []balancer.Weight, version string) int {
	for _, w := range ws {
		if w.Version == version {
			return w.Weight
		}
	}
	return 0
}

// withCandidate returns ws with the candidate at weight, capped so that the
// versions other than the baseline and the candidate keep theirs, and the
// baseline at the rest.
func withCandidate(ws []balancer.Weight, baseline, candidate string, weight int) []balancer.Weight {
	other := 0
	for _, w := range ws {
		if w.Version != baseline && w.Version != candidate {
			other += w.Weight
		}
	}
	cand := min(weight, balancer.TotalWeight-other)
	for i := range ws {
		switch ws[i].Version {
		case candidate:
			ws[i].Weight = cand
		case baseline:
			ws[i].Weight = balancer.TotalWeight - other - cand
		}
	}
	return ws
}

// Position is where a rollout stands: its versions, phase and step, the
// weights, the weight the rollout asked for, and the last change of any of
// them. State, Status, Checkpoint and Event embed it, and so does the
// fleet's published rollout state.
type Position struct {
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	Phase     Phase  `json:"phase"`
	// Step is 0 before the first step, then 1, 2, …; StepName names it
	// ("5%", "cutover").
	Step      int       `json:"step"`
	StepName  string    `json:"stepName,omitempty"`
	StepStart time.Time `json:"stepStart"`
	// Started is when the rollout began (its sentinel was made).
	Started time.Time `json:"started"`
	// Weights are the router's weights.
	Weights []balancer.Weight `json:"weights"`
	// TargetWeight is the candidate's weight as the rollout last set it,
	// by a decision or by hand (SetWeight), in basis points: the weight
	// asked for, before it is capped to leave other versions theirs, and
	// in a dry run the weight that would have been set. Before anything is
	// set it is the candidate's weight when the sentinel was made.
	TargetWeight int `json:"targetWeight"`
	// ChangeAction, ChangedBy, ChangeReason and ChangedAt are the last
	// change of the phase, the step or the weights: what it did, who made it
	// ("sentinel" for the strategy, or the name a manual control was given),
	// why and when. They are empty before the first change.
	ChangeAction Action    `json:"changeAction,omitempty"`
	ChangedBy    string    `json:"changedBy,omitempty"`
	ChangeReason string    `json:"changeReason,omitempty"`
	ChangedAt    time.Time `json:"changedAt,omitzero"`
}

// Weight returns version's weight in Weights, 0 if it has none.
func (p Position) Weight(version string) int { return weightIn(p.Weights, version) }
