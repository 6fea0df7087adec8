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
	// Floor is the error-rate difference that never counts as a
	// regression, in absolute terms: the test fails only a candidate whose
	// rate is credibly above RelativeFloor·baseline + Floor more than the
	// baseline's (and whose error odds are credibly higher). Default 0.001
	// (0.1 percentage point); negative for none.
	Floor float64 `json:"floor,omitempty"`
	// RelativeFloor is the floor's part relative to the baseline's rate
	// (0.1: 10 % more errors than the baseline never count). Default 0.
	RelativeFloor float64 `json:"relativeFloor,omitempty"`
}

const (
	defaultMinCalls     = 50
	defaultMinStepCalls = 500
	defaultPassAlpha    = 0.05
	defaultErrorFloor   = 0.001
	// none is what a negative setting that means "none" becomes, so that
	// filling the defaults again leaves it as it is.
	none = -1
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
	switch {
	case c.Floor == 0:
		c.Floor = defaultErrorFloor
	case c.Floor < 0:
		c.Floor = none
	}
	if !(c.Floor < 1) {
		return c, config.Errorf(ErrBadConfig, "Floor", c.Floor, "want a difference of error rates below 1 (0.001 = 0.1 percentage point; negative for none)")
	}
	if !(c.RelativeFloor >= 0 && c.RelativeFloor <= 100) {
		return c, config.Errorf(ErrBadConfig, "RelativeFloor", c.RelativeFloor, "want a fraction of the baseline's rate in [0, 100] (0.1 = 10 %%)")
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
// √2, 2, 2√2, … 16 times the baseline's, equally weighted; the floor part
// uses the same grid as tilts λ = log ψ. The tolerance test mixes
// Tolerance/√2, Tolerance/2, … Tolerance/16.
var (
	harmOdds  = geometricGrid(math.Sqrt2, math.Sqrt2, 8)
	logHarm   = logs(harmOdds)
	passSteps = geometricGrid(1/math.Sqrt2, 1/math.Sqrt2, 8)
)

const errorsMethod = "e-detectors with restarts on the candidate's share of errors given each look's margins (Fisher noncentral hypergeometric) and on its rate above the floor; both must reach the threshold"

// errorTest is the sequential test of the candidate's error rate against
// the baseline's: the intersection of two e-detectors that must both reach
// 1/α. The odds part asks whether the candidate's error odds are higher
// than the baseline's, given each look's margins; the floor part whether
// its rate is above (1+RelativeFloor)·baseline + Floor. Feed it one look at
// a time with Observe; keep one errorTest for the whole rollout and call
// BeginStep when the candidate's share changes.
type errorTest struct {
	alpha, logThreshold float64
	cfg                 ErrorConfig
	restarts            Restarts
	odds, floor         detector
	pass                detector // only with a Tolerance
	logPassOdds         []float64
	logTol, logPass     float64 // log Tolerance, log(1/PassAlpha)
	logL                []float64

	st errorState
}

// errorState is what an errorTest learns from its looks.
type errorState struct {
	progress
	candCalls, candErrs int64
	baseCalls, baseErrs int64
	stepCalls           int64
	odds, floor         crossing
	logPassE            float64
	passedAt            int
	// refErrs and refCalls are the baseline's decayed counts, disp the
	// clustering of its errors (dispersion.go).
	refErrs, refCalls float64
	disp              dispersion
}

// crossing is when one part of a test first reached the threshold (with
// enough samples), and its log e-value then.
type crossing struct {
	at   int
	logE float64
}

// reach records the part's crossing at look if it has come now.
func (c *crossing) reach(look int, enough bool, logE, logThreshold float64) {
	if c.at == 0 && enough && logE >= logThreshold {
		c.at, c.logE = look, logE
	}
}

// held is the part's log e-value: its value when it crossed, or now.
func (c crossing) held(logE float64) float64 {
	if c.at > 0 {
		return c.logE
	}
	return logE
}

// newErrorTest returns an errors test that fails with probability at most
// alpha over the whole rollout when the candidate's error odds are no
// higher than the baseline's or its rate is within the floor. cfg has its
// defaults filled in.
func newErrorTest(alpha float64, cfg ErrorConfig, r Restarts) *errorTest {
	t := &errorTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg, restarts: r, logL: make([]float64, len(harmOdds))}
	t.odds = newDetector(uniform(len(harmOdds)), r)
	t.floor = newDetector(uniform(len(harmOdds)), r)
	if cfg.Tolerance > 0 {
		t.pass = newDetector(uniform(len(passSteps)), noRestarts)
		t.logPassOdds = make([]float64, len(passSteps))
		for i, s := range passSteps {
			t.logPassOdds[i] = math.Log(cfg.Tolerance * s)
		}
		t.logTol = math.Log(cfg.Tolerance)
		t.logPass = -math.Log(cfg.PassAlpha)
	}
	t.st.logE = min(t.odds.logM, t.floor.logM)
	return t
}

// logs returns the logs of xs.
func logs(xs []float64) []float64 {
	l := make([]float64, len(xs))
	for i, x := range xs {
		l[i] = math.Log(x)
	}
	return l
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
	t.st.served(candCalls)
	t.st.candCalls += candCalls
	t.st.candErrs += candErrors
	t.st.baseCalls += baseCalls
	t.st.baseErrs += baseErrors
	t.st.stepCalls += candCalls
	k := float64(min(candCalls, baseCalls))
	if f, ok := newFNCH(candCalls, baseCalls, candErrors+baseErrors); ok {
		t.observeOdds(f, candErrors, k)
	}
	if candCalls > 0 && baseCalls > 0 {
		for i, psi := range harmOdds {
			t.logL[i] = floorLogFactor(candErrors, baseErrors, candCalls, baseCalls, psi-1, t.cfg.RelativeFloor, max(t.cfg.Floor, 0))
		}
		temper(t.logL, t.st.disp, k)
		t.floor.observe(t.logL, t.st.looks)
	}
	t.learn(baseErrors, baseCalls)
	t.decide()
	return nil
}

// errorsDecay is the errors' reference decay: a half-life of 120 looks
// with baseline calls, as the latency test's default.
var errorsDecay = math.Exp2(-1.0 / defaultHalfLife)

// minRefErrors is how many errors, and calls without one, the baseline's
// decayed counts hold before a look is paired against their rate, as the
// latency test's MinExceed: a rate that rests on a handful of errors is
// often far below the true one, and dividing by it would read independent
// errors as clustered (a blue/green's blue, left a tenth of the calls).
const minRefErrors = defaultMinExceed

// learn adds the baseline's look to the clustering of its errors, against
// its decayed rate of the earlier looks, and then to that rate.
func (t *errorTest) learn(errs, calls int64) {
	if calls == 0 {
		return
	}
	k := -1
	if t.st.refErrs >= minRefErrors && t.st.refCalls-t.st.refErrs >= minRefErrors {
		k = 0
	}
	t.st.disp.observe(errorsDecay, k, float64(errs), float64(calls), t.st.refErrs/max(t.st.refCalls, 1))
	t.st.refErrs = t.st.refErrs*errorsDecay + float64(errs)
	t.st.refCalls = t.st.refCalls*errorsDecay + float64(calls)
}

// observeOdds adds the look's odds factors, tempered for a look of k
// calls, and the tolerance test's.
func (t *errorTest) observeOdds(f fnch, x int64, k float64) {
	f.logLRs(x, 0, logHarm, t.logL)
	temper(t.logL, t.st.disp, k)
	t.odds.observe(t.logL, t.st.looks)
	if t.pass.logR == nil {
		return
	}
	f.logLRs(x, t.logTol, t.logPassOdds, t.logL)
	t.pass.observe(t.logL, t.st.looks)
	t.st.logPassE = t.pass.logM
}

// decide records the parts' crossings and the test's: it fails once both
// parts have reached the threshold, each at some look with enough calls.
func (t *errorTest) decide() {
	enough := t.st.candCalls >= t.cfg.MinCalls && t.st.baseCalls >= t.cfg.MinCalls
	t.st.odds.reach(t.st.looks, enough, t.odds.logM, t.logThreshold)
	t.st.floor.reach(t.st.looks, enough, t.floor.logM, t.logThreshold)
	t.st.logE = min(t.st.odds.held(t.odds.logM), t.st.floor.held(t.floor.logM))
	t.st.since = max(t.odds.sinceLook(), t.floor.sinceLook())
	t.st.reach(enough, t.logThreshold)
	if t.st.passedAt == 0 && t.pass.logR != nil && enough && t.st.logPassE >= t.logPass {
		t.st.passedAt = t.st.looks
	}
}

// maxShare caps b = 1 − e^(−μ), the weight the floor factor takes off per
// baseline error.
const maxShare = 0.9

// floorLogFactor is log L of the floor part for one alternative: with
// a = e^λ − 1 > 0 and b = 1 − e^(−μ),
//
//	L = exp(λx − μy) / (1 + δa)^n₁,   b = n₁(1+r)a / (n₀(1+δa)).
//
// For n₁ calls failing independently with probability p₁ and n₀ with p₀,
// E exp(λx − μy) = (1+p₁a)^n₁ (1−p₀b)^n₀; under p₁ ≤ (1+r)p₀ + δ its log
// is at most f(p₀) = n₁log(1+((1+r)p₀+δ)a) + n₀log(1−p₀b), concave in p₀
// with f′(0) = 0 for this b, so at most f(0) = n₁log(1+δa): E L ≤ 1 for
// every p₀. When b would pass maxShare, a is lowered to meet it.
func floorLogFactor(x, y, n1, n0 int64, a, r, delta float64) float64 {
	m1, m0 := float64(n1)*(1+r), float64(n0)
	if m1*a > maxShare*m0*(1+delta*a) {
		a = maxShare * m0 / (m1 - maxShare*m0*delta)
	}
	b := m1 * a / (m0 * (1 + delta*a))
	return math.Log1p(a)*float64(x) + math.Log1p(-b)*float64(y) - float64(n1)*math.Log1p(delta*a)
}

// check validates one look's counts against the running totals.
func (t *errorTest) check(candCalls, candErrors, baseCalls, baseErrors int64) error {
	if err := checkCounts(ErrBadLook, "candidate ", candCalls, candErrors, t.st.candCalls, "calls", "errors"); err != nil {
		return err
	}
	if err := checkCounts(ErrBadLook, "baseline ", baseCalls, baseErrors, t.st.baseCalls, "calls", "errors"); err != nil {
		return err
	}
	if candCalls+baseCalls < candCalls {
		return config.Errorf(ErrBadLook, "baseline calls", baseCalls, "and candidate calls = %d overflow a count together", candCalls)
	}
	return nil
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
//   - Fail once both parts have reached 1/α, each at a look where both
//     versions had MinCalls calls; it stays Fail.
//   - Inconclusive when the last look was rejected, either version has
//     fewer than MinCalls calls, or the step has fewer than MinStepCalls
//     candidate calls; and, with a Tolerance, while the tolerance test has
//     not yet concluded.
//   - Pass otherwise: the step has MinStepCalls candidate calls and the
//     test has not failed (and, with a Tolerance, the candidate's error odds
//     are confidently below Tolerance times the baseline's).
func (t *errorTest) Verdict() Verdict {
	v := Verdict{Test: TestErrors, Evidence: t.evidence()}
	ev := v.Evidence
	figures := fmt.Sprintf("candidate %s (%d/%d) vs baseline %s (%d/%d)",
		Percent(rate(t.st.candErrs, t.st.candCalls)), t.st.candErrs, t.st.candCalls,
		Percent(rate(t.st.baseErrs, t.st.baseCalls)), t.st.baseErrs, t.st.baseCalls)
	e := fmt.Sprintf("odds e-value %s, floor e-value %s, threshold %s (α = %s over the rollout)",
		Number(ev.OddsStatistic), Number(ev.FloorStatistic), Number(ev.Threshold), Percent(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("errors: the candidate fails more often than the baseline, beyond the floor of %s: %s; %s, both reached by look %d, evidence since look %d",
			t.floorText(), figures, e, t.st.failedAt, ev.SinceLook)
	case t.st.rejected != nil:
		v.Reason = "errors: last look rejected: " + t.st.rejected.Error()
	case t.st.candCalls == 0 || t.st.baseCalls == 0:
		v.Reason = fmt.Sprintf("errors: no data: %d candidate and %d baseline calls", t.st.candCalls, t.st.baseCalls)
	case t.st.candCalls < t.cfg.MinCalls || t.st.baseCalls < t.cfg.MinCalls:
		v.Reason = fmt.Sprintf("errors: too few samples: %d candidate and %d baseline calls, need %d each", t.st.candCalls, t.st.baseCalls, t.cfg.MinCalls)
	case t.st.stepCalls < t.cfg.MinStepCalls:
		v.Reason = fmt.Sprintf("errors: %d candidate calls in this step, need %d to pass; %s; %s", t.st.stepCalls, t.cfg.MinStepCalls, figures, e)
	case t.pass.logR != nil && t.st.passedAt == 0:
		v.Reason = fmt.Sprintf("errors: not yet confident that the candidate's error odds are below %s× the baseline's (e-value %s, threshold %s); %s",
			Number(t.cfg.Tolerance), Number(ev.PassStatistic), Number(ev.PassThreshold), figures)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("errors: no evidence the candidate fails more than the baseline after %d candidate calls in this step: %s; %s", t.st.stepCalls, figures, e)
		if t.pass.logR != nil {
			v.Reason += fmt.Sprintf("; error odds below %s× the baseline's since look %d", Number(t.cfg.Tolerance), t.st.passedAt)
		}
	}
	v.Reason += t.st.idleNote("candidate calls")
	return v
}

// floorText describes the floor: "0.1 percentage point", "10 % of the
// baseline's rate + 0.1 percentage point", or "none".
func (t *errorTest) floorText() string {
	delta, r := max(t.cfg.Floor, 0), t.cfg.RelativeFloor
	pp := fmt.Sprintf("%s percentage point", Number(100*delta))
	switch {
	case r == 0 && delta == 0:
		return "none"
	case r == 0:
		return pp
	case delta == 0:
		return Percent(r) + " of the baseline's rate"
	}
	return Percent(r) + " of the baseline's rate + " + pp
}

func (t *errorTest) evidence() *Evidence {
	ev := t.st.evidence(errorsMethod, t.alpha, t.st.stepCalls, t.restarts)
	ev.Candidate = Sample{Samples: t.st.candCalls, Events: t.st.candErrs, Rate: rate(t.st.candErrs, t.st.candCalls)}
	ev.Baseline = Sample{Samples: t.st.baseCalls, Events: t.st.baseErrs, Rate: rate(t.st.baseErrs, t.st.baseCalls)}
	ev.OddsStatistic, ev.OddsAtLook = expCapped(t.st.odds.held(t.odds.logM)), t.st.odds.at
	ev.FloorStatistic, ev.FloorAtLook = expCapped(t.st.floor.held(t.floor.logM)), t.st.floor.at
	ev.Floor, ev.RelativeFloor = max(t.cfg.Floor, 0), t.cfg.RelativeFloor
	ev.Clustering = []float64{t.st.disp.rho()}
	if t.pass.logR != nil {
		ev.Tolerance = t.cfg.Tolerance
		ev.PassStatistic = expCapped(t.st.logPassE)
		ev.PassThreshold = 1 / t.cfg.PassAlpha
	}
	return ev
}
