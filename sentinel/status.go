package sentinel

import (
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// TickSummary is one tick's figures, kept for status pages and reports: the
// weights while its window's calls were made, and each version's figures.
// In a long rollout's history a summary may sum several ticks (Ticks), up
// to Time: see Status.History.
type TickSummary struct {
	Time     time.Time                    `json:"time"`
	Ticks    int                          `json:"ticks"`
	Weights  map[string]int               `json:"weights"`
	Versions map[string]telemetry.Figures `json:"versions"`
}

// Status is a snapshot of the rollout, ready for JSON.
type Status struct {
	Position
	Strategy string `json:"strategy"`
	// Plan names the strategy's steps in order with their gates, when it
	// is a plan.Planner; Steps are the steps the rollout has left, each with
	// the decision that ended it and the verdict that decided.
	Plan   []plan.Step  `json:"plan,omitempty"`
	Steps  []StepRecord `json:"steps"`
	Now    time.Time    `json:"now"`
	DryRun bool         `json:"dryRun"`
	// Verdict is the judge's latest, with its evidence. StepVerdict is the
	// strategy's own verdict on the current step when its last decision
	// gave one (Decision.Verdict): blue/green's shadow gate or its
	// rollback window's tests, which decide that step.
	Verdict     judge.Verdict  `json:"verdict"`
	StepVerdict *judge.Verdict `json:"stepVerdict,omitempty"`
	// LastTick and StepFigs hold each version's figures of the last tick
	// and of the current step.
	LastTick map[string]telemetry.Figures `json:"lastTick"`
	StepFigs map[string]telemetry.Figures `json:"stepFigures"`
	// History is the rollout's ticks, oldest first, from its start (or its
	// restore): the latest one by one, and, past WithHistory summaries,
	// older ones summed pairwise, so that it spans the whole rollout in a
	// bounded size with coarser steps further back.
	History []TickSummary `json:"history"`
	// Events are the last decisions other than holds, oldest first;
	// LastDecision is the latest decision of any kind.
	Events       []Event `json:"events"`
	LastDecision *Event  `json:"lastDecision,omitempty"`
	// Serving is what the candidate served over the last ticks (contract 8).
	Serving     Serving `json:"serving"`
	SourceError string  `json:"sourceError,omitempty"`
	PolicyError string  `json:"policyError,omitempty"`
	// Endpoints are the endpoints the router's clients know, with their
	// state, when the router knows them (a *balancer.Split does).
	Endpoints []balancer.EndpointInfo `json:"endpoints"`
}

// recordLocked keeps a tick's window: the step's sum and the history.
func (s *Sentinel) recordLocked(now time.Time, win *telemetry.Window) {
	s.last = win
	if err := s.stepWindow.Merge(win); err != nil {
		s.cfg.logger.Warn("ninelives: window not added to the step", "error", err)
	}
	ws := map[string]int{}
	for _, w := range s.router.Weights() {
		ws[w.Version] = w.Weight
	}
	s.history = append(s.history, TickSummary{Time: now, Ticks: 1, Weights: ws, Versions: s.figuresLocked(win)})
	if len(s.history) > s.cfg.history {
		s.history = thin(s.history, max(2, s.cfg.history/2))
	}
}

// thin sums the first n summaries of h (n even, or one less) pairwise, and
// returns h shortened by n/2.
func thin(h []TickSummary, n int) []TickSummary {
	n = min(n, len(h))
	out := h[:0]
	for i := 0; i+1 < n; i += 2 {
		out = append(out, h[i].plus(h[i+1]))
	}
	return append(out, h[n&^1:]...)
}

// plus sums two neighbouring summaries into one that ends at the later:
// the figures of each version add up (telemetry.Figures.Plus) and the
// weights are the later's.
func (a TickSummary) plus(b TickSummary) TickSummary {
	out := TickSummary{Time: b.Time, Ticks: a.Ticks + b.Ticks, Weights: b.Weights, Versions: map[string]telemetry.Figures{}}
	for v, f := range a.Versions {
		out.Versions[v] = f
	}
	for v, g := range b.Versions {
		out.Versions[v] = out.Versions[v].Plus(g)
	}
	return out
}

// Status returns a snapshot of the rollout.
func (s *Sentinel) Status() Status {
	s.mu.Lock()
	st := Status{
		Position:    s.positionLocked(),
		Strategy:    s.strategy.Name(),
		Plan:        planOf(s.strategy),
		Now:         s.cfg.clock.Now(),
		DryRun:      s.cfg.dryRun,
		Steps:       slices.Clone(s.steps),
		Verdict:     s.verdict,
		StepVerdict: s.stepVerdict,
		LastTick:    s.figuresLocked(s.last),
		StepFigs:    s.figuresLocked(s.stepWindow),
		History:     slices.Clone(s.history),
		Events:      slices.Clone(s.events),
		Serving:     s.serving.now,
		SourceError: s.sourceErr,
		PolicyError: s.policyErr,
	}
	if s.lastHold.Seq > 0 || len(s.events) > 0 {
		last := s.lastHold
		if n := len(s.events); n > 0 && s.events[n-1].Seq > last.Seq {
			last = s.events[n-1]
		}
		st.LastDecision = &last
	}
	s.mu.Unlock()
	if el, ok := s.router.(endpointLister); ok {
		st.Endpoints = el.Endpoints("")
	}
	return st
}
