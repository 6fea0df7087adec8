package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/clock"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// ErrBadOption is returned, wrapped, for every argument or option New or
// NewProber rejects.
var ErrBadOption = errors.New("ninelives: bad release option")

// The lifecycle's own actions, recorded as events beside the sentinel's.
const (
	// ActionRelease: a new build is behind the candidate; its rollout
	// begins.
	ActionRelease sentinel.Action = "release"
	// ActionFinalize: the baseline serves the promoted build; all the
	// traffic returns to it.
	ActionFinalize sentinel.Action = "finalize"
)

// Stage is where a lifecycle stands between and during rollouts.
type Stage string

// The stages.
const (
	// StageWaiting: no rollout under way; waiting for a new build behind
	// the candidate.
	StageWaiting Stage = "waiting"
	// StageRolling: a rollout judges Record.Build.
	StageRolling Stage = "rolling"
	// StageFinalizing: Record.Build was promoted; waiting for the baseline
	// to serve it.
	StageFinalizing Stage = "finalizing"
)

// Record is what a lifecycle carries from rollout to rollout; a fleet's
// leader saves it with its checkpoint.
type Record struct {
	// Number counts the rollouts begun (0: none yet).
	Number int `json:"number"`
	// Build is the candidate's build of the current (or last) rollout,
	// BaselineBuild the baseline's when it began.
	Build         string `json:"build,omitempty"`
	BaselineBuild string `json:"baselineBuild,omitempty"`
	Stage         Stage  `json:"stage"`
	// Since is when the stage began.
	Since time.Time `json:"since,omitzero"`
	// Events counts the events logged over every rollout.
	Events uint64 `json:"events"`
}

// Status is the lifecycle's state for people: the record, what it waits
// for, and the builds last seen.
type Status struct {
	Record
	// Note says in words what the lifecycle does or waits for.
	Note string `json:"note"`
	// Builds is what the last look at the endpoints found; Error why it
	// failed, if it did.
	Builds Builds `json:"builds,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Option configures a Lifecycle.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(c *options) { f(c) }

type options struct {
	clock     sentinel.Clock
	logger    *slog.Logger
	interval  time.Duration
	timeout   time.Duration
	autoStart bool
}

// WithClock replaces the wall clock (give the sentinel's).
func WithClock(c sentinel.Clock) Option { return optionFunc(func(o *options) { o.clock = c }) }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithInterval sets the time between Run's rounds (default 1 s).
func WithInterval(d time.Duration) Option { return optionFunc(func(o *options) { o.interval = d }) }

// WithTimeout bounds each look at the builds (default 5 s).
func WithTimeout(d time.Duration) Option { return optionFunc(func(o *options) { o.timeout = d }) }

// WithAutoStart says whether a new build's rollout starts by itself
// (default true). Without it the rollout waits, paused before its first
// step, for Resume (the CLI's `ninelives resume`).
func WithAutoStart(on bool) Option { return optionFunc(func(o *options) { o.autoStart = on }) }

// Lifecycle runs rollout after rollout on one sentinel, and so on one
// Router: it watches which build each version's endpoints serve, begins a
// rollout when a new build is behind the candidate, finalizes a promotion
// once the baseline serves the promoted build (all the traffic returns to
// the baseline), and aborts a rollout whose candidate changes build under
// it. Its methods are safe from any goroutine; the sentinel must be driven
// through it only.
type Lifecycle struct {
	sen    *sentinel.Sentinel
	builds BuildSource
	cfg    options

	mu     sync.Mutex // serialises rounds and controls; guards everything below
	rec    Record
	status Status
	log    []sentinel.Event // the last events of every rollout, renumbered
	pulled uint64           // the sentinel's last event copied into log
	warned string           // the last build-probe error logged
}

// maxLog bounds the events a lifecycle keeps, and keepEvidence those of
// them, the latest, that keep their verdict's evidence and their figures:
// the older keep the verdict's outcome, test and reason, so that the log
// of release after release (some 15 to 20 rollouts' events) holds about
// a hundred kilobytes once full, not megabytes, and fills within a few
// releases.
const (
	maxLog       = 100
	keepEvidence = 20
)

// New returns the lifecycle of sen, which is pending and has moved no
// traffic. builds tells which build each version serves; nil makes a
// lifecycle of one rollout, as sen alone would run it.
func New(sen *sentinel.Sentinel, builds BuildSource, opts ...Option) (*Lifecycle, error) {
	if sen == nil {
		return nil, config.Errorf(ErrBadOption, "sentinel", nil, "the sentinel is nil")
	}
	cfg := options{clock: clock.Wall{}, logger: slog.Default(), interval: time.Second, timeout: 5 * time.Second, autoStart: true}
	for i, o := range opts {
		if o == nil {
			return nil, config.Errorf(ErrBadOption, fmt.Sprintf("opts[%d]", i), nil, "the option is nil")
		}
		o.apply(&cfg)
	}
	switch {
	case cfg.clock == nil:
		return nil, config.Errorf(ErrBadOption, "WithClock", nil, "the clock is nil")
	case cfg.logger == nil:
		return nil, config.Errorf(ErrBadOption, "WithLogger", nil, "the logger is nil")
	case cfg.interval <= 0:
		return nil, config.Errorf(ErrBadOption, "WithInterval", cfg.interval, "want a positive duration")
	case cfg.timeout <= 0:
		return nil, config.Errorf(ErrBadOption, "WithTimeout", cfg.timeout, "want a positive duration")
	}
	l := &Lifecycle{sen: sen, builds: builds, cfg: cfg}
	l.rec = Record{Stage: StageWaiting, Since: cfg.clock.Now()}
	if builds == nil {
		l.rec.Stage = StageRolling
	}
	l.status.Record = l.rec
	return l, nil
}

// Tick runs one round: it looks at the builds, begins, aborts or finalizes
// a rollout if they call for it, then ticks the sentinel while a rollout is
// under way, and idles it otherwise. It returns the sentinel's decision.
func (l *Lifecycle) Tick(ctx context.Context) sentinel.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.builds != nil {
		l.lookLocked(ctx)
	}
	var ev sentinel.Event
	if l.rec.Stage == StageRolling {
		ev = l.sen.Tick(ctx)
	} else {
		ev = l.sen.Idle(ctx, l.status.Note)
	}
	l.pullLocked()
	l.settleLocked(ev.Phase)
	return ev
}

// lookLocked asks which builds the versions serve and acts on it.
func (l *Lifecycle) lookLocked(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.timeout)
	defer cancel()
	b, err := l.builds.Builds(ctx)
	if err != nil {
		l.status.Error = err.Error()
		if l.warned != l.status.Error {
			l.cfg.logger.Warn("ninelives: cannot tell which builds the versions serve; the lifecycle holds", "error", err)
			l.warned = l.status.Error
		}
		return
	}
	l.status.Builds, l.status.Error, l.warned = b, "", ""
	st := l.sen.Status()
	l.settleLocked(st.Phase)
	s := decide(l.rec, st.Phase, b, st.Baseline, st.Candidate)
	l.status.Note = s.note
	switch s.action {
	case ActionRelease:
		l.beginLocked(st, s)
	case ActionFinalize:
		l.finalizeLocked(s)
	case sentinel.ActionAbort:
		if err := l.sen.Abort(ctx, "sentinel", s.reason); err != nil {
			l.cfg.logger.Warn("ninelives: aborting the rollout whose build changed", "error", err)
		}
		l.pullLocked()
		l.settleLocked(sentinel.PhaseAborted)
	}
	l.status.Record = l.rec
}

// settleLocked moves a rollout that reached a final phase on to the next
// stage: finalizing after a promotion, waiting otherwise.
func (l *Lifecycle) settleLocked(phase sentinel.Phase) {
	if l.builds == nil || l.rec.Stage != StageRolling || !phase.Final() {
		return
	}
	l.rec.Stage, l.rec.Since = StageWaiting, l.cfg.clock.Now()
	if phase == sentinel.PhasePromoted {
		l.rec.Stage = StageFinalizing
	}
	l.status.Record = l.rec
	st := l.sen.Status()
	l.status.Note = endedNote(l.rec, phase, st.Baseline, st.Candidate)
}

// beginLocked starts the rollout of a new build: the sentinel starts
// afresh (a new judge, α spent anew) at the baseline's weights, pending,
// or paused before its first step without auto-start.
func (l *Lifecycle) beginLocked(st sentinel.Status, s step) {
	now := l.cfg.clock.Now()
	pos := sentinel.Position{Baseline: st.Baseline, Candidate: st.Candidate, Phase: sentinel.PhasePending, StepStart: now, Started: now,
		Weights: baselineAll(st.Weights, st.Baseline, st.Candidate), ChangeAction: ActionRelease, ChangedBy: "sentinel",
		ChangeReason: s.reason, ChangedAt: now}
	if !l.cfg.autoStart {
		pos.Phase, pos.ChangeReason = sentinel.PhasePaused, s.reason+"; resume to start it"
	}
	if !l.restoreLocked(pos, nil) {
		return
	}
	l.rec = Record{Number: l.rec.Number + 1, Build: s.build, BaselineBuild: s.baseline, Stage: StageRolling, Since: now, Events: l.rec.Events}
	l.appendLocked(sentinel.Event{Time: now, Action: ActionRelease, From: st.Phase, Reason: pos.ChangeReason, Who: "sentinel", Position: pos, Alert: true})
	l.status.Note = rollingNote(l.rec, st.Baseline, st.Candidate)
	l.cfg.logger.Info("ninelives: a new build's rollout begins", "build", s.build, "rollout", l.rec.Number)
}

// finalizeLocked gives the baseline all the traffic back once it serves
// the promoted build. The rollout stays promoted.
func (l *Lifecycle) finalizeLocked(s step) {
	cp := l.sen.Checkpoint()
	now := l.cfg.clock.Now()
	pos := cp.Position
	from := pos.Phase
	pos.Weights = baselineAll(pos.Weights, pos.Baseline, pos.Candidate)
	pos.TargetWeight, pos.ChangeAction, pos.ChangedBy, pos.ChangeReason, pos.ChangedAt = 0, ActionFinalize, "sentinel", s.reason, now
	if !l.restoreLocked(pos, &cp) {
		return
	}
	l.rec.Stage, l.rec.Since = StageWaiting, now
	l.appendLocked(sentinel.Event{Time: now, Action: ActionFinalize, From: from, Reason: s.reason, Who: "sentinel", Position: pos})
	l.status.Note = s.reason
	l.cfg.logger.Info("ninelives: rollout finalized: "+s.reason, "build", l.rec.Build)
}

// restoreLocked carries the sentinel on at pos, with cp's judge and step
// figures when given (a fresh judge otherwise).
func (l *Lifecycle) restoreLocked(pos sentinel.Position, cp *sentinel.Checkpoint) bool {
	next := sentinel.Checkpoint{Format: 1}
	if cp != nil {
		next = *cp
	}
	next.Position = pos
	if err := l.sen.Restore(next); err != nil {
		l.cfg.logger.Error("ninelives: the lifecycle could not carry the sentinel on", "action", pos.ChangeAction, "error", err)
		return false
	}
	l.pulled = 0
	return true
}

// baselineAll is ws with the candidate's weight given to the baseline.
func baselineAll(ws []balancer.Weight, baseline, candidate string) []balancer.Weight {
	out := slices.Clone(ws)
	moved := 0
	for i := range out {
		if out[i].Version == candidate {
			moved, out[i].Weight = out[i].Weight, 0
		}
	}
	for i := range out {
		if out[i].Version == baseline {
			out[i].Weight += moved
		}
	}
	return out
}

// pullLocked copies the sentinel's new events into the log.
func (l *Lifecycle) pullLocked() {
	for _, e := range l.sen.Status().Events {
		if e.Seq > l.pulled {
			l.pulled = e.Seq
			l.appendLocked(e)
		}
	}
}

func (l *Lifecycle) appendLocked(e sentinel.Event) {
	l.rec.Events++
	e.Seq = l.rec.Events
	l.log = append(l.log, e)
	if over := len(l.log) - maxLog; over > 0 {
		l.log = slices.Delete(l.log, 0, over)
	}
	if i := len(l.log) - 1 - keepEvidence; i >= 0 {
		l.log[i] = lighter(l.log[i])
	}
	l.status.Record = l.rec
}

// lighter is e with its verdict's outcome, test and reason only, and no
// figures.
func lighter(e sentinel.Event) sentinel.Event {
	if v := e.Verdict; v != nil {
		e.Verdict = &judge.Verdict{Outcome: v.Outcome, Test: v.Test, Reason: v.Reason}
	}
	e.Figures = nil
	return e
}
