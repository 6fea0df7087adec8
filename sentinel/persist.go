package sentinel

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// This file lets a rollout outlive the sentinel that runs it: Checkpoint
// reads where a rollout stands, judge statistics included, and Restore
// carries it on from there, as a standby does when it takes a fleet's
// rollout over. Both are plain data that encode to JSON.

// ErrBadCheckpoint is returned, wrapped, for a checkpoint Restore rejects.
var ErrBadCheckpoint = errors.New("ninelives: bad checkpoint")

// checkpointFormat is the Format of the checkpoints Checkpoint returns.
const checkpointFormat = 1

// Checkpoint is where a rollout stands, with what a sentinel needs to carry
// it on: the figures of the current step, the judge's statistics and the
// strategy's own state (for a StatefulStrategy such as blue/green's). A
// sentinel restored from it carries on the same step with the same
// evidence, so the weights do not jump and the false-rollback budget α is
// spent once over the whole rollout, however many sentinels take turns
// running it.
type Checkpoint struct {
	Position
	// Format is 1 in the checkpoints Checkpoint returns. A checkpoint
	// without one (0, from before TargetWeight was kept) has its target
	// worked out on Restore: the candidate's weight in Weights, or in a dry
	// run the weight the step is named for ("25%"), if it is named for one.
	Format int `json:"format,omitempty"`
	// StepWindow adds up the ticks of the current step (nil: none yet).
	StepWindow *telemetry.Window `json:"stepWindow,omitempty"`
	// Judge is the judge's statistics; nil restores a fresh judge (which
	// spends α again).
	Judge *judge.State `json:"judge,omitempty"`
	// Strategy names the strategy whose state StrategyState is; both are
	// empty for a strategy that keeps no state of its own.
	Strategy      string          `json:"strategy,omitempty"`
	StrategyState json.RawMessage `json:"strategyState,omitempty"`
	// Unanswered is where the rollout stands with the calls the
	// candidate's servers left unanswered (Serving.Lost); nil: none yet.
	Unanswered *UnansweredState `json:"unanswered,omitempty"`
	// Down is the candidate's streak of not serving as the sentinel that
	// made the checkpoint saw it, and its last alert that the candidate is
	// down; nil: neither. A sentinel that carries the rollout on (a fleet's
	// standby, or its leader reloading) so neither restarts
	// RollbackAfter's clock nor repeats the alert.
	Down *DownState `json:"down,omitempty"`
}

// DownState is what a checkpoint keeps of the candidate's streak of not
// serving (State.Serving's DownFor and Downs).
type DownState struct {
	// Since is when the candidate stopped serving; zero while it serves.
	Since time.Time `json:"since,omitzero"`
	// Downs is Serving.Downs: the times it went down since Since.
	Downs int `json:"downs,omitempty"`
	// Served is whether it served calls on a tick since it last went down.
	Served bool `json:"served,omitempty"`
	// Alerted is whether the streak has raised its alert; AlertedAt is
	// the last alert that the candidate is down, of this streak or one
	// before it (no second alert comes within RollbackAfter of it).
	Alerted   bool      `json:"alerted,omitempty"`
	AlertedAt time.Time `json:"alertedAt,omitzero"`
}

// UnansweredState is what a checkpoint keeps of the candidate's
// unanswered calls, so that a sentinel that carries the rollout on (a
// fleet's standby) forgives no second outage and judges the calls held
// from the judge.
type UnansweredState struct {
	// Held are the calls held from the judge for the next look.
	Held int64 `json:"held,omitempty"`
	// Forgiveness is where the rollout stands in its one forgiven loss:
	// "" before it, "forgiving" while its outage goes on, "stragglers" on
	// the tick after it lost ready endpoints, "over" after it.
	Forgiveness string `json:"forgiveness,omitempty"`
	// Lost is Serving.Lost: the calls put down to that outage.
	Lost int64 `json:"lost,omitempty"`
}

// unansweredState is what t keeps of the unanswered calls, nil if nothing;
// failed bounds the held ones as checkUnanswered does (a manual change of
// step between the held look and the next may leave fewer in the step).
func (t *servingTracker) unansweredState(failed int64) *UnansweredState {
	if t.held == 0 && t.forgive == forgiveNotYet && t.now.Lost == 0 {
		return nil
	}
	return &UnansweredState{Held: min(t.held, max(failed, 0)), Forgiveness: string(t.forgive), Lost: t.now.Lost}
}

// downState is what t keeps of the candidate's streak of not serving,
// nil if nothing.
func (t *servingTracker) downState() *DownState {
	if t.downSince.IsZero() && t.alertedAt.IsZero() {
		return nil
	}
	return &DownState{Since: t.downSince, Downs: t.downs, Served: t.served, Alerted: t.alerted, AlertedAt: t.alertedAt}
}

// restoreStreak sets the candidate's streak of not serving from st (nil:
// none), which checkDown has checked, at now, for a rollout that began at
// started: times after now (another machine's clock ahead of this one's)
// are taken as now, a streak begun before the rollout as begun with it;
// the candidate must then serve through a whole span before the streak
// ends. A leader that reloads its rollout (after a commit it could not
// confirm, or re-elected) or a standby that takes it over during an
// outage so neither repeats the down alert nor restarts RollbackAfter's
// clock, which reloads often enough would put off for ever.
func (t *servingTracker) restoreStreak(st *DownState, started, now time.Time) {
	if st == nil {
		return
	}
	t.downSince, t.downs, t.served, t.alerted, t.alertedAt = st.Since, min(st.Downs, maxDowns), st.Served, st.Alerted, st.AlertedAt
	if !t.downSince.IsZero() {
		// Not before the rollout began (it was not watched), nor after now.
		if t.downSince.Before(started) {
			t.downSince = started
		}
		if t.downSince.After(now) {
			t.downSince = now
		}
		t.settled = now.Add(t.cfg.Span)
	}
	if t.alertedAt.After(now) {
		t.alertedAt = now
	}
}

// maxDowns bounds Serving.Downs restored from a checkpoint, so that a
// corrupt count cannot wrap.
const maxDowns = 1 << 30

// checkDown names the first bad field of st.
func checkDown(st *DownState) error {
	switch {
	case st == nil:
		return nil
	case st.Downs < 0:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Down.Downs", st.Downs, "want ≥ 0")
	case st.Since.IsZero() && (st.Downs > 0 || st.Alerted):
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Down.Since", "zero", "a streak (downs %d, alerted %t) needs the time it began", st.Downs, st.Alerted)
	}
	return nil
}

// restoreUnanswered sets what t keeps of the unanswered calls from st
// (nil: none yet), which checkUnanswered has checked.
func (t *servingTracker) restoreUnanswered(st *UnansweredState) {
	t.held, t.given, t.forgive, t.now.Lost, t.out = 0, 0, forgiveNotYet, 0, leftOut{}
	if st == nil {
		return
	}
	t.held, t.now.Lost, t.forgive = st.Held, st.Lost, forgiveness(st.Forgiveness)
}

// checkUnanswered names the first bad field of st; failed is the
// candidate's primary errors in the checkpoint's step window, which hold
// every held call (a step does not end while some are held).
func checkUnanswered(st *UnansweredState, failed int64) error {
	switch {
	case st == nil:
		return nil
	case st.Held < 0 || st.Held > failed:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Unanswered.Held", st.Held, "want 0..%d: the step's candidate failed %d calls", failed, failed)
	case st.Lost < 0:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Unanswered.Lost", st.Lost, "want ≥ 0")
	case !slices.Contains([]forgiveness{forgiveNotYet, forgiving, stragglers, forgiveOver}, forgiveness(st.Forgiveness)):
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Unanswered.Forgiveness", st.Forgiveness, `want "", "forgiving", "stragglers" or "over"`)
	}
	return nil
}

// Checkpoint returns where the rollout stands now. It waits for a tick in
// progress to end.
func (s *Sentinel) Checkpoint() Checkpoint {
	s.tickSem <- struct{}{}
	defer func() { <-s.tickSem }()
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.judge.State()
	cp := Checkpoint{Position: s.positionLocked(), Format: checkpointFormat, StepWindow: s.stepWindow.Clone(), Judge: &js,
		Unanswered: s.serving.unansweredState(s.stepWindow.Version(s.pos.Candidate).Role(balancer.RolePrimary).Errors),
		Down:       s.serving.downState()}
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

// Restore carries on the rollout of cp from here: the same phase, step and
// step start, the router set to cp's weights (unless in a dry run), the
// step's figures, the judge's statistics, where it stands with the
// candidate's unanswered calls (Serving.Lost, those held from the judge,
// whether its one forgiven outage is over) and, for a StatefulStrategy, the
// strategy's own state. What the sentinel went through before is dropped:
// its events, its history, its judge's looks and its record of what the
// candidate served, which begins afresh from this sentinel's own router (so
// that a server lost on its first tick is seen lost); the candidate's streak
// of not serving runs on from cp.Down (its down alert is not repeated, nor
// RollbackAfter's clock restarted). The sentinel must name
// the same baseline and candidate, and its judge must be configured as the
// one that made cp. A checkpoint that does not fit, or that a
// StatefulStrategy cannot carry on from (a blue/green rollout past its
// warm-up without the strategy's state), is rejected with an error naming
// the field before anything moves. (The strategy's state is restored just
// before the router takes cp's weights: if the router refuses them, the
// strategy keeps cp's state.) Restore waits for a tick in progress to end.
func (s *Sentinel) Restore(cp Checkpoint) error {
	s.tickSem <- struct{}{}
	defer func() { <-s.tickSem }()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return &config.Error{Kind: ErrBadCheckpoint, Field: "Restore", Reason: "the sentinel is closed", Err: ErrClosed}
	}
	if err := s.checkCheckpoint(cp); err != nil {
		return err
	}
	stepWindow := new(telemetry.Window)
	if err := stepWindow.Merge(cp.StepWindow); err != nil {
		return config.Under(ErrBadCheckpoint, "Checkpoint.StepWindow", err)
	}
	if err := checkUnanswered(cp.Unanswered, stepWindow.Version(cp.Candidate).Role(balancer.RolePrimary).Errors); err != nil {
		return err
	}
	if err := checkDown(cp.Down); err != nil {
		return err
	}
	j, err := s.restoredJudge(cp.Judge)
	if err != nil {
		return err
	}
	if err := s.restoreStrategy(cp); err != nil {
		return err
	}
	if !s.cfg.dryRun {
		if err := s.router.SetWeights(cp.Weights...); err != nil {
			return config.Under(ErrBadCheckpoint, "Checkpoint.Weights", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos = cp.Position
	s.pos.Weights = nil
	s.pos.TargetWeight = targetOf(cp, s.cfg.dryRun, weightIn(s.router.Weights(), s.pos.Candidate))
	s.stepWindow, s.last, s.judge, s.verdict = stepWindow, nil, j, j.Verdict()
	s.gen = s.router.Generation()
	s.lastHold, s.history, s.events, s.seq, s.sourceErr, s.policyErr = Event{}, nil, nil, 0, "", ""
	s.steps, s.ending, s.stepVerdict = nil, nil, nil
	// The record of what the candidate served starts afresh, from this
	// sentinel's own router, with where the rollout stood with its
	// unanswered calls and the candidate's streak of not serving.
	now := s.cfg.clock.Now()
	s.serving = s.freshServingLocked(now)
	s.serving.restoreStreak(cp.Down, cp.Started, now)
	s.serving.restoreUnanswered(cp.Unanswered)
	s.cfg.logger.Info("ninelives: rollout restored", "phase", cp.Phase, "step", cp.Step, "stepName", cp.StepName)
	return nil
}

// checkCheckpoint checks where cp says the rollout stands.
func (s *Sentinel) checkCheckpoint(cp Checkpoint) error {
	switch {
	case cp.Baseline != s.cfg.baseline:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Baseline", cp.Baseline, "the sentinel's baseline is %q", s.cfg.baseline)
	case cp.Candidate != s.cfg.candidate:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Candidate", cp.Candidate, "the sentinel's candidate is %q", s.cfg.candidate)
	case !cp.Phase.Valid():
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Phase", string(cp.Phase), "want one of pending, progressing, paused, promoted, rolled_back, aborted")
	case cp.Step < 0:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Step", cp.Step, "want ≥ 0")
	case cp.Phase == PhasePending && cp.Step != 0:
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Step", cp.Step, "want 0 in the pending phase")
	case cp.Format > 0 && (cp.TargetWeight < 0 || cp.TargetWeight > balancer.TotalWeight):
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.TargetWeight", cp.TargetWeight, "want 0..%d", balancer.TotalWeight)
	}
	return nil
}

// restoredJudge is a judge of the sentinel's configuration with the
// statistics st, or a fresh one when st is nil.
func (s *Sentinel) restoredJudge(st *judge.State) (*judge.Judge, error) {
	j, err := judge.New(s.cfg.judge)
	if err != nil {
		return nil, config.Under(ErrBadOption, "WithJudge", err)
	}
	if st != nil {
		if err := j.Restore(*st); err != nil {
			return nil, config.Under(ErrBadCheckpoint, "Checkpoint.Judge", err)
		}
	}
	return j, nil
}

// restoreStrategy gives a StatefulStrategy cp's state; a strategy without
// state of its own takes none.
func (s *Sentinel) restoreStrategy(cp Checkpoint) error {
	name := s.strategy.Name()
	st, ok := statefulOf(s.strategy)
	if !ok {
		if len(cp.StrategyState) > 0 {
			return config.Errorf(ErrBadCheckpoint, "Checkpoint.StrategyState", nil,
				"it holds the state of strategy %q, the sentinel's strategy %q keeps none", cp.Strategy, name)
		}
		return nil
	}
	if len(cp.StrategyState) > 0 && cp.Strategy != name {
		return config.Errorf(ErrBadCheckpoint, "Checkpoint.Strategy", cp.Strategy, "the sentinel's strategy is %q", name)
	}
	return config.Under(ErrBadCheckpoint, "Checkpoint.StrategyState", st.RestoreStrategyState(cp))
}

// targetOf is the rollout's target weight in cp (Position.TargetWeight).
// A checkpoint from before it was kept (Format 0) has none: the
// candidate's weight in cp.Weights stands for it, or, in a dry run, whose
// weights never moved, the weight the step is named for ("25%", as
// plan.Label names the canary's steps and SetWeight's); a dry run's step
// named otherwise gives the weight in cp.Weights. current is the
// candidate's weight in the router.
func targetOf(cp Checkpoint, dryRun bool, current int) int {
	if cp.Format > 0 {
		return cp.TargetWeight
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

// stepWeight is the weight in basis points that plan.Label names name, if
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
	if plan.Label(bp) != name {
		return 0, false
	}
	return bp, true
}
