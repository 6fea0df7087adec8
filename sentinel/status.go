package sentinel

import (
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
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
	Strategy  string            `json:"strategy"`
	Baseline  string            `json:"baseline"`
	Candidate string            `json:"candidate"`
	Phase     Phase             `json:"phase"`
	Step      int               `json:"step"`
	StepName  string            `json:"stepName,omitempty"`
	StepStart time.Time         `json:"stepStart"`
	Started   time.Time         `json:"started"`
	Now       time.Time         `json:"now"`
	Weights   []balancer.Weight `json:"weights"`
	DryRun    bool              `json:"dryRun"`
	// Verdict is the judge's latest, with its evidence.
	Verdict Verdict `json:"verdict"`
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
	SourceError  string  `json:"sourceError,omitempty"`
	PolicyError  string  `json:"policyError,omitempty"`
	// Endpoints are the endpoints the split's clients know, with their state.
	Endpoints []balancer.EndpointInfo `json:"endpoints"`
	Shadow    *ShadowStatus           `json:"shadow,omitempty"`
}

// ShadowStatus is the shadow traffic's part of the status.
type ShadowStatus struct {
	Stats       shadow.Stats        `json:"stats"`
	Mismatches  []shadow.Mismatch   `json:"mismatches"`
	NoisyFields map[string][]string `json:"noisyFields"`
}

// recordLocked keeps a tick's window: the step's sum and the history.
func (s *Sentinel) recordLocked(now time.Time, win *telemetry.Window) {
	s.last = win
	if err := s.stepWindow.Merge(win); err != nil {
		s.cfg.logger.Warn("ninelives: window not added to the step", "error", err)
	}
	ws := map[string]int{}
	for _, w := range s.split.Weights() {
		ws[w.Version] = w.Weight
	}
	s.history = append(s.history, TickSummary{
		Time:    now,
		Weights: ws,
		Versions: map[string]VersionFigures{
			s.cfg.baseline:  figuresOf(win, s.cfg.baseline),
			s.cfg.candidate: figuresOf(win, s.cfg.candidate),
		},
	})
	if over := len(s.history) - s.cfg.history; over > 0 {
		s.history = slices.Delete(s.history, 0, over)
	}
}

// Status returns a snapshot of the rollout.
func (s *Sentinel) Status() Status {
	s.mu.Lock()
	st := Status{
		Strategy:  s.strategy.Name(),
		Baseline:  s.cfg.baseline,
		Candidate: s.cfg.candidate,
		Phase:     s.phase,
		Step:      s.step,
		StepName:  s.stepName,
		StepStart: s.stepStart,
		Started:   s.started,
		Now:       s.cfg.clock.Now(),
		Weights:   s.split.Weights(),
		DryRun:    s.cfg.dryRun,
		Verdict:   s.verdict,
		LastTick: map[string]VersionFigures{
			s.cfg.baseline:  figuresOf(s.last, s.cfg.baseline),
			s.cfg.candidate: figuresOf(s.last, s.cfg.candidate),
		},
		StepFigs: map[string]VersionFigures{
			s.cfg.baseline:  figuresOf(s.stepWindow, s.cfg.baseline),
			s.cfg.candidate: figuresOf(s.stepWindow, s.cfg.candidate),
		},
		History:     slices.Clone(s.history),
		Events:      slices.Clone(s.events),
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
	st.Endpoints = s.split.Endpoints("")
	if sh := s.cfg.shadow; sh != nil {
		st.Shadow = &ShadowStatus{Stats: sh.Stats(), Mismatches: sh.Mismatches(), NoisyFields: sh.NoisyFields()}
	}
	return st
}
