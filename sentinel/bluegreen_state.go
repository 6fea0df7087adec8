package sentinel

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/telemetry"
)

var _ StatefulStrategy = (*BlueGreen)(nil)

// blueGreenResumable says whether a blue/green rollout can be carried on
// from cp without the strategy's state: only before its shadow step and
// cut-over, or once it has ended.
func blueGreenResumable(cp Checkpoint) error {
	if !cp.Phase.Final() && cp.Step > 0 && cp.StepName != StepWarmup {
		return fmt.Errorf("ninelives: the blue/green rollout is in step %d (%q), past the warm-up, and the checkpoint holds no blue/green state "+
			"(its stage, gates and blue's reference figures) to carry it on from; abort the rollout or start it again", cp.Step, cp.StepName)
	}
	return nil
}

// blueGreenState is what a BlueGreen keeps from tick to tick, as
// StrategyState saves it: the stage, the warm-up's report, blue's figures
// before the cut-over, the gates' statistics and the reference green is
// judged against.
type blueGreenState struct {
	Stage    string              `json:"stage"`
	Report   *warmup.Report      `json:"warmupReport,omitempty"`
	Blue     []blueTickState     `json:"blue,omitempty"`
	Shadow   *ShadowTestState    `json:"shadowTest,omitempty"`
	CutAsked bool                `json:"cutAsked,omitempty"`
	CutAt    time.Time           `json:"cutAt,omitzero"`
	Ref      *blueReferenceState `json:"reference,omitempty"`
	Errors   *ShadowTestState    `json:"errorTest,omitempty"`
	Latency  *ShadowTestState    `json:"latencyTest,omitempty"`
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
func (b *BlueGreen) StrategyState() (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := blueGreenState{Stage: b.stage, Report: b.report, CutAsked: b.cutAsked, CutAt: b.cutAt}
	for _, t := range b.blue {
		st.Blue = append(st.Blue, blueTickState{At: t.at, Window: t.w})
	}
	if b.shadow != nil {
		ss := b.shadow.state()
		st.Shadow = &ss
	}
	if b.cutAsked || b.stage == StepCutover {
		r := b.ref
		st.Ref = &blueReferenceState{Calls: r.calls, Errors: r.errors, Rate: r.rate, Quantile: r.quantile,
			ErrTolerance: r.errTolerance, LatBound: r.latBound, Latency: r.latency}
	}
	if b.errTest != nil {
		es := b.errTest.state()
		st.Errors = &es
	}
	if b.latTest != nil {
		ls := b.latTest.state()
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
func (b *BlueGreen) RestoreStrategyState(cp Checkpoint) error {
	var st blueGreenState
	if len(cp.StrategyState) == 0 {
		if err := blueGreenResumable(cp); err != nil {
			return err
		}
	} else if err := json.Unmarshal(cp.StrategyState, &st); err != nil {
		return fmt.Errorf("ninelives: blue/green state: %v", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("ninelives: blue/green state: "+format, args...)
	}
	switch st.Stage {
	case "", StepWarmup, StepShadow, StepCutover:
	default:
		return bad("stage %q, want %q, %q, %q or none", st.Stage, StepWarmup, StepShadow, StepCutover)
	}
	if st.Stage == StepShadow && b.cfg.Shadow == nil {
		return bad("stage %q, but the strategy has no Shadow", st.Stage)
	}
	blue := make([]blueTick, 0, len(st.Blue))
	for i, t := range st.Blue {
		w := new(telemetry.Window)
		if t.Window == nil {
			return bad("blue[%d] has no window", i)
		}
		if err := w.Merge(t.Window); err != nil {
			return bad("blue[%d]: %s", i, inner(err))
		}
		blue = append(blue, blueTick{at: t.At, w: w})
	}
	// The shadow gate: the checkpoint's statistics, or a fresh gate.
	var shadow *ShadowTest
	if b.cfg.Shadow != nil {
		var err error
		if shadow, err = b.newShadowGate(); err != nil {
			return err
		}
		if st.Shadow != nil {
			if err := shadow.restore(*st.Shadow); err != nil {
				return bad("shadowTest.%v", inner(err))
			}
		}
	}
	if st.Stage == StepShadow && st.Shadow == nil {
		return bad("stage %q without the shadow gate's statistics", st.Stage)
	}

	var ref blueReference
	if st.Ref != nil {
		r := st.Ref
		ref = blueReference{calls: r.Calls, errors: r.Errors, rate: r.Rate, quantile: r.Quantile,
			errTolerance: r.ErrTolerance, latBound: r.LatBound, latency: r.Latency}
		if !(ref.errTolerance > 0 && ref.errTolerance < 1) {
			return bad("reference.errTolerance = %v, want a rate strictly between 0 and 1", ref.errTolerance)
		}
		if ref.latency && b.cfg.DisableLatency {
			return bad("reference.latency is set, but the strategy's latency test is disabled")
		}
	} else if st.CutAsked || st.Stage == StepCutover {
		return bad("stage %q (cut-over asked: %v) without blue's reference figures", st.Stage, st.CutAsked)
	}
	// The window's tests, made from the reference as the cut-over makes
	// them, then given their statistics.
	var errTest, latTest *ShadowTest
	if st.Stage == StepCutover {
		var err error
		errTest, latTest, err = b.windowTests(ref)
		switch {
		case err != nil:
			return bad("rollback window: %s", inner(err))
		case st.Errors == nil:
			return bad("stage %q without the rollback window's error test", st.Stage)
		case (st.Latency != nil) != (latTest != nil):
			return bad("latencyTest present = %v, the reference's latency test = %v", st.Latency != nil, latTest != nil)
		}
		if err := errTest.restore(*st.Errors); err != nil {
			return bad("errorTest.%v", inner(err))
		}
		if latTest != nil {
			if err := latTest.restore(*st.Latency); err != nil {
				return bad("latencyTest.%v", inner(err))
			}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.stage = st.Stage
	if st.Stage == "" || st.Stage == StepWarmup {
		// A warm-up of the strategy's own that is still running goes on,
		// and its report is the one the rollout waits for; without one, the
		// next tick starts the warm-up again.
		b.stage = ""
		if b.warmupRunningLocked() {
			b.stage = StepWarmup
		}
	}
	if !b.warmupRunningLocked() {
		b.warmErr = nil
	}
	b.report = st.Report
	b.blue = blue
	b.shadow = shadow
	b.cutAsked, b.cutAt, b.ref = st.CutAsked, st.CutAt, ref
	b.errTest, b.latTest = errTest, latTest
	return nil
}
