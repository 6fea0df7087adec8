package judge

import (
	"fmt"
	"math"

	"github.com/ninelives-go/ninelives/internal/config"
)

// ErrorConfig tunes the errors test. Zero fields take the defaults.
type ErrorConfig struct {
	// MinCalls is how many calls each version needs in the rollout before
	// the test may fail or pass. Default 50.
	MinCalls int64 `json:"minCalls,omitempty"`
	// MinStepCalls is how many candidate calls the current step needs
	// before the test may pass. Default 500.
	MinStepCalls int64 `json:"minStepCalls,omitempty"`
	// Tolerance, when set (> 1), adds a condition to Pass: a second
	// sequential test must be confident, at level PassAlpha, that the
	// candidate's error odds are below Tolerance times the baseline's.
	// 0 (the default) leaves it out.
	Tolerance float64 `json:"tolerance,omitempty"`
	// PassAlpha is the probability that the tolerance test wrongly says
	// "within tolerance" for a candidate whose error odds are Tolerance
	// times the baseline's or more. Default 0.05; used only with Tolerance.
	PassAlpha float64 `json:"passAlpha,omitempty"`
}

const (
	defaultMinCalls     = 50
	defaultMinStepCalls = 500
	defaultPassAlpha    = 0.05
)

// withDefaults fills the zero fields and validates, naming the field.
func (c ErrorConfig) withDefaults() (ErrorConfig, error) {
	if c.PassAlpha == 0 {
		c.PassAlpha = defaultPassAlpha
	}
	if err := minCounts("calls", "MinCalls", &c.MinCalls, "MinStepCalls", &c.MinStepCalls); err != nil {
		return c, err
	}
	if c.Tolerance != 0 && !(c.Tolerance > 1 && c.Tolerance <= 1e6) {
		return c, config.Errorf(ErrBadConfig, "Tolerance", c.Tolerance, "want 0 (off) or an odds ratio above 1 (2 = twice the baseline's error odds)")
	}
	return c, checkAlpha("PassAlpha", c.PassAlpha)
}

// minCounts gives a test's two minimum sample counts, for the rollout and
// for the current step, their defaults when zero, and checks them; the
// names are the fields' and unit is what they count, for the errors.
func minCounts(unit, rolloutName string, rollout *int64, stepName string, step *int64) error {
	if *rollout == 0 {
		*rollout = defaultMinCalls
	}
	if *step == 0 {
		*step = defaultMinStepCalls
	}
	if *rollout < 0 {
		return config.Errorf(ErrBadConfig, rolloutName, *rollout, "want a positive number of %s", unit)
	}
	if *step < 0 {
		return config.Errorf(ErrBadConfig, stepName, *step, "want a positive number of %s", unit)
	}
	return nil
}

// The alternatives the errors test mixes: the candidate's error odds
// √2, 2, 2√2, … 16 times the baseline's, equally weighted. The tolerance
// test mixes Tolerance/√2, Tolerance/2, … Tolerance/16.
var (
	harmOdds  = geometricGrid(math.Sqrt2, math.Sqrt2, 8)
	passSteps = geometricGrid(1/math.Sqrt2, 1/math.Sqrt2, 8)
)

const errorsMethod = "mixture SPRT on the candidate's share of errors, conditional on each look's margins (Fisher noncentral hypergeometric)"

// errorTest is the sequential test of the candidate's error rate against
// the baseline's. Feed it one look at a time with Observe and read Verdict
// whenever needed. Its false-rollback guarantee covers every look from its
// making on, so keep one errorTest for the whole rollout and call
// BeginStep when the candidate's share changes.
type errorTest struct {
	alpha, logThreshold float64
	cfg                 ErrorConfig
	logHarm             []float64
	passOdds            []float64
	logPassOdds         []float64
	logTol, logPass     float64 // log Tolerance, log(1/PassAlpha)

	harm, pass mixture
	st         errorState
}

// errorState is what an errorTest learns from its looks.
type errorState struct {
	progress
	candCalls, candErrs int64
	baseCalls, baseErrs int64
	stepCalls           int64
	logPassE            float64
	passedAt            int
}

// newErrorTest returns an errors test that fails with probability at most
// alpha over the whole rollout when the candidate's error odds are no
// higher than the baseline's. cfg has its defaults filled in.
func newErrorTest(alpha float64, cfg ErrorConfig) *errorTest {
	t := &errorTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg, harm: newMixture(len(harmOdds))}
	t.logHarm = make([]float64, len(harmOdds))
	for i, v := range harmOdds {
		t.logHarm[i] = math.Log(v)
	}
	if cfg.Tolerance > 0 {
		t.pass = newMixture(len(passSteps))
		t.passOdds = make([]float64, len(passSteps))
		t.logPassOdds = make([]float64, len(passSteps))
		for i, s := range passSteps {
			t.passOdds[i] = cfg.Tolerance * s
			t.logPassOdds[i] = math.Log(t.passOdds[i])
		}
		t.logTol = math.Log(cfg.Tolerance)
		t.logPass = -math.Log(cfg.PassAlpha)
	}
	return t
}

// Observe adds one look: the calls and errors of each version since the
// previous look (deltas, not running totals). The candidate's share of the
// traffic must not change inside a look. A look with a negative count or
// more errors than calls is rejected with an error naming the field; until
// the next valid look, Verdict is Inconclusive (unless the test has already
// failed).
func (t *errorTest) Observe(candCalls, candErrors, baseCalls, baseErrors int64) error {
	if err := t.st.take(t.check(candCalls, candErrors, baseCalls, baseErrors)); err != nil {
		return err
	}
	t.st.candCalls += candCalls
	t.st.candErrs += candErrors
	t.st.baseCalls += baseCalls
	t.st.baseErrs += baseErrors
	t.st.stepCalls += candCalls

	if f, ok := newFNCH(candCalls, baseCalls, candErrors+baseErrors); ok {
		z0 := f.logZ(1, 0)
		for i, psi := range harmOdds {
			t.harm.logLR[i] += f.logLR(candErrors, psi, t.logHarm[i], 0, z0)
		}
		t.st.logE = t.harm.logValue()
		if t.pass.logLR != nil {
			zTol := f.logZ(t.cfg.Tolerance, t.logTol)
			for i, psi := range t.passOdds {
				t.pass.logLR[i] += f.logLR(candErrors, psi, t.logPassOdds[i], t.logTol, zTol)
			}
			t.st.logPassE = t.pass.logValue()
		}
	}
	enough := t.st.candCalls >= t.cfg.MinCalls && t.st.baseCalls >= t.cfg.MinCalls
	t.st.reach(enough, t.logThreshold)
	if t.st.passedAt == 0 && t.pass.logLR != nil && enough && t.st.logPassE >= t.logPass {
		t.st.passedAt = t.st.looks
	}
	return nil
}

// check validates one look's counts against the running totals.
func (t *errorTest) check(candCalls, candErrors, baseCalls, baseErrors int64) error {
	if err := checkCounts(ErrBadLook, "candidate ", candCalls, candErrors, t.st.candCalls, "calls", "errors"); err != nil {
		return err
	}
	return checkCounts(ErrBadLook, "baseline ", baseCalls, baseErrors, t.st.baseCalls, "calls", "errors")
}

// checkCounts validates a count of samples and the events among them: one
// version's delta counts of a look, added to its running total cum, or
// saved totals (with cum 0). The error, of kind, names the fields as prefix
// followed by samplesName or eventsName.
func checkCounts(kind error, prefix string, samples, events, cum int64, samplesName, eventsName string) error {
	switch {
	case samples < 0:
		return config.Errorf(kind, prefix+samplesName, samples, "want a count ≥ 0")
	case events < 0:
		return config.Errorf(kind, prefix+eventsName, events, "want a count ≥ 0")
	case events > samples:
		return config.Errorf(kind, prefix+eventsName, events, "exceeds %s = %d", prefix+samplesName, samples)
	case cum+samples < cum:
		return config.Errorf(kind, prefix+samplesName, samples, "overflows the running total %d", cum)
	}
	return nil
}

// BeginStep starts a new step of the rollout (a new candidate share): it
// resets the step's call count that Pass needs, and nothing else; the
// evidence and the α budget carry over.
func (t *errorTest) BeginStep() { t.st.stepCalls = 0 }

// Failed reports whether the test has failed (it stays failed).
func (t *errorTest) Failed() bool { return t.st.failedAt > 0 }

// Verdict returns the test's conclusion:
//
//   - Fail once the e-value has reached 1/α at a look where both versions
//     had MinCalls calls; it stays Fail.
//   - Inconclusive when the last look was rejected, either version has
//     fewer than MinCalls calls, or the step has fewer than MinStepCalls
//     candidate calls; and, with a Tolerance, while the tolerance test has
//     not yet concluded.
//   - Pass otherwise: the step has MinStepCalls candidate calls and the
//     test has not failed (and, with a Tolerance, the candidate's error odds
//     are confidently below Tolerance times the baseline's).
func (t *errorTest) Verdict() Verdict {
	v := Verdict{Test: TestErrors, Evidence: t.evidence()}
	figures := fmt.Sprintf("candidate %s (%d/%d) vs baseline %s (%d/%d)",
		Percent(rate(t.st.candErrs, t.st.candCalls)), t.st.candErrs, t.st.candCalls,
		Percent(rate(t.st.baseErrs, t.st.baseCalls)), t.st.baseErrs, t.st.baseCalls)
	e := fmt.Sprintf("e-value %s, threshold %s (α = %s over the rollout)", Number(v.Evidence.Statistic), Number(v.Evidence.Threshold), Percent(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("errors: the candidate fails more often than the baseline: %s; %s, reached at look %d", figures, e, t.st.failedAt)
	case t.st.rejected != nil:
		v.Reason = "errors: last look rejected: " + t.st.rejected.Error()
	case t.st.candCalls == 0 || t.st.baseCalls == 0:
		v.Reason = fmt.Sprintf("errors: no data: %d candidate and %d baseline calls", t.st.candCalls, t.st.baseCalls)
	case t.st.candCalls < t.cfg.MinCalls || t.st.baseCalls < t.cfg.MinCalls:
		v.Reason = fmt.Sprintf("errors: too few samples: %d candidate and %d baseline calls, need %d each", t.st.candCalls, t.st.baseCalls, t.cfg.MinCalls)
	case t.st.stepCalls < t.cfg.MinStepCalls:
		v.Reason = fmt.Sprintf("errors: %d candidate calls in this step, need %d to pass; %s; %s", t.st.stepCalls, t.cfg.MinStepCalls, figures, e)
	case t.pass.logLR != nil && t.st.passedAt == 0:
		v.Reason = fmt.Sprintf("errors: not yet confident that the candidate's error odds are below %s× the baseline's (e-value %s, threshold %s); %s",
			Number(t.cfg.Tolerance), Number(v.Evidence.PassStatistic), Number(v.Evidence.PassThreshold), figures)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("errors: no evidence the candidate fails more than the baseline after %d candidate calls in this step: %s; %s", t.st.stepCalls, figures, e)
		if t.pass.logLR != nil {
			v.Reason += fmt.Sprintf("; error odds below %s× the baseline's since look %d", Number(t.cfg.Tolerance), t.st.passedAt)
		}
	}
	return v
}

func (t *errorTest) evidence() *Evidence {
	ev := t.st.evidence(errorsMethod, t.alpha, t.st.stepCalls)
	ev.Candidate = Sample{Samples: t.st.candCalls, Events: t.st.candErrs, Rate: rate(t.st.candErrs, t.st.candCalls)}
	ev.Baseline = Sample{Samples: t.st.baseCalls, Events: t.st.baseErrs, Rate: rate(t.st.baseErrs, t.st.baseCalls)}
	if t.pass.logLR != nil {
		ev.Tolerance = t.cfg.Tolerance
		ev.PassStatistic = expCapped(t.st.logPassE)
		ev.PassThreshold = 1 / t.cfg.PassAlpha
	}
	return ev
}
