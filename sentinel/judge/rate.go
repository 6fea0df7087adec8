package judge

import (
	"fmt"
	"math"

	"github.com/ninelives-go/ninelives/internal/config"
)

// MismatchConfig tunes the judge's shadow mismatch test. Zero fields take
// the defaults.
type MismatchConfig struct {
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

func (c MismatchConfig) withDefaults() (MismatchConfig, error) {
	err := rateDefaults(&c.Tolerance, "comparisons", "MinComparisons", &c.MinComparisons, "MinStepComparisons", &c.MinStepComparisons)
	return c, err
}

// rate is the rate test's configuration of the mismatch test.
func (c MismatchConfig) rate() RateConfig {
	return RateConfig{Tolerance: c.Tolerance, MinSamples: c.MinComparisons, MinStepSamples: c.MinStepComparisons}
}

// RateConfig sets up a RateTest. Zero fields take the defaults.
type RateConfig struct {
	// Tolerance is the event rate allowed: the test fails when the rate is
	// confidently above it. Default 0.01 (1 %).
	Tolerance float64
	// MinSamples is how many samples the test needs before it may fail or
	// pass. Default 50.
	MinSamples int64
	// MinStepSamples is how many samples the current step needs before the
	// test may pass. Default 500.
	MinStepSamples int64
}

func (c RateConfig) withDefaults() (RateConfig, error) {
	err := rateDefaults(&c.Tolerance, "samples", "MinSamples", &c.MinSamples, "MinStepSamples", &c.MinStepSamples)
	return c, err
}

const defaultRateTolerance = 0.01

// rateDefaults fills a rate test's zero settings and checks them; unit and
// the names are those of the fields the user set.
func rateDefaults(tolerance *float64, unit, minName string, min *int64, stepName string, step *int64) error {
	if *tolerance == 0 {
		*tolerance = defaultRateTolerance
	}
	if !(*tolerance > 0 && *tolerance < 1) {
		return config.Errorf(ErrBadConfig, "Tolerance", *tolerance, "want a rate strictly between 0 and 1")
	}
	return minCounts(unit, minName, min, stepName, step)
}

// rateSteps are the alternatives a rate test mixes: event rates 1.5, 2, 3,
// 5, 10, 20 and 50 times the tolerance (those below 1).
var rateSteps = []float64{1.5, 2, 3, 5, 10, 20, 50}

const rateMethod = "mixture SPRT of Bernoulli mismatch rates above the tolerance"

// RateTest is a one-sample sequential test of an event rate against a
// tolerance: it fails when the rate is confidently above the tolerance.
// The judge's shadow test is one (samples are compared shadow responses,
// events their mismatches), and so are blue/green's gates. Its verdicts
// speak of comparisons and mismatches, as the shadow test's do. Keep one
// for the whole rollout and call BeginStep between steps.
//
// A RateTest is not safe for concurrent use.
type RateTest struct {
	alpha, logThreshold float64
	cfg                 RateConfig
	logUp, logDown      []float64 // per component: log(p1/p0), log((1−p1)/(1−p0))
	restarts            Restarts
	mix                 detector
	logL                []float64

	st rateState
}

type rateState struct {
	progress
	n, m, stepN int64
}

// NewRateTest returns a rate test that fails with probability at most
// alpha over all its looks when the rate is at or below cfg.Tolerance.
func NewRateTest(alpha float64, cfg RateConfig) (*RateTest, error) {
	if err := checkAlpha("alpha", alpha); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, config.Under(ErrBadConfig, "RateConfig", err)
	}
	return newRateTest(alpha, cfg, noRestarts), nil
}

// newRateTest makes a rate test of a checked alpha, cfg and restarts.
func newRateTest(alpha float64, cfg RateConfig, r Restarts) *RateTest {
	t := &RateTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg, restarts: r}
	p0 := cfg.Tolerance
	for _, s := range rateSteps {
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
	t.mix = newDetector(uniform(len(t.logUp)), r)
	t.logL = make([]float64, len(t.logUp))
	t.st.logE = t.mix.logM
	return t
}

// Config returns the test's settings with the defaults filled in.
func (t *RateTest) Config() RateConfig { return t.cfg }

// Observe adds one look: the samples and the events among them since the
// previous look (deltas). An invalid look is rejected with an error
// naming the field; until the next valid look, Verdict is Inconclusive
// (unless the test has already failed).
func (t *RateTest) Observe(samples, events int64) error {
	if err := t.st.take(t.check(samples, events)); err != nil {
		return err
	}
	t.st.served(samples)
	t.st.n += samples
	t.st.m += events
	t.st.stepN += samples
	if samples > 0 {
		for i := range t.logL {
			t.logL[i] = float64(events)*t.logUp[i] + float64(samples-events)*t.logDown[i]
		}
		t.mix.observe(t.logL, t.st.looks)
		t.st.logE, t.st.since = t.mix.logM, t.mix.sinceLook()
	}
	t.st.reach(t.st.n >= t.cfg.MinSamples, t.logThreshold)
	return nil
}

func (t *RateTest) check(samples, events int64) error {
	return checkCounts(ErrBadLook, "shadow ", samples, events, t.st.n, "comparisons", "mismatches")
}

// BeginStep resets the step's sample count that Pass needs; the evidence
// and the α budget carry over.
func (t *RateTest) BeginStep() { t.st.stepN = 0 }

// Failed reports whether the test has failed (it stays failed).
func (t *RateTest) Failed() bool { return t.st.failedAt > 0 }

// Verdict returns the test's conclusion: Fail once the e-value has reached
// 1/α at a look with at least MinSamples samples (it stays Fail);
// Inconclusive when the last look was rejected, or there are fewer than
// MinSamples samples, or fewer than MinStepSamples in the step; Pass
// otherwise (enough samples, not failed).
func (t *RateTest) Verdict() Verdict {
	v := Verdict{Test: TestShadow, Evidence: t.evidence()}
	ev := v.Evidence
	figures := fmt.Sprintf("mismatches %s (%d/%d) against a tolerance of %s", Percent(ev.Candidate.Rate), t.st.m, t.st.n, Percent(t.cfg.Tolerance))
	e := fmt.Sprintf("e-value %s, threshold %s (α = %s over the rollout)", Number(ev.Statistic), Number(ev.Threshold), Percent(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("shadow: the candidate's responses differ too often: %s; %s, reached at look %d, evidence since look %d", figures, e, t.st.failedAt, ev.SinceLook)
	case t.st.rejected != nil:
		v.Reason = "shadow: last look rejected: " + t.st.rejected.Error()
	case t.st.n == 0:
		v.Reason = "shadow: no data: no comparisons"
	case t.st.n < t.cfg.MinSamples:
		v.Reason = fmt.Sprintf("shadow: too few samples: %d comparisons, need %d", t.st.n, t.cfg.MinSamples)
	case t.st.stepN < t.cfg.MinStepSamples:
		v.Reason = fmt.Sprintf("shadow: %d comparisons in this step, need %d to pass; %s; %s", t.st.stepN, t.cfg.MinStepSamples, figures, e)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("shadow: no evidence of mismatches above the tolerance after %d comparisons in this step: %s; %s", t.st.stepN, figures, e)
	}
	v.Reason += t.st.idleNote("comparisons")
	return v
}

func (t *RateTest) evidence() *Evidence {
	ev := t.st.evidence(rateMethod, t.alpha, t.st.stepN, t.restarts)
	ev.Candidate = Sample{Samples: t.st.n, Events: t.st.m, Rate: rate(t.st.m, t.st.n)}
	ev.Tolerance = t.cfg.Tolerance
	return ev
}
