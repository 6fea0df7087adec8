package sentinel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// CanaryConfig sets up the canary strategy. The zero value takes every
// default.
type CanaryConfig struct {
	// Steps are the candidate's weights, in basis points (10000 = 100 %),
	// one per step, in increasing order. Reaching 10000 promotes. Default
	// 1 %, 5 %, 25 %, 50 %, 100 %. Steps that all look like percentages
	// (none above 100, as {10, 50, 100}) are rejected; steps that small on
	// purpose end with 10000.
	Steps []int
	// MinStepDuration is the shortest a step lasts (default 1 minute).
	MinStepDuration time.Duration
	// MinStepCalls is the fewest candidate calls a step takes (default 100).
	// The judge asks for its own minimum before it can pass a step too.
	MinStepCalls int64
}

// defaultCanarySteps are the canary's default weights: 1 %, 5 %, 25 %,
// 50 %, 100 %.
var defaultCanarySteps = []int{100, 500, 2500, 5000, 10000}

// WithDefaults returns cfg with its zero fields set to their defaults (and
// 10000 after the last step if it is not there), or an error naming the
// first bad field.
func (cfg CanaryConfig) WithDefaults() (CanaryConfig, error) {
	if cfg.Steps == nil {
		cfg.Steps = defaultCanarySteps
	}
	if cfg.MinStepDuration == 0 {
		cfg.MinStepDuration = time.Minute
	}
	if cfg.MinStepCalls == 0 {
		cfg.MinStepCalls = 100
	}
	switch {
	case len(cfg.Steps) == 0:
		return cfg, config.Errorf(ErrBadOption, "CanaryConfig.Steps", nil, "empty, want at least one weight")
	case cfg.MinStepDuration < 0:
		return cfg, config.Errorf(ErrBadOption, "CanaryConfig.MinStepDuration", cfg.MinStepDuration, "want ≥ 0")
	case cfg.MinStepCalls < 0:
		return cfg, config.Errorf(ErrBadOption, "CanaryConfig.MinStepCalls", cfg.MinStepCalls, "want ≥ 0")
	}
	if err := checkNotPercent(cfg.Steps); err != nil {
		return cfg, err
	}
	prev := 0
	for i, w := range cfg.Steps {
		if w <= prev || w > balancer.TotalWeight {
			return cfg, config.Errorf(ErrBadOption, fmt.Sprintf("CanaryConfig.Steps[%d]", i), w, "want more than %d and at most %d", prev, balancer.TotalWeight)
		}
		prev = w
	}
	if prev != balancer.TotalWeight {
		cfg.Steps = append(append([]int(nil), cfg.Steps...), balancer.TotalWeight)
	}
	return cfg, nil
}

// checkNotPercent rejects steps that look like percentages: all at most
// 100 basis points (1 %), as {10, 50, 100} written for 10 %, 50 %, 100 %
// would be. Steps that small on purpose end with 10000.
func checkNotPercent(steps []int) error {
	if slices.ContainsFunc(steps, func(w int) bool { return w > 100 }) {
		return nil
	}
	pct := make([]int, len(steps))
	labels := make([]string, len(steps))
	for i, w := range steps {
		pct[i], labels[i] = w*100, plan.Label(w)
	}
	return config.Errorf(ErrBadOption, "CanaryConfig.Steps", steps,
		"looks like percent, but steps are basis points (10000 = 100 %%): it would run %s → 100%%; write %v for those percentages, or end the list with 10000 to mean steps this small",
		strings.Join(labels, " → "), pct)
}

// NewCanary returns the canary strategy: it moves traffic to the candidate
// step by step. Each step lasts at least its minimum duration and number of
// candidate calls, and advances only on the judge's Pass (errors, latency
// and, if enabled, shadow mismatches) while the candidate serves
// (State.Serving.OK: calls in the last ticks, no fallback, a ready
// endpoint); the judge's Fail rolls back at once, at any step. A candidate
// that is down holds the rollout (the sentinel alerts once), and one that
// has not served for ServingConfig.RollbackAfter is rolled back as
// unavailable (the verdict's test is judge.TestAvailability), unless the rollout
// is paused. It advances to the first of its Steps above the candidate's
// weight as the rollout set it (Position.TargetWeight), so that after a
// weight set by hand (SetWeight) it goes on upwards from there; with no
// step above, it promotes. cfg is checked and its defaults filled as
// WithDefaults does.
func NewCanary(cfg CanaryConfig) (Strategy, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &canary{cfg: cfg}, nil
}

// canary is the strategy NewCanary makes.
type canary struct {
	cfg CanaryConfig
}

func (c *canary) Name() string { return "canary" }

func (c *canary) Decide(_ context.Context, s *State) (Decision, error) {
	steps := c.cfg.Steps
	if s.Phase == PhasePending {
		return Decision{Action: ActionStart, Weight: steps[0], StepName: plan.Label(steps[0]),
			Reason: fmt.Sprintf("canary starts at %s", plan.Label(steps[0]))}, nil
	}
	if s.Verdict.Outcome == judge.Fail {
		return Decision{Action: ActionRollback, Reason: "the judge failed the candidate: " + s.Verdict.Reason}, nil
	}
	if s.Phase != PhaseProgressing {
		return hold("the rollout is " + string(s.Phase)), nil
	}
	if s.Serving.Unavailable {
		return unavailable(s), nil
	}
	k := s.Step // 1-based
	here := fmt.Sprintf("step %d (%s)", k, s.StepName)
	switch {
	case s.Serving.Down:
		return hold(here + ": " + s.Serving.Reason), nil
	case s.InStep < c.cfg.MinStepDuration:
		return hold(fmt.Sprintf("%s: %v of %v", here, s.InStep.Truncate(time.Second), c.cfg.MinStepDuration)), nil
	case s.StepCalls < c.cfg.MinStepCalls:
		return hold(fmt.Sprintf("%s: %d of %d candidate calls", here, s.StepCalls, c.cfg.MinStepCalls)), nil
	case s.Verdict.Outcome != judge.Pass:
		return hold(fmt.Sprintf("%s: %s", here, s.Verdict.Reason)), nil
	case !s.Serving.OK:
		return hold(fmt.Sprintf("%s: passed, but a step advances only on calls the candidate served recently: %s", here, s.Serving.Reason)), nil
	}
	next := nextStep(steps, s.TargetWeight)
	if next < 0 {
		return Decision{Action: ActionPromote, Reason: "the last step passed"}, nil
	}
	return Decision{Action: ActionAdvance, Weight: next, StepName: plan.Label(next),
		Reason: fmt.Sprintf("%s passed: %s", here, s.Verdict.Reason)}, nil
}

// unavailable is the decision to roll back a candidate that has not served
// for ServingConfig.RollbackAfter: as unavailable, with the availability's
// verdict, not as a statistical fail.
func unavailable(s *State) Decision {
	v := judge.Unavailable(s.Serving.Reason)
	return Decision{Action: ActionRollback, Reason: fmt.Sprintf("%s is unavailable: %s", s.Candidate, s.Serving.Reason), Verdict: &v}
}

// nextStep is the first of steps above weight, or -1 if there is none.
func nextStep(steps []int, weight int) int {
	for _, w := range steps {
		if w > weight {
			return w
		}
	}
	return -1
}
