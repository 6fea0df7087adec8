package sentinel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ErrTransition is returned, wrapped, by a manual control that the rollout's
// phase does not allow, such as resuming a rollout that is not paused.
var ErrTransition = errors.New("ninelives: phase change not allowed")

// ErrBadOption is returned, wrapped, for every option New rejects.
var ErrBadOption = errors.New("ninelives: bad sentinel option")

// Clock tells the time and ticks. The default is the wall clock; tests give
// their own and drive Tick themselves.
type Clock interface {
	Now() time.Time
	Ticker(d time.Duration) (c <-chan time.Time, stop func())
}

// WallClock is the Clock of the real time, the default.
type WallClock struct{}

// Now implements Clock.
func (WallClock) Now() time.Time { return time.Now() }

// Ticker implements Clock.
func (WallClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// DecisionRecorder counts decisions by action; telemetry's *Metrics is one.
type DecisionRecorder interface {
	RecordDecision(ctx context.Context, action string)
}

// ShadowReporter gives the status the shadow traffic's mismatch samples and
// learned noisy fields; shadow's *Interceptor is one.
type ShadowReporter interface {
	Mismatches() []shadow.Mismatch
	NoisyFields() map[string][]string
	Stats() shadow.Stats
}

// Option configures a Sentinel.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	baseline, candidate   string
	interval              time.Duration
	clock                 Clock
	logger                *slog.Logger
	alerters              []Alerter
	alertTimeout          time.Duration
	decisions             DecisionRecorder
	judge                 JudgeConfig
	rollbackOnSourceError bool
	rollbackOnPolicyError bool
	dryRun                bool
	history               int
	shadow                ShadowReporter
}

func newConfig(split *balancer.Split, opts []Option) (config, error) {
	c := config{
		interval:     time.Second,
		clock:        WallClock{},
		logger:       slog.Default(),
		alertTimeout: 30 * time.Second,
		history:      300,
	}
	vs := split.Versions()
	if len(vs) >= 2 {
		c.baseline, c.candidate = vs[0], vs[1]
	}
	for _, o := range opts {
		o.apply(&c)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadOption}, args...)...)
	}
	switch {
	case c.baseline == "" || c.candidate == "":
		return c, bad("the split has versions %v: name the baseline and the candidate (WithVersions)", vs)
	case !split.Has(c.baseline):
		return c, bad("baseline %q is not a version of the split (it has %v)", c.baseline, vs)
	case !split.Has(c.candidate):
		return c, bad("candidate %q is not a version of the split (it has %v)", c.candidate, vs)
	case c.baseline == c.candidate:
		return c, bad("baseline and candidate are both %q", c.baseline)
	case c.interval <= 0:
		return c, bad("interval %v, want a positive duration", c.interval)
	case c.clock == nil:
		return c, bad("clock is nil")
	case c.logger == nil:
		return c, bad("logger is nil")
	case c.history < 1:
		return c, bad("history %d, want at least 1 tick", c.history)
	case c.alertTimeout <= 0:
		return c, bad("alert timeout %v, want a positive duration", c.alertTimeout)
	}
	return c, nil
}

// WithVersions names the baseline and the candidate; by default they are the
// split's first and second versions.
func WithVersions(baseline, candidate string) Option {
	return optionFunc(func(c *config) { c.baseline, c.candidate = baseline, candidate })
}

// WithInterval sets the time between ticks (default 1 s).
func WithInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.interval = d }) }

// WithClock replaces the wall clock.
func WithClock(clk Clock) Option { return optionFunc(func(c *config) { c.clock = clk }) }

// WithLogger sets the logger events go to (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithAlerters adds alerters.
func WithAlerters(a ...Alerter) Option {
	return optionFunc(func(c *config) { c.alerters = append(c.alerters, a...) })
}

// WithAlertTimeout bounds each alerter call (default 30 s).
func WithAlertTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.alertTimeout = d })
}

// WithDecisionRecorder counts every decision, usually in telemetry's
// ninelives.sentinel.decisions counter.
func WithDecisionRecorder(r DecisionRecorder) Option {
	return optionFunc(func(c *config) { c.decisions = r })
}

// WithJudge sets the statistics (α, minimum samples, tolerances).
func WithJudge(j JudgeConfig) Option { return optionFunc(func(c *config) { c.judge = j }) }

// WithRollbackOnSourceError makes a failing metric source roll the candidate
// back. By default the rollout holds and an alert is raised (contract 5).
func WithRollbackOnSourceError(on bool) Option {
	return optionFunc(func(c *config) { c.rollbackOnSourceError = on })
}

// WithRollbackOnPolicyError makes a failing strategy or script roll the
// candidate back. By default the rollout holds and an alert is raised.
func WithRollbackOnPolicyError(on bool) Option {
	return optionFunc(func(c *config) { c.rollbackOnPolicyError = on })
}

// WithDryRun makes the sentinel judge and report every decision without ever
// moving the weights.
func WithDryRun(on bool) Option { return optionFunc(func(c *config) { c.dryRun = on }) }

// WithHistory sets how many ticks of figures the status keeps (default 300).
func WithHistory(ticks int) Option { return optionFunc(func(c *config) { c.history = ticks }) }

// WithShadow adds a shadow interceptor's mismatch samples and noisy fields to
// the status.
func WithShadow(s ShadowReporter) Option { return optionFunc(func(c *config) { c.shadow = s }) }

// Sentinel is the control loop of one rollout: each tick it collects a
// window from the metric source, lets the judge look at it, asks the
// strategy what to do and does it to the split. Its methods are safe to call
// from any goroutine.
type Sentinel struct {
	cfg      config
	split    *balancer.Split
	source   telemetry.MetricSource
	strategy Strategy
	judge    *Judge
	alerts   *alertQueue

	tickMu sync.Mutex // serialises ticks; taken before mu

	mu         sync.Mutex // guards everything below
	phase      Phase
	step       int
	stepName   string
	stepStart  time.Time
	started    time.Time
	stepWindow *telemetry.Window
	last       *telemetry.Window
	verdict    Verdict
	gen        uint64 // the split's generation the current look began with
	target     int    // the candidate's weight as the rollout last set it (before capping; also in a dry run)
	lastHold   Event
	history    []TickSummary
	events     []Event
	seq        uint64
	sourceErr  string
	policyErr  string
	closed     bool // set by Close; later ticks do nothing
}

// New makes the sentinel of a rollout in the pending phase. It moves no
// traffic until its first tick.
func New(split *balancer.Split, source telemetry.MetricSource, strategy Strategy, opts ...Option) (*Sentinel, error) {
	if split == nil {
		return nil, fmt.Errorf("%w: split is nil", ErrBadOption)
	}
	if source == nil {
		return nil, fmt.Errorf("%w: metric source is nil", ErrBadOption)
	}
	if strategy == nil {
		return nil, fmt.Errorf("%w: strategy is nil", ErrBadOption)
	}
	cfg, err := newConfig(split, opts)
	if err != nil {
		return nil, err
	}
	judge, err := NewJudge(cfg.judge)
	if err != nil {
		return nil, err
	}
	now := cfg.clock.Now()
	s := &Sentinel{
		cfg:        cfg,
		split:      split,
		source:     source,
		strategy:   strategy,
		judge:      judge,
		alerts:     newAlertQueue(cfg.alerters, cfg.logger, cfg.alertTimeout),
		phase:      PhasePending,
		stepStart:  now,
		started:    now,
		stepWindow: new(telemetry.Window),
		gen:        split.Generation(),
		target:     split.Weight(cfg.candidate),
	}
	return s, nil
}

// Run ticks every interval until ctx ends or the rollout reaches a final
// phase; it returns nil then, or ctx's error.
func (s *Sentinel) Run(ctx context.Context) error {
	c, stop := s.cfg.clock.Ticker(s.cfg.interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c:
			e := s.Tick(ctx)
			if e.Phase.Final() {
				return nil
			}
		}
	}
}

// Close stops the alert goroutine after delivering what is queued, and
// closes the strategy if it holds resources. A tick in progress finishes
// first; later ticks collect nothing and decide nothing.
func (s *Sentinel) Close() error {
	s.tickMu.Lock() // waits for a tick in progress
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.tickMu.Unlock()
	var err error
	if c, ok := s.strategy.(Closer); ok {
		err = c.Close()
	}
	s.alerts.close()
	return err
}

// Tick runs one round of the loop now and returns its decision.
func (s *Sentinel) Tick(ctx context.Context) Event {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	s.mu.Lock()
	if s.closed {
		defer s.mu.Unlock()
		return s.eventLocked(s.cfg.clock.Now(), Event{Action: ActionHold, From: s.phase, Reason: "the sentinel is closed", Who: "sentinel"})
	}
	startGen := s.split.Generation()
	s.mu.Unlock()

	win, err := s.source.Collect(ctx)
	now := s.cfg.clock.Now()

	s.mu.Lock()
	if err != nil {
		defer s.mu.Unlock()
		return s.sourceFailedLocked(ctx, now, err)
	}
	if s.sourceErr != "" {
		s.cfg.logger.Info("ninelives: metric source recovered", "after", s.sourceErr)
		s.sourceErr = ""
	}
	s.recordLocked(now, win)
	if s.phase.Final() {
		defer s.mu.Unlock()
		return s.holdLocked(ctx, now, "the rollout is "+string(s.phase))
	}
	s.lookLocked(win, startGen)
	st := s.stateLocked(now, win)
	phase, step := s.phase, s.step
	s.mu.Unlock()

	d, derr := s.strategy.Decide(ctx, st)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != phase || s.step != step {
		return s.holdLocked(ctx, now, "a manual control changed the rollout during this tick")
	}
	if derr != nil {
		return s.policyFailedLocked(ctx, now, derr)
	}
	if s.policyErr != "" {
		s.cfg.logger.Info("ninelives: policy recovered", "after", s.policyErr)
		s.policyErr = ""
	}
	return s.applyLocked(ctx, now, d, "sentinel")
}

// lookLocked feeds this tick's window to the judge as one look. A look during
// which the weights changed other than by a decision of the sentinel's own
// ticks (by a manual control such as SetWeight, Promote or Abort, or from
// outside the sentinel) is left out: the test needs one candidate share per
// look, and leaving a look out does not depend on its outcome, so the error
// bound holds. startGen is the split's generation when this tick's
// collection began; the next look begins there, so a change during the
// collection leaves out both windows it may fall in.
func (s *Sentinel) lookLocked(win *telemetry.Window, startGen uint64) {
	spans := s.split.Generation() != s.gen
	s.gen = startGen
	if spans {
		s.cfg.logger.Debug("ninelives: look left out: the weights changed during it")
		return
	}
	if err := s.judge.Observe(lookFrom(win, s.cfg.baseline, s.cfg.candidate)); err != nil {
		s.cfg.logger.Warn("ninelives: look rejected", "error", err)
	}
	s.verdict = s.judge.Verdict()
}

func (s *Sentinel) stateLocked(now time.Time, win *telemetry.Window) *State {
	ws := s.split.Weights()
	return &State{
		Now:             now,
		Phase:           s.phase,
		Step:            s.step,
		StepName:        s.stepName,
		StepStart:       s.stepStart,
		Started:         s.started,
		InStep:          now.Sub(s.stepStart),
		Baseline:        s.cfg.baseline,
		Candidate:       s.cfg.candidate,
		Weights:         ws,
		CandidateWeight: s.split.Weight(s.cfg.candidate),
		TargetWeight:    s.target,
		Window:          win,
		StepWindow:      s.stepWindow.Clone(),
		Verdict:         s.verdict,
		StepCalls:       s.stepWindow.Version(s.cfg.candidate).Role(balancer.RolePrimary).Calls,
		Judge:           s.judge,
		DryRun:          s.cfg.dryRun,
	}
}

// applyLocked carries out a decision: the phase change, the weights, the
// event, the counter and the alerts.
func (s *Sentinel) applyLocked(ctx context.Context, now time.Time, d Decision, who string) Event {
	for _, l := range d.Logs {
		s.cfg.logger.Info("ninelives policy: "+l, "step", s.step)
	}
	held := false // a decision the pause holds
	if s.phase == PhasePaused && d.Action != ActionRollback && d.Action != ActionHold && d.Action != ActionAlert {
		d = Decision{Action: ActionHold, Reason: fmt.Sprintf("paused: %s (%s) is held", d.Action, d.Reason), Alerts: d.Alerts}
		held = true
	}
	from := s.phase
	var to Phase
	var weight = -1 // the candidate's new weight; -1 keeps the weights
	alert := len(d.Alerts) > 0
	switch d.Action {
	case ActionHold, "":
		if len(d.Alerts) == 0 {
			return s.holdLocked(ctx, now, d.Reason)
		}
		// A hold that alerts changes nothing but the alerts. The strategy's
		// own hold: the event is the first alert, with its own text, not
		// the hold's. A decision the pause holds: the event says so, and the
		// alert texts follow it.
		d.Action, to = ActionAlert, from
		if !held {
			d.Reason = d.Alerts[0]
		}
	case ActionAlert:
		to, alert = from, true
	case ActionStart, ActionAdvance, ActionSetWeights:
		if d.Weight < 0 || d.Weight > balancer.TotalWeight {
			return s.policyFailedLocked(ctx, now, fmt.Errorf("ninelives: %s to candidate weight %d, want 0..%d", d.Action, d.Weight, balancer.TotalWeight))
		}
		to, weight = PhaseProgressing, d.Weight
		if d.Weight == balancer.TotalWeight && d.Action != ActionSetWeights {
			d.Action, to, alert = ActionPromote, PhasePromoted, true
		}
	case ActionPromote:
		to, weight, alert = PhasePromoted, balancer.TotalWeight, true
	case ActionRollback:
		to, weight, alert = PhaseRolledBack, 0, true
	case ActionPause:
		to, alert = PhasePaused, true
	default:
		return s.policyFailedLocked(ctx, now, fmt.Errorf("ninelives: unknown action %q", d.Action))
	}
	if err := checkTransition(from, to); err != nil && to != from {
		return s.policyFailedLocked(ctx, now, fmt.Errorf("%s: %w", d.Action, err))
	}
	if weight >= 0 {
		before := s.split.Generation()
		if err := s.setCandidateLocked(weight); err != nil {
			return s.policyFailedLocked(ctx, now, err)
		}
		// The tick's own change comes between two looks; a change by hand
		// since this tick's collection began still leaves the next look out.
		if s.gen == before {
			s.gen = s.split.Generation()
		}
	}
	// A new step: the next canary weight, or a named step set by weights
	// (the blue/green cut-over).
	newStep := d.Action == ActionStart || d.Action == ActionAdvance || (d.Action == ActionSetWeights && d.StepName != "")
	s.phase = to
	if newStep {
		s.beginStepLocked(now, d.StepName)
	}
	return s.emitLocked(ctx, now, Event{Action: d.Action, From: from, Reason: d.Reason, Who: who, Alert: alert}, d.Alerts)
}

// beginStepLocked starts a new step: its own window, and the judge's per-step
// counts (the error bound is one budget for the whole rollout).
func (s *Sentinel) beginStepLocked(now time.Time, name string) {
	s.step++
	s.stepName = name
	s.stepStart = now
	s.stepWindow = new(telemetry.Window)
	s.judge.BeginStep()
}

// setCandidateLocked gives the candidate weight basis points, capped so
// that other versions keep theirs, and the baseline the rest, and makes
// weight (as asked, before capping) the rollout's target. In a dry run it
// only says what it would do. It leaves the look's generation alone: the
// caller decides whether the change ends a look cleanly.
func (s *Sentinel) setCandidateLocked(weight int) error {
	if s.cfg.dryRun {
		s.target = weight
		return nil
	}
	other := 0
	for _, w := range s.split.Weights() {
		if w.Version != s.cfg.baseline && w.Version != s.cfg.candidate {
			other += w.Weight
		}
	}
	if err := s.split.Set(s.cfg.candidate, min(weight, balancer.TotalWeight-other), s.cfg.baseline); err != nil {
		return err
	}
	s.target = weight
	return nil
}

func (s *Sentinel) holdLocked(ctx context.Context, now time.Time, reason string) Event {
	e := s.eventLocked(now, Event{Action: ActionHold, From: s.phase, Reason: reason, Who: "sentinel"})
	s.lastHold = e
	if s.cfg.decisions != nil {
		s.cfg.decisions.RecordDecision(ctx, string(ActionHold))
	}
	s.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "ninelives: hold: "+reason, e.Attrs()...)
	return e
}

func (s *Sentinel) sourceFailedLocked(ctx context.Context, now time.Time, err error) Event {
	first := s.sourceErr == ""
	s.sourceErr = err.Error()
	if s.cfg.rollbackOnSourceError && !s.phase.Final() {
		return s.applyLocked(ctx, now, Decision{Action: ActionRollback, Reason: "the metric source failed: " + err.Error()}, "sentinel")
	}
	e := Event{Action: ActionSourceFail, From: s.phase, Reason: "the metric source failed, the rollout holds: " + err.Error(), Who: "sentinel", Alert: first}
	return s.emitLocked(ctx, now, e, nil)
}

func (s *Sentinel) policyFailedLocked(ctx context.Context, now time.Time, err error) Event {
	first := s.policyErr == ""
	s.policyErr = err.Error()
	if s.cfg.rollbackOnPolicyError && !s.phase.Final() && s.phase != PhasePending {
		return s.applyLocked(ctx, now, Decision{Action: ActionRollback, Reason: "the policy failed: " + err.Error()}, "sentinel")
	}
	e := Event{Action: ActionPolicyFail, From: s.phase, Reason: "the policy failed, the rollout holds: " + err.Error(), Who: "sentinel", Alert: first}
	return s.emitLocked(ctx, now, e, nil)
}

// eventLocked fills in an event's common fields.
func (s *Sentinel) eventLocked(now time.Time, e Event) Event {
	s.seq++
	e.Seq = s.seq
	e.Time = now
	e.Phase = s.phase
	e.Step = s.step
	e.StepName = s.stepName
	e.Weights = s.split.Weights()
	e.DryRun = s.cfg.dryRun
	v := s.verdict
	e.Verdict = &v
	e.Figures = map[string]VersionFigures{
		s.cfg.baseline:  figuresOf(s.stepWindow, s.cfg.baseline),
		s.cfg.candidate: figuresOf(s.stepWindow, s.cfg.candidate),
	}
	return e
}

// emitLocked records, logs, counts and (if it alerts) queues an event, and
// one more alert event per extra alert text.
func (s *Sentinel) emitLocked(ctx context.Context, now time.Time, e Event, extra []string) Event {
	e = s.eventLocked(now, e)
	s.events = append(s.events, e)
	if over := len(s.events) - maxEvents; over > 0 {
		s.events = slices.Delete(s.events, 0, over)
	}
	if s.cfg.decisions != nil {
		s.cfg.decisions.RecordDecision(ctx, string(e.Action))
	}
	level := slog.LevelInfo
	if e.Alert {
		level = slog.LevelWarn
	}
	s.cfg.logger.LogAttrs(ctx, level, "ninelives: "+string(e.Action)+": "+e.Reason, e.Attrs()...)
	if e.Alert {
		s.alerts.push(e)
	}
	for _, text := range extra {
		a := e
		a.Reason = text
		a.Action = ActionAlert
		if e.Action != ActionAlert || text != e.Reason {
			s.alerts.push(a)
		}
	}
	return e
}

const maxEvents = 200

// manual runs a manual control under the tick lock's sibling, the state lock.
func (s *Sentinel) manual(ctx context.Context, who, reason string, action Action, to Phase, weight int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkTransition(s.phase, to); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if action == ActionResume && s.phase != PhasePaused {
		return fmt.Errorf("%s: %w: the rollout is %s, not paused", action, ErrTransition, s.phase)
	}
	if action == ActionResume && s.step == 0 {
		// Paused before its first step: back to pending, so that the
		// strategy starts the rollout on the next tick as it would have.
		to = PhasePending
	}
	// A weight set here is left out of the current look: the look's
	// generation stays behind, so the next tick sees the change.
	if weight >= 0 {
		if err := s.setCandidateLocked(weight); err != nil {
			return err
		}
	}
	now := s.cfg.clock.Now()
	from := s.phase
	s.phase = to
	who = whoOr(who)
	if reason == "" {
		reason = string(action) + " by " + who
	}
	s.emitLocked(ctx, now, Event{Action: action, From: from, Reason: reason, Who: who, Alert: true}, nil)
	return nil
}

// Pause holds the weights where they are. The judge still watches, and a
// failing candidate is still rolled back.
func (s *Sentinel) Pause(ctx context.Context, who, reason string) error {
	return s.manual(ctx, who, reason, ActionPause, PhasePaused, -1)
}

// Resume lets a paused rollout progress again. A rollout paused before its
// first step goes back to pending, and the strategy starts it on the next
// tick.
func (s *Sentinel) Resume(ctx context.Context, who, reason string) error {
	return s.manual(ctx, who, reason, ActionResume, PhaseProgressing, -1)
}

// Promote gives the candidate all the traffic at once and ends the rollout.
func (s *Sentinel) Promote(ctx context.Context, who, reason string) error {
	return s.manual(ctx, who, reason, ActionPromote, PhasePromoted, balancer.TotalWeight)
}

// Abort gives the baseline all the traffic at once and ends the rollout.
func (s *Sentinel) Abort(ctx context.Context, who, reason string) error {
	return s.manual(ctx, who, reason, ActionAbort, PhaseAborted, 0)
}

// SetWeight sets the candidate's weight by hand (the baseline gets the
// rest; the weight is capped, as a strategy's are, so that other versions
// keep theirs) and pauses the rollout there, so the strategy does not move
// it on. A weight other than the rollout's target (State.TargetWeight, the
// weight last asked for, before capping) begins a new step, named for the
// weight, so that the step's calls and the judge's per-step counts
// are all at the new weight; the look under way when the weight changes is
// left out of the judge. After Resume the canary goes on from the new
// weight to the next of its steps above it.
func (s *Sentinel) SetWeight(ctx context.Context, who, reason string, candidateWeight int) error {
	if candidateWeight < 0 || candidateWeight > balancer.TotalWeight {
		return fmt.Errorf("%w: candidate weight %d, want 0..%d", balancer.ErrBadWeights, candidateWeight, balancer.TotalWeight)
	}
	if reason == "" {
		reason = fmt.Sprintf("candidate weight set to %d bp by %s", candidateWeight, whoOr(who))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != PhasePaused {
		if err := checkTransition(s.phase, PhasePaused); err != nil {
			return fmt.Errorf("%s: %w", ActionSetWeights, err)
		}
	}
	newStep := candidateWeight != s.target
	if err := s.setCandidateLocked(candidateWeight); err != nil {
		return err
	}
	now := s.cfg.clock.Now()
	from := s.phase
	s.phase = PhasePaused
	if newStep {
		s.beginStepLocked(now, StepLabel(candidateWeight))
	}
	s.emitLocked(ctx, now, Event{Action: ActionSetWeights, From: from, Reason: reason, Who: whoOr(who), Alert: true}, nil)
	return nil
}

func whoOr(who string) string {
	if who == "" {
		return "operator"
	}
	return who
}

// Phase returns the rollout's phase.
func (s *Sentinel) Phase() Phase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase
}

// Step returns the rollout's step (0 before the first).
func (s *Sentinel) Step() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.step
}
