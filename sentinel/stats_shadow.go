package sentinel

import (
	"fmt"
	"math"
)

// ShadowConfig tunes the shadow mismatch test. Zero fields take the
// defaults.
type ShadowConfig struct {
	// Tolerance is the mismatch rate the candidate may have: the test fails
	// when its rate is confidently above it. Default 0.01 (1 %).
	Tolerance float64 `json:"tolerance,omitempty"`
	// MinComparisons is how many comparisons the rollout needs before the
	// test may fail or pass. Default 50.
	MinComparisons int64 `json:"minComparisons,omitempty"`
	// MinStepComparisons is how many comparisons the current step needs
	// before the test may pass. Default 500.
	MinStepComparisons int64 `json:"minStepComparisons,omitempty"`
}

const defaultShadowTolerance = 0.01

func (c ShadowConfig) withDefaults(prefix string) (ShadowConfig, error) {
	if c.Tolerance == 0 {
		c.Tolerance = defaultShadowTolerance
	}
	if !(c.Tolerance > 0 && c.Tolerance < 1) {
		return c, fmt.Errorf("ninelives: %s.Tolerance = %v, want a mismatch rate strictly between 0 and 1", prefix, c.Tolerance)
	}
	err := minCounts(prefix, "comparisons", "MinComparisons", &c.MinComparisons, "MinStepComparisons", &c.MinStepComparisons)
	return c, err
}

// shadowSteps are the alternatives the shadow test mixes: mismatch rates
// 1.5, 2, 3, 5, 10, 20 and 50 times the tolerance (those below 1).
var shadowSteps = []float64{1.5, 2, 3, 5, 10, 20, 50}

const shadowMethod = "mixture SPRT of Bernoulli mismatch rates above the tolerance"

// ShadowTest is the sequential test of the candidate's shadow mismatch
// rate against a tolerance. Count as comparisons the shadow calls whose
// responses were compared (matches and mismatches, not noise or errors).
// Keep one for the whole rollout and call BeginStep between steps.
//
// A ShadowTest is not safe for concurrent use.
type ShadowTest struct {
	alpha, logThreshold float64
	cfg                 ShadowConfig
	logUp, logDown      []float64 // per component: log(p1/p0), log((1−p1)/(1−p0))
	mix                 mixture

	st shadowState
}

type shadowState struct {
	looks, failedAt int
	n, m, stepN     int64
	logE, failE     float64
	rejected        error
}

// NewShadowTest returns a shadow test that fails with probability at most
// alpha over the whole rollout when the candidate's mismatch rate is at or
// below the tolerance.
func NewShadowTest(alpha float64, cfg ShadowConfig) (*ShadowTest, error) {
	if err := checkAlpha("shadow test alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults("ShadowConfig")
	if err != nil {
		return nil, err
	}
	t := &ShadowTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg}
	p0 := cfg.Tolerance
	for _, s := range shadowSteps {
		if p1 := p0 * s; p1 < 1 {
			t.logUp = append(t.logUp, math.Log(p1/p0))
			t.logDown = append(t.logDown, math.Log1p(-p1)-math.Log1p(-p0))
		}
	}
	if len(t.logUp) == 0 { // a tolerance of 2/3 or more: test against a rate halfway to 1
		p1 := (1 + p0) / 2
		t.logUp = append(t.logUp, math.Log(p1/p0))
		t.logDown = append(t.logDown, math.Log1p(-p1)-math.Log1p(-p0))
	}
	t.mix = newMixture(len(t.logUp))
	return t, nil
}

// Observe adds one look: the candidate's comparisons and mismatches since
// the previous look (deltas). An invalid look is rejected with an error
// naming the field; until the next valid look, Verdict is Inconclusive
// (unless the test has already failed).
func (t *ShadowTest) Observe(comparisons, mismatches int64) error {
	if err := checkCounts("shadow", comparisons, mismatches, t.st.n, "comparisons", "mismatches"); err != nil {
		t.st.rejected = err
		return err
	}
	t.st.rejected = nil
	t.st.looks++
	t.st.n += comparisons
	t.st.m += mismatches
	t.st.stepN += comparisons
	if comparisons > 0 {
		for i := range t.mix.logLR {
			t.mix.logLR[i] += float64(mismatches)*t.logUp[i] + float64(comparisons-mismatches)*t.logDown[i]
		}
		t.st.logE = t.mix.logValue()
	}
	if t.st.failedAt == 0 && t.st.n >= t.cfg.MinComparisons && t.st.logE >= t.logThreshold {
		t.st.failedAt, t.st.failE = t.st.looks, t.st.logE
	}
	return nil
}

// BeginStep resets the step's comparison count that Pass needs; the
// evidence and the α budget carry over.
func (t *ShadowTest) BeginStep() { t.st.stepN = 0 }

// Reset forgets everything, for a new rollout with a fresh α budget.
func (t *ShadowTest) Reset() {
	t.mix.reset()
	t.st = shadowState{}
}

// Failed reports whether the test has failed (it stays failed until Reset).
func (t *ShadowTest) Failed() bool { return t.st.failedAt > 0 }

// Verdict returns the test's conclusion: Fail once the e-value has reached
// 1/α at a look with at least MinComparisons comparisons in the rollout (it
// stays Fail); Inconclusive when the last look was rejected, the rollout
// has fewer than MinComparisons or the step fewer than MinStepComparisons
// comparisons; Pass otherwise (enough comparisons, not failed).
func (t *ShadowTest) Verdict() Verdict {
	v := Verdict{Test: TestShadow, Evidence: t.evidence()}
	ev := v.Evidence
	figures := fmt.Sprintf("mismatches %s (%d/%d) against a tolerance of %s", pct(ev.Candidate.Rate), t.st.m, t.st.n, pct(t.cfg.Tolerance))
	e := fmt.Sprintf("e-value %s, threshold %s (α = %s over the rollout)", num(ev.Statistic), num(ev.Threshold), pct(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("shadow: the candidate's responses differ too often: %s; %s, reached at look %d", figures, e, t.st.failedAt)
	case t.st.rejected != nil:
		v.Reason = "shadow: last look rejected: " + t.st.rejected.Error()
	case t.st.n == 0:
		v.Reason = "shadow: no data: no comparisons"
	case t.st.n < t.cfg.MinComparisons:
		v.Reason = fmt.Sprintf("shadow: too few samples: %d comparisons, need %d", t.st.n, t.cfg.MinComparisons)
	case t.st.stepN < t.cfg.MinStepComparisons:
		v.Reason = fmt.Sprintf("shadow: %d comparisons in this step, need %d to pass; %s; %s", t.st.stepN, t.cfg.MinStepComparisons, figures, e)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("shadow: no evidence of mismatches above the tolerance after %d comparisons in this step: %s; %s", t.st.stepN, figures, e)
	}
	return v
}

func (t *ShadowTest) evidence() *Evidence {
	logE := t.st.logE
	if t.st.failedAt > 0 {
		logE = t.st.failE
	}
	return &Evidence{
		Method:       shadowMethod,
		Statistic:    expCapped(logE),
		Threshold:    1 / t.alpha,
		Alpha:        t.alpha,
		Looks:        t.st.looks,
		FailedAtLook: t.st.failedAt,
		Candidate:    Sample{Samples: t.st.n, Events: t.st.m, Rate: rate(t.st.m, t.st.n)},
		StepSamples:  t.st.stepN,
		Tolerance:    t.cfg.Tolerance,
	}
}
