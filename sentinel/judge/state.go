package judge

import (
	"slices"
)

// StateFormat is the format of the States this judge saves: 3 since the
// shadow test compares the copies' failures with their primaries' (2: the
// tests run as e-detectors with restarts, with the errors floor and the
// tail test). A state of another format is rejected by Restore.
const StateFormat = 3

// State is a Judge's statistics: each enabled test's counts and the log
// values of its detectors, and the configuration they were gathered under.
// A Judge restored from it carries the rollout on with the same evidence,
// so α is spent once over the whole rollout however many judges take
// turns. It encodes to JSON.
type State struct {
	// Format is StateFormat. A state without one was saved by an earlier
	// judge (before the restarts, the floor and the tail test) and cannot
	// carry on under this one's tests: Restore rejects it.
	Format int `json:"format"`
	// Config is the judge's configuration with the defaults filled in; it
	// must match the restoring judge's in every setting of the enabled
	// tests.
	Config *Config `json:"config,omitempty"`
	// Budget is the α of each test; it must match the restoring judge's.
	Budget  Budget        `json:"budget"`
	Errors  errorStats    `json:"errors"`
	Latency *latencyStats `json:"latency,omitempty"`
	Shadow  *RateState    `json:"shadow,omitempty"`
	// ShadowErrors is the shadow test's comparison of the copies that
	// failed on one side only: Comparisons counts them, Mismatches those
	// that failed on the candidate's side.
	ShadowErrors *RateState `json:"shadowErrors,omitempty"`
}

// progressStats is what every test saves of its progress.
type progressStats struct {
	Looks     int     `json:"looks"`
	LogE      float64 `json:"logE"`
	FailedAt  int     `json:"failedAt,omitempty"`
	FailE     float64 `json:"failE,omitempty"`
	FailSince int     `json:"failSince,omitempty"`
	Idle      int     `json:"idle,omitempty"`
}

// detectorStats is a detector's state: the log of each alternative's
// value, the look each one's evidence runs since, and how many informative
// looks (restarts) it has taken.
type detectorStats struct {
	LogR     []float64 `json:"logR"`
	Since    []int     `json:"since"`
	Restarts int       `json:"restarts"`
}

// errorStats is the errors test's statistics.
type errorStats struct {
	progressStats
	CandCalls  int64 `json:"candCalls"`
	CandErrors int64 `json:"candErrors"`
	BaseCalls  int64 `json:"baseCalls"`
	BaseErrors int64 `json:"baseErrors"`
	StepCalls  int64 `json:"stepCalls"`
	// Odds and Floor are the two parts' detectors; OddsAt/FloorAt the
	// looks at which each reached the threshold, OddsE/FloorE their log
	// e-values then.
	Odds    detectorStats `json:"odds"`
	Floor   detectorStats `json:"floor"`
	OddsAt  int           `json:"oddsAt,omitempty"`
	OddsE   float64       `json:"oddsE,omitempty"`
	FloorAt int           `json:"floorAt,omitempty"`
	FloorE  float64       `json:"floorE,omitempty"`
	// LogPassE and Pass are the tolerance test's log e-value and the logs
	// of its components' likelihood ratios.
	LogPassE float64   `json:"logPassE"`
	Pass     []float64 `json:"pass,omitempty"`
	PassedAt int       `json:"passedAt,omitempty"`
	// RefErrors and RefCalls are the baseline's decayed counts, and
	// Dispersion the clustering of its errors (dispersion.go).
	RefErrors  float64         `json:"refErrors"`
	RefCalls   float64         `json:"refCalls"`
	Dispersion dispersionStats `json:"dispersion"`
}

// latencyStats is the latency test's statistics.
type latencyStats struct {
	progressStats
	BoundsSet bool      `json:"boundsSet"`
	Bounds    []float64 `json:"bounds,omitempty"`
	// Cand and Base are the cumulative bucket counts, CandN and BaseN
	// their totals.
	Cand  []uint64 `json:"cand,omitempty"`
	Base  []uint64 `json:"base,omitempty"`
	CandN int64    `json:"candN"`
	BaseN int64    `json:"baseN"`
	// StepN counts the candidate's samples in the current step.
	StepN int64 `json:"stepN"`
	// Detector is the detector of the centre's and the tails'
	// alternatives.
	Detector detectorStats `json:"detector"`
	// Part is the part that carried the statistic when the test failed.
	Part string `json:"part,omitempty"`
	// Ref is the decayed baseline histogram the tail thresholds come
	// from, RefN its total.
	Ref   []float64   `json:"ref,omitempty"`
	RefN  float64     `json:"refN,omitempty"`
	Tails []tailStats `json:"tails,omitempty"`
	// Dispersion is each part's clustering (the centre's, then each
	// quantile's; dispersion.go).
	Dispersion []dispersionStats `json:"dispersion"`
}

// dispersionStats is one part's clustering: the decayed sums of z − 1 and
// of its weight, and the last look's threshold bucket (−1: none), calls
// above it and calls.
type dispersionStats struct {
	Z float64 `json:"z"`
	N float64 `json:"n"`
	K int     `json:"k"`
	Y float64 `json:"y"`
	M float64 `json:"m"`
}

func (d dispersion) state() dispersionStats {
	return dispersionStats{Z: d.z, N: d.n, K: d.k, Y: d.y, M: d.m}
}

func (d dispersionStats) dispersion() dispersion {
	return dispersion{z: d.Z, n: d.N, k: d.K, y: d.Y, m: d.M}
}

// tailStats is one watched quantile's statistics: its thresholds at the
// last tested look (−1: none yet), the looks it was tested in, and the
// calls above the thresholds over them.
type tailStats struct {
	K         int   `json:"k"`
	M         int   `json:"m"`
	Looks     int   `json:"looks"`
	CandAbove int64 `json:"candAbove"`
	BaseAbove int64 `json:"baseAbove"`
	CandCalls int64 `json:"candCalls"`
	BaseCalls int64 `json:"baseCalls"`
}

// RateState is a RateTest's statistics, as State and NewRateTest's users
// (blue/green's gates) save them. A state without Since (saved before the
// restarts) restores a test without restarts as it was.
type RateState struct {
	Looks       int       `json:"looks"`
	Comparisons int64     `json:"comparisons"`
	Mismatches  int64     `json:"mismatches"`
	StepN       int64     `json:"stepN"`
	LogE        float64   `json:"logE"`
	Mix         []float64 `json:"mix"`
	Since       []int     `json:"since,omitempty"`
	Restarts    int       `json:"restarts,omitempty"`
	FailedAt    int       `json:"failedAt,omitempty"`
	FailE       float64   `json:"failE,omitempty"`
	FailSince   int       `json:"failSince,omitempty"`
	Idle        int       `json:"idle,omitempty"`
}

// State returns the judge's statistics. A rejected last look is not part
// of it.
func (j *Judge) State() State {
	cfg := j.cfg
	st := State{Format: StateFormat, Config: &cfg, Budget: j.budget, Errors: j.errors.state()}
	if l := j.latency; l != nil {
		ls := l.state()
		st.Latency = &ls
	}
	if s := j.shadow; s != nil {
		ss, es := s.State(), j.shadowErrors.State()
		st.Shadow, st.ShadowErrors = &ss, &es
	}
	return st
}

func (p progress) state() progressStats {
	return progressStats{Looks: p.looks, LogE: p.logE, FailedAt: p.failedAt, FailE: p.failE, FailSince: p.failSince, Idle: p.idle}
}

func (d *detector) state() detectorStats {
	return detectorStats{LogR: slices.Clone(d.logR), Since: slices.Clone(d.since), Restarts: d.n}
}

func (t *errorTest) state() errorStats {
	es := errorStats{
		progressStats: t.st.progress.state(),
		CandCalls:     t.st.candCalls, CandErrors: t.st.candErrs, BaseCalls: t.st.baseCalls, BaseErrors: t.st.baseErrs, StepCalls: t.st.stepCalls,
		Odds: t.odds.state(), Floor: t.floor.state(),
		OddsAt: t.st.odds.at, OddsE: t.st.odds.logE, FloorAt: t.st.floor.at, FloorE: t.st.floor.logE,
		LogPassE: t.st.logPassE, PassedAt: t.st.passedAt,
		RefErrors: t.st.refErrs, RefCalls: t.st.refCalls, Dispersion: t.st.disp.state(),
	}
	if t.pass.logR != nil {
		es.Pass = slices.Clone(t.pass.logR)
	}
	return es
}

func (t *latencyTest) state() latencyStats {
	ls := latencyStats{
		progressStats: t.st.progress.state(), BoundsSet: t.st.boundsSet,
		CandN: t.st.candN, BaseN: t.st.baseN, StepN: t.st.stepN, Detector: t.det.state(), Part: t.st.part,
	}
	if t.st.boundsSet {
		ls.Bounds, ls.Cand, ls.Base = slices.Clone(t.st.bounds), slices.Clone(t.st.cand), slices.Clone(t.st.base)
		ls.Ref, ls.RefN = slices.Clone(t.st.ref), t.st.refN
	}
	for _, ts := range t.st.tails {
		ls.Tails = append(ls.Tails, tailStats{K: ts.k, M: ts.m, Looks: ts.looks, CandAbove: ts.x, BaseAbove: ts.y, CandCalls: ts.n1, BaseCalls: ts.n0})
	}
	for _, d := range t.st.disp {
		ls.Dispersion = append(ls.Dispersion, d.state())
	}
	return ls
}

// State returns the test's statistics.
func (t *RateTest) State() RateState {
	d := t.mix.state()
	return RateState{
		Looks: t.st.looks, Comparisons: t.st.n, Mismatches: t.st.m, StepN: t.st.stepN,
		LogE: t.st.logE, Mix: d.LogR, Since: d.Since, Restarts: d.Restarts,
		FailedAt: t.st.failedAt, FailE: t.st.failE, FailSince: t.st.failSince, Idle: t.st.idle,
	}
}

// Restore replaces the test's statistics with rs, from a test of the same
// configuration, once they check out; it changes nothing otherwise. The
// error wraps ErrBadState and names the field.
func (t *RateTest) Restore(rs RateState) error {
	ds := rs.detector()
	if err := checkRateState(rs, ds, &t.mix); err != nil {
		return err
	}
	t.st = rateState{progress: rs.progress().progress(), n: rs.Comparisons, m: rs.Mismatches, stepN: rs.StepN}
	t.mix.restore(ds)
	t.st.since = t.mix.sinceLook()
	return nil
}

// detector is the saved detector of the test; a state without Since (saved
// before the restarts) has its evidence since the start.
func (rs RateState) detector() detectorStats {
	ds := detectorStats{LogR: rs.Mix, Since: rs.Since, Restarts: rs.Restarts}
	if ds.Since == nil {
		ds.Since = ones(len(rs.Mix))
	}
	return ds
}

// progress is the test's saved progress.
func (rs RateState) progress() progressStats {
	return progressStats{Looks: rs.Looks, LogE: rs.LogE, FailedAt: rs.FailedAt, FailE: rs.FailE, FailSince: rs.FailSince, Idle: rs.Idle}
}

// ones returns k ones: evidence since the start, for each alternative.
func ones(k int) []int { return slices.Repeat([]int{1}, k) }

// Restore replaces the judge's statistics with st, which must come from a
// judge with the same configuration. A state that does not fit (another
// format, configuration or budget, a test enabled in one and not the
// other, counts that do not add up, a value that is not finite) is
// rejected with an error that wraps ErrBadState and names the field, and
// the judge is left as it was.
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
		_ = j.shadowErrors.Restore(*st.ShadowErrors)
	}
	return nil
}

// progress is the progress a saved test had made.
func (p progressStats) progress() progress {
	return progress{looks: p.Looks, failedAt: p.FailedAt, logE: p.LogE, failE: p.FailE, failSince: p.FailSince, idle: p.Idle}
}

func (d *detector) restore(ds detectorStats) {
	copy(d.logR, ds.LogR)
	copy(d.since, ds.Since)
	d.n = ds.Restarts
	d.total()
}

func (t *errorTest) restore(es errorStats) {
	t.st = errorState{
		progress:  es.progressStats.progress(),
		candCalls: es.CandCalls, candErrs: es.CandErrors, baseCalls: es.BaseCalls, baseErrs: es.BaseErrors, stepCalls: es.StepCalls,
		odds: crossing{at: es.OddsAt, logE: es.OddsE}, floor: crossing{at: es.FloorAt, logE: es.FloorE},
		logPassE: es.LogPassE, passedAt: es.PassedAt,
		refErrs: es.RefErrors, refCalls: es.RefCalls, disp: es.Dispersion.dispersion(),
	}
	t.odds.restore(es.Odds)
	t.floor.restore(es.Floor)
	if t.pass.logR != nil {
		t.pass.restore(detectorStats{LogR: es.Pass, Since: ones(len(es.Pass))})
	}
	t.st.since = max(t.odds.sinceLook(), t.floor.sinceLook())
}

func (t *latencyTest) restore(ls latencyStats) {
	t.st = latencyState{
		progress: ls.progressStats.progress(), boundsSet: ls.BoundsSet,
		bounds: slices.Clone(ls.Bounds), cand: slices.Clone(ls.Cand), base: slices.Clone(ls.Base),
		candN: ls.CandN, baseN: ls.BaseN, stepN: ls.StepN, part: ls.Part,
		ref: slices.Clone(ls.Ref), refN: ls.RefN, tails: make([]tailState, len(ls.Tails)),
		disp: make([]dispersion, len(ls.Dispersion)),
	}
	for i, d := range ls.Dispersion {
		t.st.disp[i] = d.dispersion()
	}
	for i, ts := range ls.Tails {
		t.st.tails[i] = tailState{k: ts.K, m: ts.M, looks: ts.Looks, x: ts.CandAbove, y: ts.BaseAbove, n1: ts.CandCalls, n0: ts.BaseCalls}
	}
	t.det.restore(ls.Detector)
	t.st.since = t.det.sinceLook()
	if ls.BoundsSet {
		t.sizeScratch()
	}
}
