package sentinel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ErrTransition is returned, wrapped, by a manual control that the rollout's
// phase does not allow, such as resuming a rollout that is not paused.
var ErrTransition = errors.New("ninelives: phase change not allowed")

// ErrBadOption is returned, wrapped, for every argument or option New
// rejects, and for a manual control's who or reason past its bound.
var ErrBadOption = errors.New("ninelives: bad sentinel option")

// ErrClosed is returned, wrapped, by a manual control or Restore on a
// Sentinel that is closed; nothing moves.
var ErrClosed = errors.New("ninelives: the sentinel is closed")

// Sentinel is the control loop of one rollout: each tick it collects a
// window from the metric source, lets the judge look at it, asks the
// strategy what to do and does it to the router. Its methods are safe to
// call from any goroutine.
type Sentinel struct {
	cfg      options
	router   Router
	source   telemetry.MetricSource
	strategy Strategy
	judge    *judge.Judge
	alerts   *alertQueue

	// tickSem serialises ticks, checkpoints and restores (a channel of one,
	// so that Shutdown can stop waiting for a tick stuck in a strategy or
	// source); taken before mu.
	tickSem  chan struct{}
	shutOnce sync.Once

	mu          sync.Mutex // guards everything below
	pos         Position   // where the rollout stands; its Weights are the router's, read when needed
	stepWindow  *telemetry.Window
	last        *telemetry.Window
	verdict     judge.Verdict
	gen         uint64 // the router's generation the current look began with
	lastHold    Event
	serving     servingTracker
	data        dataWatch
	notes       []string // the running tick's own alerts, for its decision
	history     []TickSummary
	steps       []StepRecord    // the steps the rollout has left, oldest first
	ending      *StepRecord     // the step a decision under way ends, for its event
	stepVerdict *judge.Verdict  // the strategy's own verdict on the current step
	offPlan     map[string]bool // the steps outside the strategy's plan it took, warned of once
	events      []Event
	seq         uint64
	sourceErr   string
	policyErr   string
	closed      bool               // set by Shutdown; later ticks and controls do nothing
	tickCancel  context.CancelFunc // ends the running tick's context, at Shutdown
}

// New makes the sentinel of a rollout in the pending phase, steering
// router (a *balancer.Split, or another Router). It moves no traffic until
// its first tick.
func New(router Router, source telemetry.MetricSource, strategy Strategy, opts ...Option) (*Sentinel, error) {
	for _, a := range []struct {
		name string
		v    any
	}{{"router", router}, {"source", source}, {"strategy", strategy}} {
		if isNil(a.v) {
			return nil, config.Errorf(ErrBadOption, a.name, nil, "it is nil")
		}
	}
	ws := router.Weights()
	cfg, err := newOptions(ws, opts)
	if err != nil {
		return nil, err
	}
	j, err := judge.New(cfg.judge)
	if err != nil {
		return nil, config.Under(ErrBadOption, "WithJudge", err)
	}
	now := cfg.clock.Now()
	s := &Sentinel{
		cfg:      cfg,
		router:   router,
		source:   source,
		strategy: strategy,
		judge:    j,
		alerts:   newAlertQueue(cfg.alerters, cfg.logger, cfg.alertTimeout),
		pos: Position{Baseline: cfg.baseline, Candidate: cfg.candidate, Phase: PhasePending,
			StepStart: now, Started: now, TargetWeight: weightIn(ws, cfg.candidate)},
		stepWindow: new(telemetry.Window),
		serving:    servingTracker{cfg: cfg.serving, last: now},
		gen:        router.Generation(),
		tickSem:    make(chan struct{}, 1),
	}
	s.data.cfg = &s.cfg
	return s, nil
}

// isNil reports whether v is nil or a nil pointer.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
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

// Close is Shutdown bounded by WithCloseTimeout (default 5 s).
func (s *Sentinel) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.closeTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops the sentinel, taking no longer than ctx allows. At once,
// later ticks decide nothing and manual controls return ErrClosed; a tick
// under way has its context cancelled, and whatever it decides is not
// carried out. Shutdown then waits, until ctx ends, for that tick to return
// and for the strategy's Close (if it is an io.Closer), and meanwhile
// delivers the alerts queued. What was left undone when ctx ended comes
// back as a *ShutdownError, with the alerts not delivered; a tick or an
// alerter that ignores its context is left to finish on its own goroutine.
// The strategy's Close error is returned too. Later calls return nil.
//
// A program that must not wait on its alert receiver (a fleet leader
// stepping down, say) calls Shutdown with a short deadline, outside its
// own locks, and logs or hands on the alerts the error lists.
func (s *Sentinel) Shutdown(ctx context.Context) error {
	var err error
	s.shutOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Sentinel) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.tickCancel != nil {
		s.tickCancel()
	}
	s.mu.Unlock()
	alertsDone := make(chan []Event, 1)
	go func() { alertsDone <- s.alerts.shutdown(ctx) }()

	var running []string
	var closeErr error
	if acquire(ctx, s.tickSem) {
		<-s.tickSem
		var closed bool
		closed, closeErr = closeWithin(ctx, s.strategy)
		if !closed {
			running = append(running, "the strategy's Close")
		}
	} else {
		running = append(running, "a tick")
	}
	left := <-alertsDone
	if len(running) == 0 && len(left) == 0 {
		return closeErr
	}
	for _, e := range left {
		s.cfg.logger.Error("ninelives: alert not delivered by shutdown", "seq", e.Seq, "action", string(e.Action), "reason", e.Reason)
	}
	return errors.Join(closeErr, &ShutdownError{Undelivered: left, Running: running, Err: ctx.Err()})
}

// acquire takes sem, waiting until ctx ends; a free sem is taken even when
// ctx has ended.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeWithin closes st if it is an io.Closer, waiting until ctx ends;
// closed is false when its Close had not returned by then.
func closeWithin(ctx context.Context, st Strategy) (closed bool, err error) {
	c, ok := st.(io.Closer)
	if !ok {
		return true, nil
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
	}
	select {
	case err := <-done: // it returned as the deadline came
		return true, err
	default:
		return false, nil
	}
}

// Tick runs one round of the loop now and returns its decision.
func (s *Sentinel) Tick(ctx context.Context) Event {
	s.tickSem <- struct{}{}
	defer func() { <-s.tickSem }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.endTick()
	st, e, decide := s.collect(ctx, cancel)
	if !decide {
		return e
	}
	d, derr := s.strategy.Decide(ctx, st)

	s.mu.Lock()
	defer s.mu.Unlock()
	notes := s.notes
	s.notes = nil
	switch {
	case s.closed:
		return s.closedLocked()
	case s.pos.Phase != st.Phase || s.pos.Step != st.Step:
		s.noteLocked(ctx, st.Now, notes)
		return s.holdLocked(ctx, st.Now, "a manual control changed the rollout during this tick", nil)
	case derr != nil:
		s.noteLocked(ctx, st.Now, notes)
		return s.policyFailedLocked(ctx, st.Now, derr)
	}
	if s.policyErr != "" {
		s.cfg.logger.Info("ninelives: policy recovered", "after", s.policyErr)
		s.policyErr = ""
	}
	d.Alerts = append(d.Alerts, notes...)
	return s.applyLocked(ctx, st.Now, d, "sentinel")
}

// noteLocked raises the tick's own alerts (a candidate down, a test without
// data) as events of their own, when no decision of the strategy carries
// them.
func (s *Sentinel) noteLocked(ctx context.Context, now time.Time, notes []string) {
	for _, text := range notes {
		s.emitLocked(ctx, now, Event{Action: ActionAlert, From: s.pos.Phase, Reason: text, Who: "sentinel", Alert: true}, nil)
	}
}

// collect begins a tick: it collects the window, records it and gives it
// to the judge, and returns the state the strategy decides on; or, when
// there is nothing to decide (closed, a failing source, a final phase),
// the tick's event. cancel ends the tick's context at Shutdown.
func (s *Sentinel) collect(ctx context.Context, cancel context.CancelFunc) (st *State, e Event, decide bool) {
	s.mu.Lock()
	if s.closed {
		defer s.mu.Unlock()
		return nil, s.closedLocked(), false
	}
	s.tickCancel = cancel
	startGen := s.router.Generation()
	s.mu.Unlock()

	win, err := s.source.Collect(ctx)
	now := s.cfg.clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, s.closedLocked(), false
	case err != nil:
		return nil, s.sourceFailedLocked(ctx, now, err), false
	}
	if s.sourceErr != "" {
		s.cfg.logger.Info("ninelives: metric source recovered", "after", s.sourceErr)
		s.sourceErr = ""
	}
	s.recordLocked(now, win)
	s.notes = s.observeLocked(now, win)
	if s.pos.Phase.Final() {
		return nil, s.holdLocked(ctx, now, "the rollout is "+string(s.pos.Phase), nil), false
	}
	s.lookLocked(win, startGen)
	return s.stateLocked(now, win), Event{}, true
}

// closedLocked is the hold of a tick on a closed sentinel.
func (s *Sentinel) closedLocked() Event {
	return s.eventLocked(s.cfg.clock.Now(), Event{Action: ActionHold, From: s.pos.Phase, Reason: "the sentinel is closed", Who: "sentinel"})
}

// endTick forgets the running tick's cancel.
func (s *Sentinel) endTick() {
	s.mu.Lock()
	s.tickCancel = nil
	s.mu.Unlock()
}

// freshServingLocked is a record of what the candidate served that
// begins at now. The candidate's ready endpoints now are its first tick's
// last, so that a server lost on the rollout's first tick (or the first
// after a Restore) is seen lost.
func (s *Sentinel) freshServingLocked(now time.Time) servingTracker {
	return servingTracker{cfg: s.cfg.serving, last: now, lastReady: readyEndpoints(s.router, s.pos.Candidate)}
}

// observeLocked adds this tick to the record of what the candidate served
// and to the watch over the judge's data, and returns the alerts they
// raise: that the candidate is down, that a test has had no data, that
// calls went past telemetry's method cap. Before the rollout starts there
// is nothing to serve or judge: the records begin with the first step.
func (s *Sentinel) observeLocked(now time.Time, win *telemetry.Window) []string {
	if s.pos.Phase == PhasePending || s.pos.Phase.Final() {
		s.serving = s.freshServingLocked(now)
		s.data = dataWatch{cfg: &s.cfg}
		return nil
	}
	// The calls followed the router's weights, also in a dry run.
	p := s.positionLocked()
	ready := readyEndpoints(s.router, p.Candidate)
	lost := s.serving.now.Lost
	ended := s.serving.observe(now, win, p.Candidate, p.Weight(p.Candidate), ready)
	if n := s.serving.now.Lost - lost; n > 0 {
		s.cfg.logger.Info("ninelives: calls the candidate left unanswered as it went down or lost ready endpoints are put down to the loss, not judged",
			"candidate", p.Candidate, "calls", n, "serving", s.serving.now.Reason)
	} else if n := s.serving.held; n > 0 {
		s.cfg.logger.Info("ninelives: calls the candidate left unanswered are held from the judge for a tick, then judged (only the rollout's first loss is forgiven them)",
			"candidate", p.Candidate, "calls", n, "serving", s.serving.now.Reason)
	}
	if ended > 0 {
		s.cfg.logger.Info("ninelives: the candidate serves again", "candidate", p.Candidate, "after", ended, "serving", s.serving.now.Reason)
	}
	notes := s.data.observe(now, win, p)
	if a := s.serving.downAlert(now, p.Candidate); a != "" {
		notes = append(notes, a)
	}
	return notes
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
	spans := s.router.Generation() != s.gen
	s.gen = startGen
	if spans {
		s.cfg.logger.Debug("ninelives: look left out: the weights changed during it")
		s.serving.leftOutLook()
		return
	}
	if err := s.judge.Observe(lookFrom(win, s.cfg.baseline, s.cfg.candidate, s.serving.out)); err != nil {
		s.cfg.logger.Warn("ninelives: look rejected", "error", err)
	}
	s.verdict = s.judge.Verdict()
}

// positionLocked is where the rollout stands now.
func (s *Sentinel) positionLocked() Position {
	p := s.pos
	p.Weights = s.router.Weights()
	return p
}

func (s *Sentinel) stateLocked(now time.Time, win *telemetry.Window) *State {
	p := s.positionLocked()
	return &State{
		Position:        p,
		Now:             now,
		InStep:          now.Sub(p.StepStart),
		CandidateWeight: weightIn(p.Weights, p.Candidate),
		Window:          win,
		StepWindow:      s.stepWindow.Clone(),
		Verdict:         s.verdict,
		StepCalls:       s.stepWindow.Version(p.Candidate).Role(balancer.RolePrimary).Calls,
		Serving:         s.serving.now,
		Judge:           s.judge,
		DryRun:          s.cfg.dryRun,
		out:             s.serving.out,
	}
}

// applyLocked carries out a decision: the phase change, the weights, the
// event, the counter and the alerts.
func (s *Sentinel) applyLocked(ctx context.Context, now time.Time, d Decision, who string) Event {
	for _, l := range d.Logs {
		s.cfg.logger.Info("ninelives policy: "+l, "step", s.pos.Step)
	}
	held := false // a decision the pause holds
	if s.pos.Phase == PhasePaused && d.Action != ActionRollback && d.Action != ActionHold && d.Action != ActionAlert {
		d = Decision{Action: ActionHold, Reason: fmt.Sprintf("paused: %s (%s) is held", d.Action, d.Reason), Alerts: d.Alerts}
		held = true
	}
	if d.Verdict != nil && !held {
		s.stepVerdict = d.Verdict
	}
	if (d.Action == ActionHold || d.Action == "") && len(d.Alerts) == 0 {
		return s.holdLocked(ctx, now, d.Reason, d.Verdict)
	}
	if d.Action == ActionHold || d.Action == "" {
		// A hold that alerts changes nothing but the alerts. The strategy's
		// own hold: the event is the first alert, with its own text, not
		// the hold's. A decision the pause holds: the event says so, and the
		// alert texts follow it.
		d.Action = ActionAlert
		if !held {
			d.Reason = d.Alerts[0]
		}
	}
	to, weight, alert, err := s.course(&d)
	if err != nil {
		return s.policyFailedLocked(ctx, now, err)
	}
	from := s.pos.Phase
	if to != from {
		if err := checkTransition(d.Action, from, to); err != nil {
			return s.policyFailedLocked(ctx, now, err)
		}
	}
	if weight >= 0 {
		before := s.router.Generation()
		if err := s.setCandidateLocked(weight); err != nil {
			return s.policyFailedLocked(ctx, now, err)
		}
		// The tick's own change comes between two looks; a change by hand
		// since this tick's collection began still leaves the next look out.
		if s.gen == before {
			s.gen = s.router.Generation()
		}
	}
	e := Event{Action: d.Action, From: from, Reason: d.Reason, Who: who, Alert: alert, Verdict: d.Verdict}
	// A new step: the next canary weight, or a named step set by weights
	// (the blue/green cut-over). The event shows the step that passed.
	if d.Action == ActionStart || d.Action == ActionAdvance || (d.Action == ActionSetWeights && d.StepName != "") {
		s.checkPlanLocked(ctx, d.StepName)
		e.Figures = s.beginStepLocked(now, d.StepName)
	}
	s.pos.Phase = to
	return s.emitLocked(ctx, now, e, d.Alerts)
}

// course says where a decision other than a hold takes the rollout: the
// phase, the candidate's weight (-1 keeps the weights) and whether it
// alerts. A decision that reaches all the traffic becomes a promotion.
func (s *Sentinel) course(d *Decision) (to Phase, weight int, alert bool, err error) {
	from := s.pos.Phase
	alert = len(d.Alerts) > 0
	switch d.Action {
	case ActionAlert:
		return from, -1, true, nil
	case ActionStart, ActionAdvance, ActionSetWeights:
		if d.Weight < 0 || d.Weight > balancer.TotalWeight {
			return from, -1, false, fmt.Errorf("ninelives: %s to candidate weight %d, want 0..%d", d.Action, d.Weight, balancer.TotalWeight)
		}
		if d.Weight == balancer.TotalWeight && d.Action != ActionSetWeights {
			d.Action = ActionPromote
			return PhasePromoted, d.Weight, true, nil
		}
		return PhaseProgressing, d.Weight, alert, nil
	case ActionPromote:
		return PhasePromoted, balancer.TotalWeight, true, nil
	case ActionRollback:
		return PhaseRolledBack, 0, true, nil
	case ActionPause:
		return PhasePaused, -1, true, nil
	}
	return from, -1, false, fmt.Errorf("ninelives: unknown action %q", d.Action)
}

// beginStepLocked starts a new step: its own window, and the judge's per-step
// counts (the error bound is one budget for the whole rollout). It returns
// the figures of the step it ends, whose record the event completes.
func (s *Sentinel) beginStepLocked(now time.Time, name string) map[string]telemetry.Figures {
	ended := s.figuresLocked(s.stepWindow)
	s.endStepLocked(now)
	s.stepVerdict = nil
	s.pos.Step++
	s.pos.StepName = name
	s.pos.StepStart = now
	s.stepWindow = new(telemetry.Window)
	s.judge.BeginStep()
	return ended
}

// setCandidateLocked gives the candidate weight basis points, capped so
// that other versions keep theirs, and the baseline the rest, and makes
// weight (as asked, before capping) the rollout's target. In a dry run it
// only says what it would do. It leaves the look's generation alone: the
// caller decides whether the change ends a look cleanly.
func (s *Sentinel) setCandidateLocked(weight int) error {
	if !s.cfg.dryRun {
		ws := withCandidate(s.router.Weights(), s.pos.Baseline, s.pos.Candidate, weight)
		if err := s.router.SetWeights(ws...); err != nil {
			return err
		}
	}
	s.pos.TargetWeight = weight
	return nil
}

// holdLocked records a hold, with the verdict it rests on (nil: the
// judge's).
func (s *Sentinel) holdLocked(ctx context.Context, now time.Time, reason string, v *judge.Verdict) Event {
	e := s.eventLocked(now, Event{Action: ActionHold, From: s.pos.Phase, Reason: reason, Who: "sentinel", Verdict: v})
	s.lastHold = e
	if s.cfg.decisions != nil {
		s.cfg.decisions.RecordDecision(ctx, string(ActionHold))
	}
	s.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "ninelives: hold: "+reason, e.attrs()...)
	return e
}

func (s *Sentinel) sourceFailedLocked(ctx context.Context, now time.Time, err error) Event {
	first := s.streakLocked(ctx, &s.sourceErr, "the metric source", err)
	if s.cfg.rollbackOnSourceError && !s.pos.Phase.Final() {
		return s.applyLocked(ctx, now, Decision{Action: ActionRollback, Reason: "the metric source failed: " + err.Error()}, "sentinel")
	}
	e := Event{Action: ActionSourceFail, From: s.pos.Phase, Reason: "the metric source failed, the rollout holds: " + err.Error(), Who: "sentinel", Alert: first}
	return s.emitLocked(ctx, now, e, nil)
}

func (s *Sentinel) policyFailedLocked(ctx context.Context, now time.Time, err error) Event {
	first := s.streakLocked(ctx, &s.policyErr, "the policy", err)
	if s.cfg.rollbackOnPolicyError && !s.pos.Phase.Final() && s.pos.Phase != PhasePending {
		return s.applyLocked(ctx, now, Decision{Action: ActionRollback, Reason: "the policy failed: " + err.Error()}, "sentinel")
	}
	e := Event{Action: ActionPolicyFail, From: s.pos.Phase, Reason: "the policy failed, the rollout holds: " + err.Error(), Who: "sentinel", Alert: first}
	return s.emitLocked(ctx, now, e, nil)
}

// streakLocked keeps err as what (the metric source, the policy) fails
// with in *last and says whether it begins a streak of failures, whose
// first tick alerts; a new cause within a streak is logged at info, since
// the streak's later ticks log at debug (logLevel).
func (s *Sentinel) streakLocked(ctx context.Context, last *string, what string, err error) (first bool) {
	first = *last == ""
	if !first && *last != err.Error() {
		s.cfg.logger.InfoContext(ctx, "ninelives: "+what+" fails otherwise now: "+err.Error())
	}
	*last = err.Error()
	return first
}

// eventLocked fills in an event's common fields.
func (s *Sentinel) eventLocked(now time.Time, e Event) Event {
	s.seq++
	e.Seq = s.seq
	e.Time = now
	e.Position = s.positionLocked()
	e.DryRun = s.cfg.dryRun
	if e.Verdict == nil {
		v := s.verdict
		e.Verdict = &v
	}
	if e.Figures == nil {
		e.Figures = s.figuresLocked(s.stepWindow)
	}
	return e
}

// figuresLocked sums up the two versions' calls in w.
func (s *Sentinel) figuresLocked(w *telemetry.Window) map[string]telemetry.Figures {
	return map[string]telemetry.Figures{
		s.pos.Baseline:  w.Figures(s.pos.Baseline),
		s.pos.Candidate: w.Figures(s.pos.Candidate),
	}
}

// changes says whether an event's action moves the rollout: its phase,
// step or weights.
func changes(a Action) bool {
	switch a {
	case ActionHold, ActionAlert, ActionSourceFail, ActionPolicyFail:
		return false
	}
	return true
}

// emitLocked records, logs, counts and (if it alerts) queues an event, and
// logs at Warn and queues one more alert event per extra alert text. An
// event that moves the rollout is its last change.
func (s *Sentinel) emitLocked(ctx context.Context, now time.Time, e Event, extra []string) Event {
	if changes(e.Action) {
		s.pos.ChangeAction, s.pos.ChangedBy, s.pos.ChangeReason, s.pos.ChangedAt = e.Action, e.Who, e.Reason, now
	}
	if s.pos.Phase.Final() && !e.From.Final() {
		s.endStepLocked(now)
	}
	e = s.eventLocked(now, e)
	s.recordStepEndLocked(e)
	s.events = append(s.events, e)
	if over := len(s.events) - maxEvents; over > 0 {
		s.events = slices.Delete(s.events, 0, over)
	}
	if s.cfg.decisions != nil {
		s.cfg.decisions.RecordDecision(ctx, string(e.Action))
	}
	s.cfg.logger.LogAttrs(ctx, logLevel(e), "ninelives: "+string(e.Action)+": "+e.Reason, e.attrs()...)
	if e.Alert {
		s.alerts.push(e)
	}
	for _, text := range capAlerts(extra) {
		a := e
		a.Reason = text
		a.Action = ActionAlert
		if e.Action != ActionAlert || text != e.Reason {
			s.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "ninelives: "+string(a.Action)+": "+text, a.attrs()...)
			s.alerts.push(a)
		}
	}
	return e
}

const maxEvents = 200

// logLevel is an event's: Warn when it alerts, Debug for the later ticks
// of a streak of a failing source or policy (its first tick alerted, and
// the log would repeat it at every tick; a new cause is logged at Info),
// Info else.
func logLevel(e Event) slog.Level {
	switch {
	case e.Alert:
		return slog.LevelWarn
	case e.Action == ActionSourceFail || e.Action == ActionPolicyFail:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// manual runs a manual control under the state lock.
func (s *Sentinel) manual(ctx context.Context, who, reason string, action Action, to Phase, weight int) error {
	if err := checkNote(who, reason); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: %s refused", ErrClosed, action)
	}
	if err := checkTransition(action, s.pos.Phase, to); err != nil {
		return err
	}
	if action == ActionResume && s.pos.Phase != PhasePaused {
		return fmt.Errorf("%w: %s: the rollout is %s, not paused", ErrTransition, action, s.pos.Phase)
	}
	if action == ActionResume && s.pos.Step == 0 {
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
	from := s.pos.Phase
	s.pos.Phase = to
	who = whoOr(who)
	if reason == "" {
		reason = string(action) + " by " + who
	}
	s.emitLocked(ctx, s.cfg.clock.Now(), Event{Action: action, From: from, Reason: reason, Who: who, Alert: true}, nil)
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
// it on. A weight other than the rollout's target (Position.TargetWeight,
// the weight last asked for, before capping) begins a new step, named for
// the weight, so that the step's calls and the judge's per-step counts are
// all at the new weight; the look under way when the weight changes is
// left out of the judge. After Resume the canary goes on from the new
// weight to the next of its steps above it.
func (s *Sentinel) SetWeight(ctx context.Context, who, reason string, candidateWeight int) error {
	if candidateWeight < 0 || candidateWeight > balancer.TotalWeight {
		return config.Errorf(balancer.ErrBadWeights, "candidate weight", candidateWeight, "want 0..%d", balancer.TotalWeight)
	}
	if err := checkNote(who, reason); err != nil {
		return err
	}
	if reason == "" {
		reason = fmt.Sprintf("candidate weight set to %d bp by %s", candidateWeight, whoOr(who))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: %s refused", ErrClosed, ActionSetWeights)
	}
	if s.pos.Phase != PhasePaused {
		if err := checkTransition(ActionSetWeights, s.pos.Phase, PhasePaused); err != nil {
			return err
		}
	}
	newStep := candidateWeight != s.pos.TargetWeight
	if err := s.setCandidateLocked(candidateWeight); err != nil {
		return err
	}
	now := s.cfg.clock.Now()
	from := s.pos.Phase
	s.pos.Phase = PhasePaused
	e := Event{Action: ActionSetWeights, From: from, Reason: reason, Who: whoOr(who), Alert: true}
	if newStep {
		e.Figures = s.beginStepLocked(now, plan.Label(candidateWeight))
	}
	s.emitLocked(ctx, now, e, nil)
	return nil
}

func whoOr(who string) string {
	if who == "" {
		return "operator"
	}
	return who
}

// The longest who and reason a manual control takes: each is kept in the
// rollout's events, the lifecycle's log, a fleet's history in etcd (whose
// requests are capped at 1.5 MiB) and every alert.
const (
	maxWho    = 256
	maxReason = 4096
)

// checkNote refuses a who or reason longer than the events keep.
func checkNote(who, reason string) error {
	switch {
	case len(who) > maxWho:
		return config.Errorf(ErrBadOption, "who", fmt.Sprintf("%d bytes", len(who)), "want at most %d bytes", maxWho)
	case len(reason) > maxReason:
		return config.Errorf(ErrBadOption, "reason", fmt.Sprintf("%d bytes", len(reason)), "want at most %d bytes", maxReason)
	}
	return nil
}
