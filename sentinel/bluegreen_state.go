package sentinel

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

var _ StatefulStrategy = (*blueGreen)(nil)

// blueGreenResumable says whether a blue/green rollout can be carried on
// from cp without the strategy's state: only before its shadow step and
// cut-over, or once it has ended.
func blueGreenResumable(cp Checkpoint) error {
	if !cp.Phase.Final() && cp.Step > 0 && cp.StepName != plan.StepWarmup {
		return config.Errorf(ErrBadCheckpoint, "", nil, "the blue/green rollout is in step %d (%q), past the warm-up, and the checkpoint holds no blue/green state "+
			"(its stage, gates and blue's reference figures) to carry it on from; abort the rollout or start it again", cp.Step, cp.StepName)
	}
	return nil
}

// blueGreenState is what the blue/green strategy keeps from tick to tick, as
// StrategyState saves it: the stage, the warm-up's report, blue's figures
// before the cut-over, the gates' statistics and the reference green is
// judged against.
type blueGreenState struct {
	Stage    string              `json:"stage"`
	Report   *warmup.Report      `json:"warmupReport,omitempty"`
	Blue     []blueTickState     `json:"blue,omitempty"`
	Shadow   *judge.RateState    `json:"shadowTest,omitempty"`
	CutAsked bool                `json:"cutAsked,omitempty"`
	CutAt    time.Time           `json:"cutAt,omitzero"`
	Ref      *blueReferenceState `json:"reference,omitempty"`
	Errors   *judge.RateState    `json:"errorTest,omitempty"`
	Latency  *judge.RateState    `json:"latencyTest,omitempty"`
}

type blueTickState struct {
	At     time.Time         `json:"at"`
	Window *telemetry.Window `json:"window"`
}

type blueReferenceState struct {
	Calls        int64   `json:"calls"`
	Errors       int64   `json:"errors"`
	Rate         float64 `json:"rate"`
	Quantile     float64 `json:"quantile,omitempty"`
	ErrTolerance float64 `json:"errTolerance"`
	LatBound     float64 `json:"latBound,omitempty"`
	Latency      bool    `json:"latency,omitempty"`
}

// StrategyState implements StatefulStrategy: the stage, the warm-up's
// report, blue's recent figures, the shadow gate's and the rollback
// window's statistics and blue's reference figures, as JSON.
func (b *blueGreen) StrategyState() (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := blueGreenState{Stage: b.stage, Report: b.report, CutAsked: b.cutAsked, CutAt: b.cutAt}
	for _, t := range b.blue {
		st.Blue = append(st.Blue, blueTickState{At: t.at, Window: t.w})
	}
	if b.shadow != nil {
		ss := b.shadow.State()
		st.Shadow = &ss
	}
	if b.cfg.CompareWithPast && (b.cutAsked || b.stage == plan.StepCutover) {
		r := b.ref
		st.Ref = &blueReferenceState{Calls: r.calls, Errors: r.errors, Rate: r.rate, Quantile: r.quantile,
			ErrTolerance: r.errTolerance, LatBound: r.latBound, Latency: r.latency}
	}
	if b.errTest != nil {
		es := b.errTest.State()
		st.Errors = &es
	}
	if b.latTest != nil {
		ls := b.latTest.State()
		st.Latency = &ls
	}
	return json.Marshal(st)
}

// RestoreStrategyState implements StatefulStrategy. It replaces all of
// the strategy's state with the checkpoint's, whatever the strategy went
// through before (the fleet's leader keeps one strategy from term to
// term): the stage, the warm-up's report, blue's figures, the gates'
// statistics and the reference. In the warm-up (or before it) the strategy
// warms green up again, unless a warm-up of its own is still running, whose
// report it then waits for; in the shadow grace period it turns the shadow
// on again on the next tick and carries on the gate's test; through the
// rollback window it judges green on against the same reference. A
// checkpoint without the strategy's state can be carried on only before the
// shadow step or the cut-over (or once the rollout has ended), from a fresh
// state; past them it is rejected.
func (b *blueGreen) RestoreStrategyState(cp Checkpoint) error {
	st, err := decodeBlueGreen(cp)
	if err != nil {
		return err
	}
	blue, err := restoreBlue(st.Blue)
	if err != nil {
		return err
	}
	shadow, err := b.restoreShadowGate(st)
	if err != nil {
		return err
	}
	ref, err := b.restoreReference(st)
	if err != nil {
		return err
	}
	errTest, latTest, err := b.restoreWindow(st, ref)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stage = st.Stage
	if st.Stage == "" || st.Stage == plan.StepWarmup {
		// A warm-up of the strategy's own that is still running goes on,
		// and its report is the one the rollout waits for; without one, the
		// next tick starts the warm-up again.
		b.stage = ""
		if b.warm.Running() {
			b.stage = plan.StepWarmup
		}
	}
	if !b.warm.Running() {
		b.warmErr = nil
	}
	b.report = st.Report
	b.blue = blue
	b.shadow = shadow
	b.cutAsked, b.cutAt, b.ref = st.CutAsked, st.CutAt, ref
	b.errTest, b.latTest = errTest, latTest
	return nil
}

// badState is an error in the blue/green state of a checkpoint.
func badState(field string, value any, format string, args ...any) error {
	return config.Errorf(ErrBadCheckpoint, field, value, format, args...)
}

// decodeBlueGreen reads cp's blue/green state: an empty one when cp holds
// none and the rollout can carry on without it.
func decodeBlueGreen(cp Checkpoint) (blueGreenState, error) {
	var st blueGreenState
	if len(cp.StrategyState) == 0 {
		return st, blueGreenResumable(cp)
	}
	if err := json.Unmarshal(cp.StrategyState, &st); err != nil {
		return st, &config.Error{Kind: ErrBadCheckpoint, Err: err}
	}
	switch st.Stage {
	case "", plan.StepWarmup, plan.StepShadow, plan.StepCutover:
		return st, nil
	}
	return st, badState("stage", st.Stage, "want %q, %q, %q or none", plan.StepWarmup, plan.StepShadow, plan.StepCutover)
}

// restoreBlue reads blue's figures before the cut-over.
func restoreBlue(ticks []blueTickState) ([]blueTick, error) {
	blue := make([]blueTick, 0, len(ticks))
	for i, t := range ticks {
		field := "blue[" + strconv.Itoa(i) + "]"
		if t.Window == nil {
			return nil, badState(field, nil, "no window")
		}
		w := new(telemetry.Window)
		if err := w.Merge(t.Window); err != nil {
			return nil, config.Under(ErrBadCheckpoint, field, err)
		}
		blue = append(blue, blueTick{at: t.At, w: w})
	}
	return blue, nil
}

// restoreShadowGate makes the shadow gate with the state's statistics, or
// a fresh one; nil without a Shadow.
func (b *blueGreen) restoreShadowGate(st blueGreenState) (*judge.RateTest, error) {
	if st.Stage == plan.StepShadow && b.cfg.Shadow == nil {
		return nil, badState("stage", st.Stage, "the strategy has no Shadow")
	}
	if st.Stage == plan.StepShadow && st.Shadow == nil {
		return nil, badState("shadowTest", nil, "missing in stage %q", st.Stage)
	}
	if b.cfg.Shadow == nil {
		return nil, nil
	}
	shadow, err := b.newShadowGate()
	if err != nil || st.Shadow == nil {
		return shadow, err
	}
	return shadow, config.Under(ErrBadCheckpoint, "shadowTest", shadow.Restore(*st.Shadow))
}

// restoreReference reads blue's reference figures, which the cut-over and
// the rollback window need.
func (b *blueGreen) restoreReference(st blueGreenState) (blueReference, error) {
	r := st.Ref
	if r == nil {
		if b.cfg.CompareWithPast && (st.CutAsked || st.Stage == plan.StepCutover) {
			return blueReference{}, badState("reference", nil, "missing in stage %q (cut-over asked: %v)", st.Stage, st.CutAsked)
		}
		return blueReference{}, nil
	}
	ref := blueReference{calls: r.Calls, errors: r.Errors, rate: r.Rate, quantile: r.Quantile,
		errTolerance: r.ErrTolerance, latBound: r.LatBound, latency: r.Latency}
	if !(ref.errTolerance > 0 && ref.errTolerance < 1) {
		return ref, badState("reference.errTolerance", ref.errTolerance, "want a rate strictly between 0 and 1")
	}
	if ref.latency && b.cfg.DisableLatency {
		return ref, badState("reference.latency", true, "the strategy's latency test is disabled")
	}
	return ref, nil
}

// restoreWindow makes the rollback window's tests from the reference, as
// the cut-over makes them, with the state's statistics; nil before the
// cut-over.
func (b *blueGreen) restoreWindow(st blueGreenState, ref blueReference) (errTest, latTest *judge.RateTest, err error) {
	if st.Stage != plan.StepCutover || !b.cfg.CompareWithPast {
		return nil, nil, nil // judged against blue over the same seconds, the window has the judge's tests
	}
	errTest, latTest, err = b.windowTests(ref)
	switch {
	case err != nil:
		return nil, nil, config.Under(ErrBadCheckpoint, "reference", err)
	case st.Errors == nil:
		return nil, nil, badState("errorTest", nil, "missing in stage %q", st.Stage)
	case (st.Latency != nil) != (latTest != nil):
		return nil, nil, badState("latencyTest", nil, "present = %v, the reference's latency test = %v", st.Latency != nil, latTest != nil)
	}
	if err := errTest.Restore(*st.Errors); err != nil {
		return nil, nil, config.Under(ErrBadCheckpoint, "errorTest", err)
	}
	if latTest != nil {
		if err := latTest.Restore(*st.Latency); err != nil {
			return nil, nil, config.Under(ErrBadCheckpoint, "latencyTest", err)
		}
	}
	return errTest, latTest, nil
}
