package sentinel

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// StepRecord is a step the rollout has left: when it began and ended,
// the candidate's calls in it, and the decision that ended it with the
// verdict it rested on (the test that decided).
type StepRecord struct {
	Step  int       `json:"step"`
	Name  string    `json:"name,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Calls are the candidate's primary calls in the step.
	Calls int64 `json:"calls"`
	// EndedBy is the action that ended the step (advance, set_weights,
	// promote, rollback, abort), Who took it.
	EndedBy Action         `json:"endedBy"`
	Who     string         `json:"who"`
	Verdict *judge.Verdict `json:"verdict,omitempty"`
}

// maxSteps bounds the steps a status keeps, oldest dropped first.
const maxSteps = 100

// Plan returns the canary's plan for cfg with its defaults: one step per
// weight, each passing on the judge after MinStepDuration and
// MinStepCalls, and the last (10000) the promotion. Nil if cfg is bad.
func (cfg CanaryConfig) Plan() []plan.Step {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil
	}
	out := make([]plan.Step, len(cfg.Steps))
	for i, w := range cfg.Steps {
		out[i] = plan.Step{Name: plan.Label(w), MinDuration: cfg.MinStepDuration, MinCalls: cfg.MinStepCalls, Test: plan.TestJudge}
	}
	out[len(out)-1] = plan.Step{Name: plan.Label(balancer.TotalWeight)}
	return out
}

// Plan returns the blue/green plan for cfg with its defaults: the warm-up,
// the shadow grace period (with a Shadow), and the cut-over's rollback
// window. Nil if cfg is bad.
func (cfg BlueGreenConfig) Plan() []plan.Step {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil
	}
	out := []plan.Step{{Name: plan.StepWarmup, Test: judge.TestWarmup}}
	if cfg.Shadow != nil {
		out = append(out, plan.Step{Name: plan.StepShadow, MinDuration: cfg.ShadowGrace, Test: judge.TestShadow})
	}
	return append(out, plan.Step{Name: plan.StepCutover, MinDuration: cfg.RollbackWindow, MinCalls: cfg.RollbackMinCalls, Test: judge.TestWindow})
}

// Plan names the canary's steps and gates.
func (c *canary) Plan() []plan.Step { return c.cfg.Plan() }

// Plan names the blue/green steps and gates.
func (b *blueGreen) Plan() []plan.Step { return b.cfg.Plan() }

// planOf is st's plan, looking through wrappers with Unwrap() Strategy;
// nil when it has none.
func planOf(st Strategy) []plan.Step {
	for st != nil {
		if p, ok := st.(plan.Planner); ok {
			return p.Plan()
		}
		u, ok := st.(interface{ Unwrap() Strategy })
		if !ok {
			return nil
		}
		st = u.Unwrap()
	}
	return nil
}

// endStepLocked notes that the current step ends now, for the event of
// the decision that ends it (recordStepEndLocked). Before the first step
// there is none.
func (s *Sentinel) endStepLocked(now time.Time) {
	if s.pos.Step == 0 {
		return
	}
	s.ending = &StepRecord{Step: s.pos.Step, Name: s.pos.StepName, Start: s.pos.StepStart, End: now,
		Calls: s.stepWindow.Figures(s.pos.Candidate).Calls}
}

// recordStepEndLocked completes the record of the step e ends, if it ends
// one, with e's action and verdict, and keeps it.
func (s *Sentinel) recordStepEndLocked(e Event) {
	r := s.ending
	if r == nil {
		return
	}
	s.ending = nil
	r.EndedBy, r.Who, r.Verdict = e.Action, e.Who, e.Verdict
	s.steps = append(s.steps, *r)
	if over := len(s.steps) - maxSteps; over > 0 {
		s.steps = slices.Delete(s.steps, 0, over)
	}
}

// checkPlanLocked warns, once per name, when the strategy begins a step its
// plan does not name: the status page could not place it, so the plan and
// the steps the strategy takes disagree (a script's WithPlan, say).
func (s *Sentinel) checkPlanLocked(ctx context.Context, step string) {
	steps := planOf(s.strategy)
	if steps == nil || s.offPlan[step] || slices.ContainsFunc(steps, func(p plan.Step) bool { return p.Name == step }) {
		return
	}
	if s.offPlan == nil {
		s.offPlan = map[string]bool{}
	}
	s.offPlan[step] = true
	names := make([]string, len(steps))
	for i, p := range steps {
		names[i] = p.Name
	}
	s.cfg.logger.WarnContext(ctx, fmt.Sprintf("ninelives: the strategy %s began step %q, which its plan %q does not name; "+
		"give the plan the step names the strategy uses", s.strategy.Name(), step, names))
}
