package sentinel

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
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
	Judge *JudgeState `json:"judge,omitempty"`
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

// StrategyState implements StatefulStrategy. A script's memory holds
// Starlark values (histograms, rate tests, structs) that a checkpoint does
// not save, so it returns nil: a restored Script starts with empty memory.
func (s *Script) StrategyState() (json.RawMessage, error) { return nil, nil }

// RestoreStrategyState implements StatefulStrategy. It rejects a
// checkpoint that holds a strategy state (a script saves none), and the
// blue/green script (BlueGreenScript), which keeps its stage and figures
// in memory, rejects a checkpoint past its warm-up, as BlueGreen does
// without its state. Other scripts start afresh on empty memory.
func (s *Script) RestoreStrategyState(cp Checkpoint) error {
	if len(cp.StrategyState) > 0 {
		return fmt.Errorf("ninelives: script %s keeps no state in a checkpoint, but the checkpoint holds one", s.Name())
	}
	if s.cfg.restoreCheck != nil {
		return s.cfg.restoreCheck(cp)
	}
	return nil
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
	judge, err := NewJudge(s.cfg.judge)
	if err != nil {
		return nil, err
	}
	if cp.Judge != nil {
		if err := judge.Restore(*cp.Judge); err != nil {
			return nil, err
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
	s.judge = judge
	s.verdict = judge.Verdict()
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

// JudgeState is a Judge's statistics: each enabled test's counts and the
// log values of its e-processes, and the configuration they were gathered
// under. Restore checks it against the judge's own configuration.
type JudgeState struct {
	// Config is the judge's configuration with the defaults filled in; it
	// must match the restoring judge's in every setting of the enabled
	// tests. A state without one (from before it was kept) is checked by
	// its budget and the shape of its statistics only.
	Config *JudgeConfig `json:"config,omitempty"`
	// Budget is the α of each test; it must match the restoring judge's.
	Budget  Budget            `json:"budget"`
	Errors  ErrorTestState    `json:"errors"`
	Latency *LatencyTestState `json:"latency,omitempty"`
	Shadow  *ShadowTestState  `json:"shadow,omitempty"`
}

// ErrorTestState is an ErrorTest's statistics.
type ErrorTestState struct {
	Looks      int   `json:"looks"`
	CandCalls  int64 `json:"candCalls"`
	CandErrors int64 `json:"candErrors"`
	BaseCalls  int64 `json:"baseCalls"`
	BaseErrors int64 `json:"baseErrors"`
	StepCalls  int64 `json:"stepCalls"`
	// LogE and LogPassE are the logs of the harm and tolerance e-values;
	// Harm and Pass the logs of their components' likelihood ratios.
	LogE     float64   `json:"logE"`
	LogPassE float64   `json:"logPassE"`
	Harm     []float64 `json:"harm"`
	Pass     []float64 `json:"pass,omitempty"`
	FailedAt int       `json:"failedAt,omitempty"`
	FailE    float64   `json:"failE,omitempty"`
	PassedAt int       `json:"passedAt,omitempty"`
}

// LatencyTestState is a LatencyTest's statistics.
type LatencyTestState struct {
	Looks     int       `json:"looks"`
	BoundsSet bool      `json:"boundsSet"`
	Bounds    []float64 `json:"bounds,omitempty"`
	// Cand and Base are the cumulative bucket counts.
	Cand     []uint64  `json:"cand,omitempty"`
	Base     []uint64  `json:"base,omitempty"`
	CandN    int64     `json:"candN"`
	BaseN    int64     `json:"baseN"`
	StepN    int64     `json:"stepN"`
	LogE     float64   `json:"logE"`
	Mix      []float64 `json:"mix"`
	FailedAt int       `json:"failedAt,omitempty"`
	FailE    float64   `json:"failE,omitempty"`
}

// ShadowTestState is a ShadowTest's statistics.
type ShadowTestState struct {
	Looks       int       `json:"looks"`
	Comparisons int64     `json:"comparisons"`
	Mismatches  int64     `json:"mismatches"`
	StepN       int64     `json:"stepN"`
	LogE        float64   `json:"logE"`
	Mix         []float64 `json:"mix"`
	FailedAt    int       `json:"failedAt,omitempty"`
	FailE       float64   `json:"failE,omitempty"`
}

// State returns the judge's statistics. A rejected last look is not part
// of it.
func (j *Judge) State() JudgeState {
	e := j.errors
	cfg := j.cfg
	st := JudgeState{
		Config: &cfg,
		Budget: j.budget,
		Errors: ErrorTestState{
			Looks: e.st.looks, CandCalls: e.st.candCalls, CandErrors: e.st.candErrs,
			BaseCalls: e.st.baseCalls, BaseErrors: e.st.baseErrs, StepCalls: e.st.stepCalls,
			LogE: e.st.logE, LogPassE: e.st.logPassE,
			Harm: slices.Clone(e.harm.logLR), Pass: slices.Clone(e.pass.logLR),
			FailedAt: e.st.failedAt, FailE: e.st.failE, PassedAt: e.st.passedAt,
		},
	}
	if l := j.latency; l != nil {
		st.Latency = &LatencyTestState{
			Looks: l.st.looks, BoundsSet: l.st.boundsSet, Bounds: slices.Clone(l.st.bounds),
			Cand: slices.Clone(l.st.cand), Base: slices.Clone(l.st.base),
			CandN: l.st.candN, BaseN: l.st.baseN, StepN: l.st.stepN,
			LogE: l.st.logE, Mix: slices.Clone(l.mix.logLR), FailedAt: l.st.failedAt, FailE: l.st.failE,
		}
		if !l.st.boundsSet {
			st.Latency.Bounds, st.Latency.Cand, st.Latency.Base = nil, nil, nil
		}
	}
	if s := j.shadow; s != nil {
		ss := s.state()
		st.Shadow = &ss
	}
	return st
}

// state returns the shadow test's statistics.
func (t *ShadowTest) state() ShadowTestState {
	return ShadowTestState{
		Looks: t.st.looks, Comparisons: t.st.n, Mismatches: t.st.m, StepN: t.st.stepN,
		LogE: t.st.logE, Mix: slices.Clone(t.mix.logLR), FailedAt: t.st.failedAt, FailE: t.st.failE,
	}
}

// restore replaces the shadow test's statistics with ss once they check
// out; it changes nothing otherwise. The error names the field without
// the package prefix.
func (t *ShadowTest) restore(ss ShadowTestState) error {
	if err := checkShadowState(ss, len(t.mix.logLR)); err != nil {
		return err
	}
	t.st = shadowState{looks: ss.Looks, n: ss.Comparisons, m: ss.Mismatches, stepN: ss.StepN, logE: ss.LogE, failedAt: ss.FailedAt, failE: ss.FailE}
	copy(t.mix.logLR, ss.Mix)
	return nil
}

// Restore replaces the judge's statistics with st, which must come from a
// judge with the same configuration. A state that does not fit (another
// configuration or budget, a test enabled in one and not the other, counts
// that do not add up, a value that is not finite) is rejected with an
// error naming the field, and the judge is left as it was.
func (j *Judge) Restore(st JudgeState) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadCheckpoint}, args...)...)
	}
	if st.Config != nil {
		cfg, err := st.Config.withDefaults()
		if err != nil {
			return bad("JudgeState.Config: %s", inner(err))
		}
		if diff := configDiff(cfg, j.cfg); diff != "" {
			return bad("JudgeState.Config.%s: the judge is configured differently", diff)
		}
	}
	if st.Budget != j.budget {
		return bad("JudgeState.Budget = %+v, this judge's is %+v: the judge is configured differently", st.Budget, j.budget)
	}
	if err := checkErrorState(st.Errors, j.errors); err != nil {
		return bad("JudgeState.Errors.%v", err)
	}
	if (st.Latency != nil) != (j.latency != nil) {
		return bad("JudgeState.Latency present = %v, the judge's latency test enabled = %v", st.Latency != nil, j.latency != nil)
	}
	if st.Latency != nil {
		if err := checkLatencyState(*st.Latency); err != nil {
			return bad("JudgeState.Latency.%v", err)
		}
	}
	if (st.Shadow != nil) != (j.shadow != nil) {
		return bad("JudgeState.Shadow present = %v, the judge's shadow test enabled = %v", st.Shadow != nil, j.shadow != nil)
	}
	if st.Shadow != nil {
		if err := checkShadowState(*st.Shadow, len(j.shadow.mix.logLR)); err != nil {
			return bad("JudgeState.Shadow.%v", err)
		}
	}

	j.rejected = nil
	e, es := j.errors, st.Errors
	e.st = errorState{
		looks: es.Looks, candCalls: es.CandCalls, candErrs: es.CandErrors, baseCalls: es.BaseCalls, baseErrs: es.BaseErrors,
		stepCalls: es.StepCalls, logE: es.LogE, logPassE: es.LogPassE, failedAt: es.FailedAt, passedAt: es.PassedAt, failE: es.FailE,
	}
	copy(e.harm.logLR, es.Harm)
	copy(e.pass.logLR, es.Pass)
	if l, ls := j.latency, st.Latency; l != nil {
		l.st = latencyState{
			looks: ls.Looks, boundsSet: ls.BoundsSet, bounds: slices.Clone(ls.Bounds), cand: slices.Clone(ls.Cand), base: slices.Clone(ls.Base),
			candN: ls.CandN, baseN: ls.BaseN, stepN: ls.StepN, logE: ls.LogE, failedAt: ls.FailedAt, failE: ls.FailE,
		}
		copy(l.mix.logLR, ls.Mix)
		l.sizeScratch()
	}
	if s := j.shadow; s != nil {
		_ = s.restore(*st.Shadow) // checked above
	}
	return nil
}

// configDiff names the first setting in which two defaults-filled judge
// configurations differ, with both values, or returns "". The settings of
// a test that both leave disabled do not count.
func configDiff(saved, mine JudgeConfig) string {
	if saved.DisableLatency && mine.DisableLatency {
		saved.Latency, mine.Latency = LatencyConfig{}, LatencyConfig{}
		saved.Shares.Latency, mine.Shares.Latency = 0, 0
	}
	if !saved.EnableShadow && !mine.EnableShadow {
		saved.Shadow, mine.Shadow = ShadowConfig{}, ShadowConfig{}
		saved.Shares.Shadow, mine.Shares.Shadow = 0, 0
	}
	return fieldDiff("", reflect.ValueOf(saved), reflect.ValueOf(mine))
}

func fieldDiff(path string, a, b reflect.Value) string {
	if a.Kind() != reflect.Struct {
		if a.Interface() != b.Interface() {
			return fmt.Sprintf("%s = %v, this judge's is %v", path, a.Interface(), b.Interface())
		}
		return ""
	}
	for i := range a.NumField() {
		name := a.Type().Field(i).Name
		if path != "" {
			name = path + "." + name
		}
		if d := fieldDiff(name, a.Field(i), b.Field(i)); d != "" {
			return d
		}
	}
	return ""
}

func finiteAll(field string, vs ...float64) error {
	for i, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(vs) == 1 {
				return fmt.Errorf("%s = %v, want a finite number", field, v)
			}
			return fmt.Errorf("%s[%d] = %v, want a finite number", field, i, v)
		}
	}
	return nil
}

func checkLooks(looks int, at map[string]int) error {
	if looks < 0 {
		return fmt.Errorf("Looks = %d, want ≥ 0", looks)
	}
	for _, name := range []string{"FailedAt", "PassedAt"} {
		if v, ok := at[name]; ok && (v < 0 || v > looks) {
			return fmt.Errorf("%s = %d, want 0..Looks (%d)", name, v, looks)
		}
	}
	return nil
}

func checkErrorState(s ErrorTestState, t *ErrorTest) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt, "PassedAt": s.PassedAt}); err != nil {
		return err
	}
	if err := checkCounts("", s.CandCalls, s.CandErrors, 0, "CandCalls", "CandErrors"); err != nil {
		return errors.New(inner(err))
	}
	if err := checkCounts("", s.BaseCalls, s.BaseErrors, 0, "BaseCalls", "BaseErrors"); err != nil {
		return errors.New(inner(err))
	}
	if s.StepCalls < 0 || s.StepCalls > s.CandCalls {
		return fmt.Errorf("StepCalls = %d, want 0..CandCalls (%d)", s.StepCalls, s.CandCalls)
	}
	if len(s.Harm) != len(t.harm.logLR) {
		return fmt.Errorf("Harm has %d components, the test mixes %d", len(s.Harm), len(t.harm.logLR))
	}
	if len(s.Pass) != len(t.pass.logLR) {
		return fmt.Errorf("Pass has %d components, the test mixes %d (is the tolerance the same?)", len(s.Pass), len(t.pass.logLR))
	}
	for _, f := range []struct {
		name string
		vs   []float64
	}{{"LogE", []float64{s.LogE}}, {"LogPassE", []float64{s.LogPassE}}, {"FailE", []float64{s.FailE}}, {"Harm", s.Harm}, {"Pass", s.Pass}} {
		if err := finiteAll(f.name, f.vs...); err != nil {
			return err
		}
	}
	return nil
}

func checkLatencyState(s LatencyTestState) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt}); err != nil {
		return err
	}
	if len(s.Mix) != len(latencyTilts) {
		return fmt.Errorf("Mix has %d components, the test mixes %d", len(s.Mix), len(latencyTilts))
	}
	if err := finiteAll("Mix", s.Mix...); err != nil {
		return err
	}
	if err := finiteAll("LogE", s.LogE); err != nil {
		return err
	}
	if err := finiteAll("FailE", s.FailE); err != nil {
		return err
	}
	if s.CandN < 0 || s.BaseN < 0 || s.StepN < 0 || s.StepN > s.CandN {
		return fmt.Errorf("CandN, BaseN, StepN = %d, %d, %d: want counts ≥ 0 and StepN ≤ CandN", s.CandN, s.BaseN, s.StepN)
	}
	if !s.BoundsSet {
		if len(s.Bounds)+len(s.Cand)+len(s.Base) > 0 || s.CandN+s.BaseN > 0 {
			return fmt.Errorf("BoundsSet = false with %d bounds and %d+%d samples", len(s.Bounds), s.CandN, s.BaseN)
		}
		return nil
	}
	h := Histogram{Bounds: s.Bounds, Counts: s.Cand}
	if err := h.Validate("Cand"); err != nil {
		return errors.New(inner(err))
	}
	if len(s.Cand) != len(s.Bounds)+1 || len(s.Base) != len(s.Bounds)+1 {
		return fmt.Errorf("Cand and Base have %d and %d counts for %d bounds, want %d", len(s.Cand), len(s.Base), len(s.Bounds), len(s.Bounds)+1)
	}
	if err := (Histogram{Bounds: s.Bounds, Counts: s.Base}).Validate("Base"); err != nil {
		return errors.New(inner(err))
	}
	if n := h.Total(); n != uint64(s.CandN) {
		return fmt.Errorf("Cand holds %d samples, CandN = %d", n, s.CandN)
	}
	if n := (Histogram{Bounds: s.Bounds, Counts: s.Base}).Total(); n != uint64(s.BaseN) {
		return fmt.Errorf("Base holds %d samples, BaseN = %d", n, s.BaseN)
	}
	return nil
}

func checkShadowState(s ShadowTestState, components int) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt}); err != nil {
		return err
	}
	if err := checkCounts("", s.Comparisons, s.Mismatches, 0, "Comparisons", "Mismatches"); err != nil {
		return errors.New(inner(err))
	}
	if s.StepN < 0 || s.StepN > s.Comparisons {
		return fmt.Errorf("StepN = %d, want 0..Comparisons (%d)", s.StepN, s.Comparisons)
	}
	if len(s.Mix) != components {
		return fmt.Errorf("Mix has %d components, the test mixes %d (is the tolerance the same?)", len(s.Mix), components)
	}
	if err := finiteAll("Mix", s.Mix...); err != nil {
		return err
	}
	if err := finiteAll("LogE", s.LogE); err != nil {
		return err
	}
	return finiteAll("FailE", s.FailE)
}

// inner is an error's text without the package prefix, to be quoted inside
// another error.
func inner(err error) string { return strings.TrimPrefix(err.Error(), "ninelives: ") }
