package sentinel

import (
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// TickSummary is one tick's figures, kept for status pages and reports.
type TickSummary struct {
	Time     time.Time                 `json:"time"`
	Weights  map[string]int            `json:"weights"`
	Versions map[string]VersionFigures `json:"versions"`
}

// Status is a snapshot of the rollout, ready for JSON.
type Status struct {
	Position
	Strategy string `json:"strategy"`
	// Plan names the strategy's steps in order, when it is a Planner.
	Plan   []string  `json:"plan,omitempty"`
	Now    time.Time `json:"now"`
	DryRun bool      `json:"dryRun"`
	// Verdict is the judge's latest, with its evidence.
	Verdict judge.Verdict `json:"verdict"`
	// LastTick and StepFigs hold each version's figures of the last tick
	// and of the current step.
	LastTick map[string]VersionFigures `json:"lastTick"`
	StepFigs map[string]VersionFigures `json:"stepFigures"`
	// History is the last ticks, oldest first.
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
	s.history = append(s.history, TickSummary{Time: now, Weights: ws, Versions: s.figuresLocked(win)})
	if over := len(s.history) - s.cfg.history; over > 0 {
		s.history = slices.Delete(s.history, 0, over)
	}
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
		Verdict:     s.verdict,
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
