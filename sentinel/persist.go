package sentinel

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// This file lets a rollout outlive the sentinel that runs it: Checkpoint
// reads where a rollout stands, judge statistics included, and Restore
// starts another sentinel from there, as a standby does when it takes a
// fleet's rollout over. Both are plain data that encode to JSON.

// ErrBadCheckpoint is returned, wrapped, for a checkpoint or judge state
// that Restore rejects.
var ErrBadCheckpoint = errors.New("ninelives: bad checkpoint")

// Checkpoint is where a rollout stands: its phase, step and weights, the
// figures of the current step, the judge's statistics and the strategy's
// own state (for a StatefulStrategy such as BlueGreen). A sentinel restored
// from it carries on the same step with the same evidence, so the weights
// do not jump and the false-rollback budget α is spent once over the whole
// rollout, however many sentinels take turns running it.
type Checkpoint struct {
	Baseline  string            `json:"baseline"`
	Candidate string            `json:"candidate"`
	Phase     Phase             `json:"phase"`
	Step      int               `json:"step"`
	StepName  string            `json:"stepName,omitempty"`
	StepStart time.Time         `json:"stepStart"`
	Started   time.Time         `json:"started"`
	Weights   []balancer.Weight `json:"weights"`
	// TargetWeight is State.TargetWeight; nil (a checkpoint from before it
	// was kept) takes the candidate's weight in Weights, or in a dry run
	// the weight the step is named for ("25%"), if it is named for one.
	TargetWeight *int `json:"targetWeight,omitempty"`
	// StepWindow adds up the ticks of the current step (nil: none yet).
	StepWindow *telemetry.Window `json:"stepWindow,omitempty"`
	// Judge is the judge's statistics; nil restores a fresh judge (which
	// spends α again).
	Judge *judge.State `json:"judge,omitempty"`
	// Strategy names the strategy whose state StrategyState is; both are
	// empty for a strategy that keeps no state of its own.
	Strategy      string          `json:"strategy,omitempty"`
	StrategyState json.RawMessage `json:"strategyState,omitempty"`
}

// Checkpoint returns where the rollout stands now. It waits for a tick in
// progress to end.
func (s *Sentinel) Checkpoint() Checkpoint {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.judge.State()
	target := s.target
	cp := Checkpoint{
		Baseline:     s.cfg.baseline,
		Candidate:    s.cfg.candidate,
		Phase:        s.phase,
		Step:         s.step,
		StepName:     s.stepName,
		StepStart:    s.stepStart,
		Started:      s.started,
		Weights:      s.split.Weights(),
		TargetWeight: &target,
		StepWindow:   s.stepWindow.Clone(),
		Judge:        &js,
	}
	if st, ok := statefulOf(s.strategy); ok {
		state, err := st.StrategyState()
		if err != nil {
			// Restore then rejects the checkpoint if the strategy cannot
			// carry on without its state.
			s.cfg.logger.Warn("ninelives: the strategy's state is left out of the checkpoint", "strategy", s.strategy.Name(), "error", err)
		} else if len(state) > 0 {
			cp.Strategy, cp.StrategyState = s.strategy.Name(), state
		}
	}
	return cp
}

// statefulOf finds a StatefulStrategy in st, looking through wrappers that
// have an Unwrap() Strategy method.
func statefulOf(st Strategy) (StatefulStrategy, bool) {
	for st != nil {
		if s, ok := st.(StatefulStrategy); ok {
			return s, true
		}
		u, ok := st.(interface{ Unwrap() Strategy })
		if !ok {
			return nil, false
		}
		st = u.Unwrap()
	}
	return nil, false
}

// Restore makes a sentinel, as New does, that carries on the rollout of cp:
// same phase, step and step start, the split set to cp's weights (unless
// in a dry run), the step's figures, the judge's statistics and, for a
// StatefulStrategy, the strategy's own state. The options must name the
// same baseline and candidate, and the judge must be configured as the one
// that made cp. A checkpoint that does not fit, or that a StatefulStrategy
// cannot carry on from (a blue/green rollout past its warm-up without the
// strategy's state), is rejected with an error naming the field before
// anything moves. (The strategy's state is restored just before the split
// takes cp's weights: if the split refuses them, the strategy keeps cp's
// state.)
func Restore(split *balancer.Split, source telemetry.MetricSource, strategy Strategy, cp Checkpoint, opts ...Option) (*Sentinel, error) {
	s, err := New(split, source, strategy, opts...)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadCheckpoint}, args...)...)
	}
	switch {
	case cp.Baseline != s.cfg.baseline || cp.Candidate != s.cfg.candidate:
		return nil, bad("Checkpoint baseline %q and candidate %q, the sentinel has %q and %q", cp.Baseline, cp.Candidate, s.cfg.baseline, s.cfg.candidate)
	case !cp.Phase.Valid():
		return nil, bad("Checkpoint.Phase = %q, want one of pending, progressing, paused, promoted, rolled_back, aborted", cp.Phase)
	case cp.Step < 0:
		return nil, bad("Checkpoint.Step = %d, want ≥ 0", cp.Step)
	case cp.Phase == PhasePending && cp.Step != 0:
		return nil, bad("Checkpoint.Step = %d in the pending phase, want 0", cp.Step)
	case cp.TargetWeight != nil && (*cp.TargetWeight < 0 || *cp.TargetWeight > balancer.TotalWeight):
		return nil, bad("Checkpoint.TargetWeight = %d, want 0..%d", *cp.TargetWeight, balancer.TotalWeight)
	}
	target := targetOf(cp, s.cfg.dryRun, split.Weight(s.cfg.candidate))
	stepWindow := new(telemetry.Window)
	if err := stepWindow.Merge(cp.StepWindow); err != nil {
		return nil, bad("Checkpoint.StepWindow: %s", inner(err))
	}
	j, err := judge.New(s.cfg.judge)
	if err != nil {
		return nil, err
	}
	if cp.Judge != nil {
		if err := j.Restore(*cp.Judge); err != nil {
			return nil, config.Under(ErrBadCheckpoint, "Checkpoint.Judge", err)
		}
	}
	if st, ok := statefulOf(strategy); ok {
		if len(cp.StrategyState) > 0 && cp.Strategy != strategy.Name() {
			return nil, bad("Checkpoint.Strategy = %q, the sentinel's strategy is %q", cp.Strategy, strategy.Name())
		}
		if err := st.RestoreStrategyState(cp); err != nil {
			return nil, bad("Checkpoint.StrategyState: %s", inner(err))
		}
	} else if len(cp.StrategyState) > 0 {
		return nil, bad("Checkpoint.StrategyState holds the state of strategy %q, the sentinel's strategy %q keeps none", cp.Strategy, strategy.Name())
	}
	if !s.cfg.dryRun {
		if err := split.SetWeights(cp.Weights...); err != nil {
			return nil, bad("Checkpoint.Weights %v: %s", cp.Weights, inner(err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.step, s.stepName = cp.Phase, cp.Step, cp.StepName
	s.stepStart, s.started = cp.StepStart, cp.Started
	s.stepWindow = stepWindow
	s.judge = j
	s.verdict = j.Verdict()
	s.gen = split.Generation()
	s.target = target
	s.cfg.logger.Info("ninelives: rollout restored", "phase", cp.Phase, "step", cp.Step, "stepName", cp.StepName)
	return s, nil
}

// targetOf is the rollout's target weight in cp (State.TargetWeight). A
// checkpoint from before it was kept has none: the candidate's weight in
// cp.Weights stands for it, or, in a dry run, whose weights never moved, the
// weight the step is named for ("25%", as StepLabel names the canary's
// steps and SetWeight's); a dry run's step named otherwise gives the weight
// in cp.Weights. current is the candidate's weight in the split.
func targetOf(cp Checkpoint, dryRun bool, current int) int {
	if cp.TargetWeight != nil {
		return *cp.TargetWeight
	}
	if dryRun {
		if w, ok := stepWeight(cp.StepName); ok {
			return w
		}
	}
	for _, w := range cp.Weights {
		if w.Version == cp.Candidate {
			return w.Weight
		}
	}
	return current
}

// stepWeight is the weight in basis points that StepLabel names name, if
// it is such a name.
func stepWeight(name string) (int, bool) {
	pct, ok := strings.CutSuffix(name, "%")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(pct, 64)
	if err != nil || !(f >= 0 && f <= 100) {
		return 0, false
	}
	bp := int(math.Round(f * 100))
	if StepLabel(bp) != name {
		return 0, false
	}
	return bp, true
}

// inner is an error's text without the package prefix, to be quoted inside
// another error.
func inner(err error) string { return strings.TrimPrefix(err.Error(), "ninelives: ") }
