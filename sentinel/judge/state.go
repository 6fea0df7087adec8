package judge

import (
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/ninelives-go/ninelives/internal/config"
)

// State is a Judge's statistics: each enabled test's counts and the log
// values of its e-processes, and the configuration they were gathered
// under. A Judge restored from it carries the rollout on with the same
// evidence, so α is spent once over the whole rollout however many judges
// take turns. It encodes to JSON.
type State struct {
	// Config is the judge's configuration with the defaults filled in; it
	// must match the restoring judge's in every setting of the enabled
	// tests. A state without one (from before it was kept) is checked by
	// its budget and the shape of its statistics only.
	Config *Config `json:"config,omitempty"`
	// Budget is the α of each test; it must match the restoring judge's.
	Budget  Budget        `json:"budget"`
	Errors  errorStats    `json:"errors"`
	Latency *latencyStats `json:"latency,omitempty"`
	Shadow  *RateState    `json:"shadow,omitempty"`
}

// errorStats is the errors test's statistics.
type errorStats struct {
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

// latencyStats is the latency test's statistics.
type latencyStats struct {
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

// RateState is a RateTest's statistics, as State and NewRateTest's users
// (blue/green's gates) save them.
type RateState struct {
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
func (j *Judge) State() State {
	cfg := j.cfg
	st := State{Config: &cfg, Budget: j.budget, Errors: j.errors.state()}
	if l := j.latency; l != nil {
		ls := l.state()
		st.Latency = &ls
	}
	if s := j.shadow; s != nil {
		ss := s.State()
		st.Shadow = &ss
	}
	return st
}

func (t *errorTest) state() errorStats {
	return errorStats{
		Looks: t.st.looks, CandCalls: t.st.candCalls, CandErrors: t.st.candErrs,
		BaseCalls: t.st.baseCalls, BaseErrors: t.st.baseErrs, StepCalls: t.st.stepCalls,
		LogE: t.st.logE, LogPassE: t.st.logPassE,
		Harm: slices.Clone(t.harm.logLR), Pass: slices.Clone(t.pass.logLR),
		FailedAt: t.st.failedAt, FailE: t.st.failE, PassedAt: t.st.passedAt,
	}
}

func (t *latencyTest) state() latencyStats {
	ls := latencyStats{
		Looks: t.st.looks, BoundsSet: t.st.boundsSet, Bounds: slices.Clone(t.st.bounds),
		Cand: slices.Clone(t.st.cand), Base: slices.Clone(t.st.base),
		CandN: t.st.candN, BaseN: t.st.baseN, StepN: t.st.stepN,
		LogE: t.st.logE, Mix: slices.Clone(t.mix.logLR), FailedAt: t.st.failedAt, FailE: t.st.failE,
	}
	if !t.st.boundsSet {
		ls.Bounds, ls.Cand, ls.Base = nil, nil, nil
	}
	return ls
}

// State returns the test's statistics.
func (t *RateTest) State() RateState {
	return RateState{
		Looks: t.st.looks, Comparisons: t.st.n, Mismatches: t.st.m, StepN: t.st.stepN,
		LogE: t.st.logE, Mix: slices.Clone(t.mix.logLR), FailedAt: t.st.failedAt, FailE: t.st.failE,
	}
}

// Restore replaces the test's statistics with rs, from a test of the same
// configuration, once they check out; it changes nothing otherwise. The
// error wraps ErrBadState and names the field.
func (t *RateTest) Restore(rs RateState) error {
	if err := checkRateState(rs, len(t.mix.logLR)); err != nil {
		return err
	}
	t.st = rateState{progress: saved(rs.Looks, rs.FailedAt, rs.LogE, rs.FailE), n: rs.Comparisons, m: rs.Mismatches, stepN: rs.StepN}
	copy(t.mix.logLR, rs.Mix)
	return nil
}

// Restore replaces the judge's statistics with st, which must come from a
// judge with the same configuration. A state that does not fit (another
// configuration or budget, a test enabled in one and not the other, counts
// that do not add up, a value that is not finite) is rejected with an
// error that wraps ErrBadState and names the field, and the judge is left
// as it was.
func (j *Judge) Restore(st State) error {
	if err := j.checkState(st); err != nil {
		return err
	}
	j.rejected = nil
	j.errors.restore(st.Errors)
	if l := j.latency; l != nil {
		l.restore(*st.Latency)
	}
	if s := j.shadow; s != nil {
		_ = s.Restore(*st.Shadow) // checked above
	}
	return nil
}

// checkState checks st against the judge's configuration and tests.
func (j *Judge) checkState(st State) error {
	if st.Config != nil {
		cfg, err := st.Config.withDefaults()
		if err != nil {
			return config.Under(ErrBadState, "Config", err)
		}
		if field, saved, mine := configDiff(cfg, j.cfg); field != "" {
			return config.Errorf(ErrBadState, "Config."+field, saved, "this judge's is %v: the judge is configured differently", mine)
		}
	}
	if st.Budget != j.budget {
		return config.Errorf(ErrBadState, "Budget", fmt.Sprintf("%+v", st.Budget), "this judge's is %+v: the judge is configured differently", j.budget)
	}
	if err := checkErrorsState(st.Errors, j.errors); err != nil {
		return config.Under(ErrBadState, "Errors", err)
	}
	if (st.Latency != nil) != (j.latency != nil) {
		return config.Errorf(ErrBadState, "Latency", nil, "present = %v, the judge's latency test enabled = %v", st.Latency != nil, j.latency != nil)
	}
	if st.Latency != nil {
		if err := checkLatencyState(*st.Latency); err != nil {
			return config.Under(ErrBadState, "Latency", err)
		}
	}
	if (st.Shadow != nil) != (j.shadow != nil) {
		return config.Errorf(ErrBadState, "Shadow", nil, "present = %v, the judge's shadow test enabled = %v", st.Shadow != nil, j.shadow != nil)
	}
	if st.Shadow != nil {
		return config.Under(ErrBadState, "Shadow", checkRateState(*st.Shadow, len(j.shadow.mix.logLR)))
	}
	return nil
}

func (t *errorTest) restore(es errorStats) {
	t.st = errorState{
		progress: saved(es.Looks, es.FailedAt, es.LogE, es.FailE), candCalls: es.CandCalls, candErrs: es.CandErrors,
		baseCalls: es.BaseCalls, baseErrs: es.BaseErrors, stepCalls: es.StepCalls, logPassE: es.LogPassE, passedAt: es.PassedAt,
	}
	copy(t.harm.logLR, es.Harm)
	copy(t.pass.logLR, es.Pass)
}

func (t *latencyTest) restore(ls latencyStats) {
	t.st = latencyState{
		progress: saved(ls.Looks, ls.FailedAt, ls.LogE, ls.FailE), boundsSet: ls.BoundsSet,
		bounds: slices.Clone(ls.Bounds), cand: slices.Clone(ls.Cand), base: slices.Clone(ls.Base),
		candN: ls.CandN, baseN: ls.BaseN, stepN: ls.StepN,
	}
	copy(t.mix.logLR, ls.Mix)
	t.sizeScratch()
}

// saved is the progress a saved test had made.
func saved(looks, failedAt int, logE, failE float64) progress {
	return progress{looks: looks, failedAt: failedAt, logE: logE, failE: failE}
}

// configDiff names the first setting in which two defaults-filled judge
// configurations differ, with both values, or returns "". The settings of
// a test that both leave disabled do not count.
func configDiff(saved, mine Config) (field string, a, b any) {
	if saved.DisableLatency && mine.DisableLatency {
		saved.Latency, mine.Latency = LatencyConfig{}, LatencyConfig{}
		saved.Shares.Latency, mine.Shares.Latency = 0, 0
	}
	if !saved.EnableShadow && !mine.EnableShadow {
		saved.Shadow, mine.Shadow = MismatchConfig{}, MismatchConfig{}
		saved.Shares.Shadow, mine.Shares.Shadow = 0, 0
	}
	return fieldDiff("", reflect.ValueOf(saved), reflect.ValueOf(mine))
}

func fieldDiff(path string, a, b reflect.Value) (field string, av, bv any) {
	if a.Kind() != reflect.Struct {
		if a.Interface() != b.Interface() {
			return path, a.Interface(), b.Interface()
		}
		return "", nil, nil
	}
	for i := range a.NumField() {
		name := a.Type().Field(i).Name
		if path != "" {
			name = path + "." + name
		}
		if f, x, y := fieldDiff(name, a.Field(i), b.Field(i)); f != "" {
			return f, x, y
		}
	}
	return "", nil, nil
}

func finiteAll(field string, vs ...float64) error {
	for i, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(vs) == 1 {
				return config.Errorf(ErrBadState, field, v, "want a finite number")
			}
			return config.Errorf(ErrBadState, fmt.Sprintf("%s[%d]", field, i), v, "want a finite number")
		}
	}
	return nil
}

// named is a list of saved values and its field's name.
type named struct {
	name string
	vs   []float64
}

// checkFinite checks lists of values, in order.
func checkFinite(lists ...named) error {
	for _, l := range lists {
		if err := finiteAll(l.name, l.vs...); err != nil {
			return err
		}
	}
	return nil
}

func checkLooks(looks int, at map[string]int) error {
	if looks < 0 {
		return config.Errorf(ErrBadState, "Looks", looks, "want ≥ 0")
	}
	for _, name := range []string{"FailedAt", "PassedAt"} {
		if v, ok := at[name]; ok && (v < 0 || v > looks) {
			return config.Errorf(ErrBadState, name, v, "want 0..Looks (%d)", looks)
		}
	}
	return nil
}

func checkErrorsState(s errorStats, t *errorTest) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt, "PassedAt": s.PassedAt}); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.CandCalls, s.CandErrors, 0, "CandCalls", "CandErrors"); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.BaseCalls, s.BaseErrors, 0, "BaseCalls", "BaseErrors"); err != nil {
		return err
	}
	switch {
	case s.StepCalls < 0 || s.StepCalls > s.CandCalls:
		return config.Errorf(ErrBadState, "StepCalls", s.StepCalls, "want 0..CandCalls (%d)", s.CandCalls)
	case len(s.Harm) != len(t.harm.logLR):
		return config.Errorf(ErrBadState, "Harm", nil, "%d components, the test mixes %d", len(s.Harm), len(t.harm.logLR))
	case len(s.Pass) != len(t.pass.logLR):
		return config.Errorf(ErrBadState, "Pass", nil, "%d components, the test mixes %d (is the tolerance the same?)", len(s.Pass), len(t.pass.logLR))
	}
	return checkFinite(named{"LogE", []float64{s.LogE}}, named{"LogPassE", []float64{s.LogPassE}}, named{"FailE", []float64{s.FailE}}, named{"Harm", s.Harm}, named{"Pass", s.Pass})
}

func checkLatencyState(s latencyStats) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt}); err != nil {
		return err
	}
	if len(s.Mix) != len(latencyTilts) {
		return config.Errorf(ErrBadState, "Mix", nil, "%d components, the test mixes %d", len(s.Mix), len(latencyTilts))
	}
	if err := checkFinite(named{"Mix", s.Mix}, named{"LogE", []float64{s.LogE}}, named{"FailE", []float64{s.FailE}}); err != nil {
		return err
	}
	if s.CandN < 0 || s.BaseN < 0 || s.StepN < 0 || s.StepN > s.CandN {
		return config.Errorf(ErrBadState, "CandN, BaseN, StepN", fmt.Sprintf("%d, %d, %d", s.CandN, s.BaseN, s.StepN), "want counts ≥ 0 and StepN ≤ CandN")
	}
	if !s.BoundsSet {
		if len(s.Bounds)+len(s.Cand)+len(s.Base) > 0 || s.CandN+s.BaseN > 0 {
			return config.Errorf(ErrBadState, "BoundsSet", false, "with %d bounds and %d+%d samples", len(s.Bounds), s.CandN, s.BaseN)
		}
		return nil
	}
	return checkLatencyCounts(s)
}

// checkLatencyCounts checks the cumulative buckets of a latency state.
func checkLatencyCounts(s latencyStats) error {
	cand, base := Buckets{Bounds: s.Bounds, Counts: s.Cand}, Buckets{Bounds: s.Bounds, Counts: s.Base}
	if err := cand.Validate("Cand"); err != nil {
		return config.Under(ErrBadState, "", err)
	}
	if len(s.Cand) != len(s.Bounds)+1 || len(s.Base) != len(s.Bounds)+1 {
		return config.Errorf(ErrBadState, "Cand", nil, "Cand and Base have %d and %d counts for %d bounds, want %d", len(s.Cand), len(s.Base), len(s.Bounds), len(s.Bounds)+1)
	}
	if err := base.Validate("Base"); err != nil {
		return config.Under(ErrBadState, "", err)
	}
	if n := cand.total(); n != uint64(s.CandN) {
		return config.Errorf(ErrBadState, "Cand", nil, "holds %d samples, CandN = %d", n, s.CandN)
	}
	if n := base.total(); n != uint64(s.BaseN) {
		return config.Errorf(ErrBadState, "Base", nil, "holds %d samples, BaseN = %d", n, s.BaseN)
	}
	return nil
}

func checkRateState(s RateState, components int) error {
	if err := checkLooks(s.Looks, map[string]int{"FailedAt": s.FailedAt}); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.Comparisons, s.Mismatches, 0, "Comparisons", "Mismatches"); err != nil {
		return err
	}
	switch {
	case s.StepN < 0 || s.StepN > s.Comparisons:
		return config.Errorf(ErrBadState, "StepN", s.StepN, "want 0..Comparisons (%d)", s.Comparisons)
	case len(s.Mix) != components:
		return config.Errorf(ErrBadState, "Mix", nil, "%d components, the test mixes %d (is the tolerance the same?)", len(s.Mix), components)
	}
	return checkFinite(named{"Mix", s.Mix}, named{"LogE", []float64{s.LogE}}, named{"FailE", []float64{s.FailE}})
}
