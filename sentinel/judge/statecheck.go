package judge

import (
	"fmt"
	"math"
	"reflect"

	"github.com/ninelives-go/ninelives/internal/config"
)

// checkState checks st against the judge's configuration and tests.
func (j *Judge) checkState(st State) error {
	if st.Format != StateFormat {
		return config.Errorf(ErrBadState, "Format", st.Format,
			"want %d: the state was saved by an earlier judge, whose tests (without the shadow test's paired errors, or the restarts, errors floor and tail test) cannot carry on under this one's; "+
				"restore without the judge's state (a fresh judge spends α again) or finish the rollout with the version that saved it", StateFormat)
	}
	if err := j.checkConfig(st); err != nil {
		return err
	}
	if err := checkErrorsState(st.Errors, j.errors); err != nil {
		return config.Under(ErrBadState, "Errors", err)
	}
	if (st.Latency != nil) != (j.latency != nil) {
		return config.Errorf(ErrBadState, "Latency", nil, "present = %v, the judge's latency test enabled = %v", st.Latency != nil, j.latency != nil)
	}
	if st.Latency != nil {
		if err := checkLatencyState(*st.Latency, j.latency); err != nil {
			return config.Under(ErrBadState, "Latency", err)
		}
	}
	for _, sh := range []struct {
		field string
		st    *RateState
		t     *RateTest
	}{{"Shadow", st.Shadow, j.shadow}, {"ShadowErrors", st.ShadowErrors, j.shadowErrors}} {
		if (sh.st != nil) != (sh.t != nil) {
			return config.Errorf(ErrBadState, sh.field, nil, "present = %v, the judge's shadow test enabled = %v", sh.st != nil, sh.t != nil)
		}
		if sh.st != nil {
			if err := checkRateState(*sh.st, sh.st.detector(), &sh.t.mix); err != nil {
				return config.Under(ErrBadState, sh.field, err)
			}
		}
	}
	return nil
}

// checkConfig checks that st was saved under the judge's configuration
// and budget.
func (j *Judge) checkConfig(st State) error {
	if st.Config == nil {
		return config.Errorf(ErrBadState, "Config", nil, "missing: a state records the configuration it was gathered under")
	}
	cfg, err := st.Config.withDefaults()
	if err != nil {
		return config.Under(ErrBadState, "Config", err)
	}
	if field, saved, mine := configDiff(cfg, j.cfg); field != "" {
		if field == "Latency.Quantiles" && reflect.DeepEqual(saved, earlierDefaultQuantiles) && reflect.DeepEqual(mine, defaultQuantiles) {
			return config.Errorf(ErrBadState, "Config."+field, saved,
				"this judge's is %v: the default quantiles of the tail test became %v (the p99.9 added) after the state was saved; "+
					"to carry this rollout on, set LatencyConfig.Quantiles to %v until it ends, or restore without the judge's state (a fresh judge spends α again)",
				mine, defaultQuantiles, earlierDefaultQuantiles)
		}
		return config.Errorf(ErrBadState, "Config."+field, saved, "this judge's is %v: the judge is configured differently", mine)
	}
	if st.Budget != j.budget {
		return config.Errorf(ErrBadState, "Budget", fmt.Sprintf("%+v", st.Budget), "this judge's is %+v: the judge is configured differently", j.budget)
	}
	return nil
}

// configDiff names the first setting in which two defaults-filled judge
// configurations differ, with both values, or returns "". The settings of
// a test (or of the latency test's tail) that both leave disabled do not
// count.
func configDiff(saved, mine Config) (field string, a, b any) {
	if saved.DisableLatency && mine.DisableLatency {
		saved.Latency, mine.Latency = LatencyConfig{}, LatencyConfig{}
		saved.Shares.Latency, mine.Shares.Latency = 0, 0
	}
	if saved.Latency.DisableTail && mine.Latency.DisableTail {
		for _, c := range []*LatencyConfig{&saved.Latency, &mine.Latency} {
			c.Quantiles, c.TailWeight, c.TailMinShare = nil, 0, 0
		}
	}
	if !saved.EnableShadow && !mine.EnableShadow {
		saved.Shadow, mine.Shadow = MismatchConfig{}, MismatchConfig{}
		saved.Shares.Shadow, mine.Shares.Shadow = 0, 0
	}
	return fieldDiff("", reflect.ValueOf(saved), reflect.ValueOf(mine))
}

func fieldDiff(path string, a, b reflect.Value) (field string, av, bv any) {
	if a.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
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

// checkProgress checks a test's saved progress, and the looks named in
// at, each in 0..Looks.
func checkProgress(p progressStats, at map[string]int) error {
	if p.Looks < 0 {
		return config.Errorf(ErrBadState, "Looks", p.Looks, "want ≥ 0")
	}
	at["FailedAt"], at["FailSince"], at["Idle"] = p.FailedAt, p.FailSince, p.Idle
	for _, name := range []string{"FailedAt", "FailSince", "Idle", "OddsAt", "FloorAt", "PassedAt"} {
		if v, ok := at[name]; ok && (v < 0 || v > p.Looks) {
			return config.Errorf(ErrBadState, name, v, "want 0..Looks (%d)", p.Looks)
		}
	}
	return checkFinite(named{"LogE", []float64{p.LogE}}, named{"FailE", []float64{p.FailE}})
}

// checkDetector checks a saved detector against the test's.
func checkDetector(field string, s detectorStats, d *detector, looks int) error {
	switch {
	case len(s.LogR) != len(d.logR):
		return config.Errorf(ErrBadState, field+".LogR", nil, "%d components, the test mixes %d (is the configuration the same?)", len(s.LogR), len(d.logR))
	case len(s.Since) != len(d.since):
		return config.Errorf(ErrBadState, field+".Since", nil, "%d components, the test mixes %d", len(s.Since), len(d.since))
	case s.Restarts < 0 || s.Restarts > looks:
		return config.Errorf(ErrBadState, field+".Restarts", s.Restarts, "want 0..Looks (%d)", looks)
	}
	for i, v := range s.Since {
		if v < 1 || v > max(looks, 1) {
			return config.Errorf(ErrBadState, fmt.Sprintf("%s.Since[%d]", field, i), v, "want 1..Looks (%d)", looks)
		}
	}
	return finiteAll(field+".LogR", s.LogR...)
}

func checkErrorsState(s errorStats, t *errorTest) error {
	at := map[string]int{"OddsAt": s.OddsAt, "FloorAt": s.FloorAt, "PassedAt": s.PassedAt}
	if err := checkProgress(s.progressStats, at); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.CandCalls, s.CandErrors, 0, "CandCalls", "CandErrors"); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.BaseCalls, s.BaseErrors, 0, "BaseCalls", "BaseErrors"); err != nil {
		return err
	}
	if err := s.Dispersion.check("Dispersion", 0); err != nil {
		return err
	}
	switch {
	case !(s.RefCalls >= s.RefErrors && s.RefErrors >= 0) || !isFinite(s.RefCalls):
		return config.Errorf(ErrBadState, "RefErrors, RefCalls", fmt.Sprintf("%v, %v", s.RefErrors, s.RefCalls), "want finite counts, 0 ≤ RefErrors ≤ RefCalls")
	case s.StepCalls < 0 || s.StepCalls > s.CandCalls:
		return config.Errorf(ErrBadState, "StepCalls", s.StepCalls, "want 0..CandCalls (%d)", s.CandCalls)
	case len(s.Pass) != len(t.pass.logR):
		return config.Errorf(ErrBadState, "Pass", nil, "%d components, the test mixes %d (is the tolerance the same?)", len(s.Pass), len(t.pass.logR))
	}
	if err := checkDetector("Odds", s.Odds, &t.odds, s.Looks); err != nil {
		return err
	}
	if err := checkDetector("Floor", s.Floor, &t.floor, s.Looks); err != nil {
		return err
	}
	return checkFinite(named{"OddsE", []float64{s.OddsE}}, named{"FloorE", []float64{s.FloorE}}, named{"LogPassE", []float64{s.LogPassE}}, named{"Pass", s.Pass})
}

func checkLatencyState(s latencyStats, t *latencyTest) error {
	if err := checkProgress(s.progressStats, map[string]int{}); err != nil {
		return err
	}
	if err := checkDetector("Detector", s.Detector, &t.det, s.Looks); err != nil {
		return err
	}
	if s.CandN < 0 || s.BaseN < 0 || s.StepN < 0 || s.StepN > s.CandN {
		return config.Errorf(ErrBadState, "CandN, BaseN, StepN", fmt.Sprintf("%d, %d, %d", s.CandN, s.BaseN, s.StepN), "want counts ≥ 0 and StepN ≤ CandN")
	}
	if err := checkPart(s.Part, t); err != nil {
		return err
	}
	if !s.BoundsSet {
		if len(s.Bounds)+len(s.Cand)+len(s.Base)+len(s.Ref) > 0 || s.CandN+s.BaseN > 0 || s.RefN != 0 {
			return config.Errorf(ErrBadState, "BoundsSet", false, "with %d bounds and %d+%d samples", len(s.Bounds), s.CandN, s.BaseN)
		}
		return checkTails(s, t)
	}
	if err := checkLatencyCounts(s); err != nil {
		return err
	}
	if err := checkRef(s); err != nil {
		return err
	}
	return checkTails(s, t)
}

// checkPart checks the name of the part that failed the test.
func checkPart(part string, t *latencyTest) error {
	if part == "" || part == partCentre && t.centre > 0 {
		return nil
	}
	for _, q := range t.quantiles {
		if part == quantileName(q) {
			return nil
		}
	}
	return config.Errorf(ErrBadState, "Part", part, "want %q or a watched quantile's name", partCentre)
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

// checkRef checks the decayed baseline histogram.
func checkRef(s latencyStats) error {
	if len(s.Ref) != len(s.Bounds)+1 {
		return config.Errorf(ErrBadState, "Ref", nil, "%d counts for %d bounds, want %d", len(s.Ref), len(s.Bounds), len(s.Bounds)+1)
	}
	for i, v := range append(s.Ref, s.RefN) {
		if !(v >= 0) || math.IsInf(v, 0) {
			field := "RefN"
			if i < len(s.Ref) {
				field = fmt.Sprintf("Ref[%d]", i)
			}
			return config.Errorf(ErrBadState, field, v, "want a finite count ≥ 0")
		}
	}
	return nil
}

// checkDispersion checks each part's clustering sums.
func checkDispersion(s latencyStats, t *latencyTest) error {
	if len(s.Dispersion) != len(t.st.disp) {
		return config.Errorf(ErrBadState, "Dispersion", nil, "%d parts, the test has %d", len(s.Dispersion), len(t.st.disp))
	}
	for i, d := range s.Dispersion {
		if err := d.check(fmt.Sprintf("Dispersion[%d]", i), len(s.Bounds)); err != nil {
			return err
		}
	}
	return nil
}

// check checks a part's clustering sums; maxK is the last bucket.
func (d dispersionStats) check(field string, maxK int) error {
	ok := d.N >= 0 && d.Y >= 0 && d.M >= d.Y && d.K >= -1 && d.K <= maxK
	if !ok || !isFinite(d.Z, d.N, d.Y, d.M) {
		return config.Errorf(ErrBadState, field, fmt.Sprintf("%+v", d), "want finite sums, N ≥ 0, 0 ≤ Y ≤ M and −1 ≤ K ≤ %d", maxK)
	}
	return nil
}

// isFinite reports whether every x is a finite number.
func isFinite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// checkTails checks the watched quantiles' statistics and each part's
// clustering.
func checkTails(s latencyStats, t *latencyTest) error {
	if err := checkDispersion(s, t); err != nil {
		return err
	}
	if len(s.Tails) != len(t.quantiles) {
		return config.Errorf(ErrBadState, "Tails", nil, "%d quantiles, the test watches %d", len(s.Tails), len(t.quantiles))
	}
	for i, ts := range s.Tails {
		field := fmt.Sprintf("Tails[%d]", i)
		switch {
		case ts.K < -1 || ts.K > len(s.Bounds) || ts.M < -1 || ts.M > len(s.Bounds) || (ts.K < 0) != (ts.M < 0):
			return config.Errorf(ErrBadState, field+".K, M", fmt.Sprintf("%d, %d", ts.K, ts.M), "want both −1 or both buckets 0..%d", len(s.Bounds))
		case ts.Looks < 0 || ts.Looks > s.Looks:
			return config.Errorf(ErrBadState, field+".Looks", ts.Looks, "want 0..Looks (%d)", s.Looks)
		}
		if err := checkCounts(ErrBadState, field+".", ts.CandCalls, ts.CandAbove, 0, "CandCalls", "CandAbove"); err != nil {
			return err
		}
		if err := checkCounts(ErrBadState, field+".", ts.BaseCalls, ts.BaseAbove, 0, "BaseCalls", "BaseAbove"); err != nil {
			return err
		}
	}
	return nil
}

func checkRateState(s RateState, ds detectorStats, d *detector) error {
	if err := checkProgress(s.progress(), map[string]int{}); err != nil {
		return err
	}
	if err := checkCounts(ErrBadState, "", s.Comparisons, s.Mismatches, 0, "Comparisons", "Mismatches"); err != nil {
		return err
	}
	if s.StepN < 0 || s.StepN > s.Comparisons {
		return config.Errorf(ErrBadState, "StepN", s.StepN, "want 0..Comparisons (%d)", s.Comparisons)
	}
	if len(ds.LogR) != len(d.logR) {
		return config.Errorf(ErrBadState, "Mix", nil, "%d components, the test mixes %d (is the tolerance the same?)", len(ds.LogR), len(d.logR))
	}
	return checkDetector("Mix", ds, d, s.Looks)
}
