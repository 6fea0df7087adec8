package judge

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/ninelives-go/ninelives/internal/config"
)

// LatencyConfig tunes the latency test: the centre (a rank test) and the
// tail (the share of calls above the baseline's own high quantiles), one
// detector for both. Zero fields take the defaults.
type LatencyConfig struct {
	// MinCalls is how many latency samples each version needs in the
	// rollout before the test may fail or pass. Default 50.
	MinCalls int64 `json:"minCalls,omitempty"`
	// MinStepCalls is how many candidate latency samples the current step
	// needs before the test may pass. Default 500.
	MinStepCalls int64 `json:"minStepCalls,omitempty"`
	// Tolerance and AbsoluteTolerance are the slowdown that never counts
	// as a regression: against a baseline value u the candidate may take
	// max(u·(1+Tolerance), u+AbsoluteTolerance). Tolerance defaults to 0.1
	// (10 %), AbsoluteTolerance to 0.001 s (1 ms; negative for none): "10 %
	// or 1 ms, whichever is larger", so microseconds between a cold and a
	// warm connection never fail a fast service. On histograms the
	// tolerance in force lies between the one asked and that plus one
	// bucket (the sentinel's are 9.05 % wide).
	Tolerance         float64 `json:"tolerance,omitempty"`
	AbsoluteTolerance float64 `json:"absoluteTolerance,omitempty"`
	// Strict tests for any slowdown at all, as if both tolerances were 0.
	Strict bool `json:"strict,omitempty"`
	// Quantiles are the baseline quantiles whose tails the tail test
	// watches, each strictly between 0 and 1. Default 0.95, 0.99 and
	// 0.999. The p99.9 catches a few slow calls far out on a busy machine,
	// where the baseline's own share above its p99 drifts above 1 % as the
	// load moves faster than the reference histogram follows, and hides
	// them from the p99 (the README's make evaluate figures). A quantile q
	// is tested once the reference histogram holds MinExceed/(1−q) calls
	// (10,000 for the p99.9: from the 12th look at 1,000 baseline calls a
	// look), so never while the baseline serves fewer than
	// MinExceed/(1−q)·(1−2^(−1/BaselineHalfLife)) calls a look (about 58
	// for the p99.9, 6 for the p99), where that histogram levels off.
	Quantiles []float64 `json:"quantiles,omitempty"`
	// TailWeight is the tail's part of the latency detector's prior
	// weight, in (0, 1]; the centre gets the rest (1: the tail alone).
	// Default 0.5.
	TailWeight float64 `json:"tailWeight,omitempty"`
	// DisableTail leaves the tail test out: the centre alone.
	DisableTail bool `json:"disableTail,omitempty"`
	// BaselineHalfLife is the half-life, in looks with baseline calls, of
	// the decayed baseline histogram the tail thresholds are learned from.
	// Default 120: 2 min of the sentinel's default one-second ticks.
	BaselineHalfLife float64 `json:"baselineHalfLife,omitempty"`
	// MinExceed: a quantile q is tested once the decayed baseline
	// histogram holds MinExceed/(1−q) calls (1,000 for p99, 10,000 for
	// p99.9). Default 10.
	MinExceed float64 `json:"minExceed,omitempty"`
	// TailMinShare: the tail is tested only in looks where the candidate
	// served at least this share of the two versions' calls. Default 0.03;
	// negative: every look. A candidate with a far smaller share than the
	// baseline's runs colder (few calls on its connections and in its
	// servers), and on a busy machine colder means a heavier tail: an
	// effect of the share, not of the build (measured on loopback at 250
	// calls/s: the candidate's p99 56 ms against 7.4 ms at a 1 % share,
	// 18 ms against 7.6 ms at 5 %, 6.4 ms against 5.3 ms at 25 %). The
	// default canary's tail is so tested from its 5 % step; the centre is
	// tested at every share.
	TailMinShare float64 `json:"tailMinShare,omitempty"`
}

// Defaults of the latency test.
const (
	defaultLatencyTolerance = 0.1
	defaultAbsoluteLatency  = 0.001
	defaultTailWeight       = 0.5
	defaultHalfLife         = 120
	defaultMinExceed        = 10
	defaultTailMinShare     = 0.03
	maxQuantiles            = 10
)

var defaultQuantiles = []float64{0.95, 0.99, 0.999}

// earlierDefaultQuantiles were the default before the p99.9 was added: a
// state saved under them is refused with the setting that carries it on.
var earlierDefaultQuantiles = []float64{0.95, 0.99}

func (c LatencyConfig) withDefaults() (LatencyConfig, error) {
	if err := minCounts("calls", "MinCalls", &c.MinCalls, "MinStepCalls", &c.MinStepCalls); err != nil {
		return c, err
	}
	if err := c.toleranceDefaults(); err != nil {
		return c, err
	}
	if len(c.Quantiles) == 0 {
		c.Quantiles = append([]float64(nil), defaultQuantiles...)
	}
	if err := checkQuantiles(c.Quantiles); err != nil {
		return c, err
	}
	switch {
	case c.TailMinShare == 0:
		c.TailMinShare = defaultTailMinShare
	case c.TailMinShare < 0:
		c.TailMinShare = none
	case c.TailMinShare >= 1:
		return c, config.Errorf(ErrBadConfig, "TailMinShare", c.TailMinShare, "want a share below 1 (negative: test the tail in every look)")
	}
	for _, f := range []struct {
		name     string
		v        *float64
		def, max float64
		want     string
	}{
		{"TailWeight", &c.TailWeight, defaultTailWeight, 1, "want a share in (0, 1]"},
		{"BaselineHalfLife", &c.BaselineHalfLife, defaultHalfLife, 1e9, "want a number of looks above 0"},
		{"MinExceed", &c.MinExceed, defaultMinExceed, 1e9, "want a number of calls above 0"},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if !(*f.v > 0 && *f.v <= f.max) {
			return c, config.Errorf(ErrBadConfig, f.name, *f.v, "%s", f.want)
		}
	}
	return c, nil
}

// toleranceDefaults fills and checks the two tolerances.
func (c *LatencyConfig) toleranceDefaults() error {
	if c.Tolerance == 0 {
		c.Tolerance = defaultLatencyTolerance
	}
	switch {
	case c.AbsoluteTolerance == 0:
		c.AbsoluteTolerance = defaultAbsoluteLatency
	case c.AbsoluteTolerance < 0:
		c.AbsoluteTolerance = none
	}
	if !(c.Tolerance > 0 && c.Tolerance < 10) {
		return config.Errorf(ErrBadConfig, "Tolerance", c.Tolerance, "want a fraction above 0 and below 10 (use Strict for none)")
	}
	if !(c.AbsoluteTolerance <= 3600) {
		return config.Errorf(ErrBadConfig, "AbsoluteTolerance", c.AbsoluteTolerance, "want seconds up to 3600 (negative for none)")
	}
	return nil
}

// checkQuantiles checks the tail test's quantiles.
func checkQuantiles(qs []float64) error {
	if len(qs) > maxQuantiles {
		return config.Errorf(ErrBadConfig, "Quantiles", qs, "want at most %d quantiles", maxQuantiles)
	}
	for i, q := range qs {
		if !(q > 0 && q < 1) {
			return config.Errorf(ErrBadConfig, "Quantiles["+itoa(i)+"]", q, "want a quantile strictly between 0 and 1")
		}
		for j := range i {
			if qs[j] == q {
				return config.Errorf(ErrBadConfig, "Quantiles["+itoa(i)+"]", q, "repeats Quantiles[%d]", j)
			}
		}
	}
	return nil
}

// tolerance is g(u) = max(u·(1+r), u+a), the slowest candidate value
// tolerated against a baseline value u, and its inverse h.
type tolerance struct{ r, a float64 }

func (c LatencyConfig) tolerance() tolerance {
	if c.Strict {
		return tolerance{}
	}
	return tolerance{r: c.Tolerance, a: max(c.AbsoluteTolerance, 0)}
}

// allowed returns g(u).
func (t tolerance) allowed(u float64) float64 { return max(u*(1+t.r), u+t.a) }

// credited returns h(v) = g⁻¹(v): a candidate value with the tolerance
// taken off.
func (t tolerance) credited(v float64) float64 { return min(v/(1+t.r), v-t.a) }

// text describes the tolerance: "10 % or 1 ms, whichever is larger".
func (t tolerance) text() string {
	switch {
	case t.r == 0 && t.a == 0:
		return "none (strict)"
	case t.a == 0:
		return Percent(t.r)
	}
	return fmt.Sprintf("%s or %s, whichever is larger", Percent(t.r), ms(t.a))
}

// bucketOf returns the bucket (an index into Counts) that holds v:
// (bounds[k−1], bounds[k]], or len(bounds) above the last bound.
func bucketOf(bounds []float64, v float64) int { return sort.SearchFloat64s(bounds, v) }

// bucketAbove returns the lowest bucket that can hold a value above v: the
// first whose bound is above v.
func bucketAbove(bounds []float64, v float64) int {
	return sort.Search(len(bounds), func(k int) bool { return bounds[k] > v })
}

// latencyTilts are the alternatives of the centre: exponential tilts λ of
// the centred midrank score, each twice the one before.
var latencyTilts = [...]float64{0.5, 1, 2, 4, 8, 16}

const latencyMethod = "e-detector with restarts over exponentially tilted Mann-Whitney rank scores per look (Hoeffding's sampling-without-replacement bound, candidate credited with the tolerance) and the candidate's share of the calls above the baseline's own quantiles (Fisher noncentral hypergeometric)"

// The parts of the latency test, as Evidence.Part names them.
const (
	partCentre = "centre"
	partErrors = "errors" // the shadow test's paired errors
)

// latencyTest is the sequential test of the candidate's latency against
// the baseline's, from histogram buckets: one detector over the centre's
// tilts and each watched quantile's odds ratios. Like errorTest, keep one
// for the whole rollout and call BeginStep between steps.
type latencyTest struct {
	alpha, logThreshold float64
	cfg                 LatencyConfig
	tol                 tolerance
	restarts            Restarts
	quantiles           []float64 // those the tail test watches (none when disabled)
	centre              int       // alternatives of the centre: the first centre of the detector's
	det                 detector
	logL                []float64
	decay               float64

	// Sized on the rollout's bounds (sizeScratch).
	score   []float64 // one score per bucket
	shift   []int     // the bucket each candidate bucket is credited to
	shifted []uint64  // the candidate's counts so moved

	st latencyState
}

type latencyState struct {
	progress
	bounds    []float64 // set by the first look with data
	cand      []uint64  // cumulative counts
	base      []uint64
	candN     int64
	baseN     int64
	stepN     int64
	boundsSet bool
	ref       []float64 // the decayed baseline histogram of the earlier looks
	refN      float64
	tails     []tailState
	disp      []dispersion // each part's clustering: the centre's, then each quantile's
	part      string       // the part that carried the statistic when the test failed
}

// newLatencyTest returns a latency test that fails with probability at
// most alpha over the whole rollout when the candidate's latency is within
// the tolerance of the baseline's. cfg has its defaults filled in.
func newLatencyTest(alpha float64, cfg LatencyConfig, r Restarts) *latencyTest {
	t := &latencyTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg, tol: cfg.tolerance(), restarts: r}
	if !cfg.DisableTail {
		t.quantiles = cfg.Quantiles
	}
	var prior []float64
	centreWeight := 1.0
	if len(t.quantiles) > 0 {
		centreWeight = 1 - cfg.TailWeight
	}
	if centreWeight > 0 {
		t.centre = len(latencyTilts)
		for range latencyTilts {
			prior = append(prior, centreWeight/float64(len(latencyTilts)))
		}
	}
	for range t.quantiles {
		for range harmOdds {
			prior = append(prior, cfg.TailWeight/float64(len(t.quantiles)*len(harmOdds)))
		}
	}
	t.det = newDetector(prior, r)
	t.logL = make([]float64, len(prior))
	t.decay = math.Exp2(-1 / cfg.BaselineHalfLife)
	t.st.tails = make([]tailState, len(t.quantiles))
	t.st.disp = make([]dispersion, 1+len(t.quantiles))
	for i := range t.st.disp {
		t.st.disp[i].k = -1
	}
	for i := range t.st.tails {
		t.st.tails[i].k, t.st.tails[i].m = -1, -1
	}
	t.st.logE = t.det.logM
	return t
}

// Observe adds one look: each version's latency histogram of the calls
// since the previous look (deltas). Both must share their bounds, and the
// bounds must stay the same for the whole rollout. A histogram with no
// Counts means no calls. An invalid look is rejected with an error naming
// the field; until the next valid look, Verdict is Inconclusive (unless the
// test has already failed).
func (t *latencyTest) Observe(candidate, baseline Buckets) error {
	if err := t.st.take(t.check(candidate, baseline)); err != nil {
		return err
	}
	t.st.served(int64(candidate.total()))
	if len(candidate.Counts) == 0 && len(baseline.Counts) == 0 {
		return nil
	}
	if !t.st.boundsSet {
		bounds := candidate.Bounds
		if len(candidate.Counts) == 0 {
			bounds = baseline.Bounds
		}
		t.setBounds(bounds)
	}
	nc, nb := add(t.st.cand, candidate.Counts), add(t.st.base, baseline.Counts)
	t.st.candN += int64(nc)
	t.st.baseN += int64(nb)
	t.st.stepN += int64(nc)
	if nc > 0 && nb > 0 {
		t.update(candidate.Counts, baseline.Counts, float64(nc), float64(nb))
	}
	if nb > 0 {
		t.learnDispersion(baseline.Counts, float64(nb))
		t.learn(baseline.Counts, float64(nb))
	}
	t.st.since = t.det.sinceLook()
	t.st.logE = t.det.logM
	t.st.reach(t.st.candN >= t.cfg.MinCalls && t.st.baseN >= t.cfg.MinCalls, t.logThreshold)
	if t.st.failedAt == t.st.looks && t.st.part == "" {
		t.st.part = t.topPart()
	}
	return nil
}

// setBounds takes the rollout's bounds from its first look with data.
func (t *latencyTest) setBounds(bounds []float64) {
	n := len(bounds) + 1
	t.st.boundsSet = true
	t.st.bounds = append(t.st.bounds[:0], bounds...)
	t.st.cand = append(t.st.cand[:0], make([]uint64, n)...)
	t.st.base = append(t.st.base[:0], make([]uint64, n)...)
	t.st.ref = append(t.st.ref[:0], make([]float64, n)...)
	t.sizeScratch()
}

// add adds a look's counts into cum and returns how many there were.
func add(cum, counts []uint64) uint64 {
	var n uint64
	for i, c := range counts {
		cum[i] += c
		n += c
	}
	return n
}

func (t *latencyTest) check(candidate, baseline Buckets) error {
	if err := candidate.Validate("candidate latency"); err != nil {
		return err
	}
	if err := baseline.Validate("baseline latency"); err != nil {
		return err
	}
	if len(candidate.Counts) > 0 && len(baseline.Counts) > 0 && !sameBounds(candidate.Bounds, baseline.Bounds) {
		return config.Errorf(ErrBadLook, "candidate latency.Bounds", candidate.Bounds, "differ from baseline latency.Bounds = %v", baseline.Bounds)
	}
	for _, h := range [2]struct {
		name string
		h    Buckets
	}{{"candidate", candidate}, {"baseline", baseline}} {
		if t.st.boundsSet && len(h.h.Counts) > 0 && !sameBounds(h.h.Bounds, t.st.bounds) {
			return config.Errorf(ErrBadLook, h.name+" latency.Bounds", h.h.Bounds, "differ from the bounds %v of earlier looks", t.st.bounds)
		}
	}
	nc, nb := candidate.total(), baseline.total()
	if t.st.candN+int64(nc) < t.st.candN || t.st.baseN+int64(nb) < t.st.baseN || nc+nb > math.MaxInt64 {
		return config.Errorf(ErrBadLook, "latency.Counts", nil, "overflow the running totals or a count")
	}
	return nil
}

// update adds the look's factors of every alternative to the detector:
// the centre's tilts first, then each quantile's odds ratios.
func (t *latencyTest) update(c, b []uint64, nc, nb float64) {
	if t.centre > 0 {
		t.rankFactors(t.logL[:t.centre], c, b, nc, nb)
		temper(t.logL[:t.centre], t.st.disp[0], min(nc, nb))
	}
	for i := range t.quantiles {
		from := t.centre + i*len(harmOdds)
		t.tailFactors(i, t.logL[from:from+len(harmOdds)], c, b, int64(nc), int64(nb))
	}
	t.det.observe(t.logL, t.st.looks)
}

// rankFactors writes the centre's log factor of each tilt into out.
//
// Given the look's pooled buckets, if both versions share one latency
// distribution, the candidate's calls are a uniformly random subset of the
// pooled calls. Each call is scored by its bucket's centred midrank
// u = (calls below + half the bucket)/N − ½, and W is the sum of the
// scores of the smaller group's calls, a sum of draws without replacement
// from the pooled scores. By Hoeffding (1963, Theorem 4),
// E exp(λW) ≤ (mean over pooled calls of exp(λu))^n, so
// exp(λW)/(mean exp(λu))^n has expectation at most 1. The sign makes a
// slower candidate raise it.
//
// The tolerance enters by moving each candidate bucket (v₋, v₊] down to
// the lowest bucket that can hold a value above h(v₋), its lower edge
// credited with the tolerance: a candidate value v in it has h(v) > h(v₋),
// so under the null a baseline value u ≥ h(v) coupled with it lies in that
// bucket or above. The moved candidate is then no slower than the baseline
// and the factors keep their bound. (Strict moves nothing.)
func (t *latencyTest) rankFactors(out []float64, raw, b []uint64, nc, nb float64) {
	if len(out) == 0 {
		return
	}
	c := t.shifted
	clear(c)
	for j, x := range raw {
		c[t.shift[j]] += x
	}
	n := nc + nb
	var below float64
	for j := range c {
		m := float64(c[j]) + float64(b[j])
		t.score[j] = (below+m/2)/n - 0.5
		below += m
	}
	draws, sign, k := c, 1.0, nc
	if nb < nc {
		draws, sign, k = b, -1.0, nb
	}
	var w float64
	for j, d := range draws {
		w += float64(d) * t.score[j]
	}
	// The tilts double from 0.5: exp(2λu) = exp(λu)², one exp a bucket.
	var mgf [len(latencyTilts)]float64
	for j := range c {
		if m := float64(c[j]) + float64(b[j]); m > 0 {
			e := math.Exp(sign * latencyTilts[0] * t.score[j])
			for i := range mgf {
				mgf[i] += m * e
				e *= e
			}
		}
	}
	for i, lam := range latencyTilts {
		out[i] = sign*lam*w - k*math.Log(mgf[i]/n)
	}
}

// sizeScratch fits the per-bucket work space to the rollout's bounds.
func (t *latencyTest) sizeScratch() {
	n := len(t.st.bounds) + 1
	t.score = append(t.score[:0], make([]float64, n)...)
	t.shifted = append(t.shifted[:0], make([]uint64, n)...)
	t.shift = t.shift[:0]
	for j := range n {
		to := j
		if j > 0 {
			to = min(j, bucketAbove(t.st.bounds, t.tol.credited(t.st.bounds[j-1])))
		}
		t.shift = append(t.shift, to)
	}
}

// BeginStep resets the step's sample count that Pass needs; the evidence
// and the α budget carry over.
func (t *latencyTest) BeginStep() { t.st.stepN = 0 }

// Failed reports whether the test has failed (it stays failed).
func (t *latencyTest) Failed() bool { return t.st.failedAt > 0 }

// topPart names the part whose alternatives weigh most in the statistic:
// "centre" or a quantile's ("p99").
func (t *latencyTest) topPart() string {
	if t.det.top < t.centre {
		return partCentre
	}
	return quantileName(t.quantiles[(t.det.top-t.centre)/len(harmOdds)])
}

// quantileName names a quantile as percentiles are: 0.99 "p99", 0.999
// "p99.9".
func quantileName(q float64) string {
	return "p" + strconv.FormatFloat(math.Round(q*1e5)/1e3, 'f', -1, 64)
}

// Verdict returns the test's conclusion: Fail once the statistic has
// reached 1/α at a look where both versions had MinCalls latency samples
// (it stays Fail); Inconclusive when the last look was rejected, either
// version has fewer than MinCalls samples or the step has fewer than
// MinStepCalls candidate samples; Pass otherwise (enough samples, not
// failed).
func (t *latencyTest) Verdict() Verdict {
	v := Verdict{Test: TestLatency, Evidence: t.evidence()}
	ev := v.Evidence
	figures := fmt.Sprintf("candidate p50 %s p99 %s vs baseline p50 %s p99 %s, P(candidate slower) %.3f",
		ms(ev.Candidate.P50), ms(ev.Candidate.P99), ms(ev.Baseline.P50), ms(ev.Baseline.P99), ev.ProbSlower)
	e := fmt.Sprintf("e-value %s, threshold %s (α = %s over the rollout)", Number(ev.Statistic), Number(ev.Threshold), Percent(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("latency: the candidate is slower than the baseline %s; %s, reached at look %d, evidence since look %d",
			t.failText(ev), e, t.st.failedAt, ev.SinceLook)
	case t.st.rejected != nil:
		v.Reason = "latency: last look rejected: " + t.st.rejected.Error()
	case t.st.candN == 0 || t.st.baseN == 0:
		v.Reason = fmt.Sprintf("latency: no data: %d candidate and %d baseline samples", t.st.candN, t.st.baseN)
	case t.st.candN < t.cfg.MinCalls || t.st.baseN < t.cfg.MinCalls:
		v.Reason = fmt.Sprintf("latency: too few samples: %d candidate and %d baseline, need %d each", t.st.candN, t.st.baseN, t.cfg.MinCalls)
	case t.st.stepN < t.cfg.MinStepCalls:
		v.Reason = fmt.Sprintf("latency: %d candidate samples in this step, need %d to pass; %s; %s", t.st.stepN, t.cfg.MinStepCalls, figures, e)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("latency: no evidence the candidate is slower beyond the tolerance (%s) after %d candidate samples in this step: %s; %s",
			t.tol.text(), t.st.stepN, figures, e)
	}
	v.Reason += t.st.idleNote("candidate latency samples")
	return v
}

// failText says where the candidate is slower: at the centre, with the
// quantiles, or in a tail, with the shares above the thresholds.
func (t *latencyTest) failText(ev *Evidence) string {
	for _, tl := range ev.Tail {
		if tl.Name == ev.Part {
			return fmt.Sprintf("in its %s tail: %s of candidate calls above %s vs %s of baseline calls above %s (the baseline's %s, tolerance %s)",
				tl.Name, Percent(tl.CandidateRate), ms(tl.CandidateThreshold), Percent(tl.BaselineRate), ms(tl.BaselineThreshold), tl.Name, t.tol.text())
		}
	}
	return fmt.Sprintf("beyond the tolerance (%s): candidate p50 %s p99 %s vs baseline p50 %s p99 %s, P(candidate slower) %.3f",
		t.tol.text(), ms(ev.Candidate.P50), ms(ev.Candidate.P99), ms(ev.Baseline.P50), ms(ev.Baseline.P99), ev.ProbSlower)
}

func (t *latencyTest) evidence() *Evidence {
	ev := t.st.evidence(latencyMethod, t.alpha, t.st.stepN, t.restarts)
	ev.ProbSlower = 0.5
	ev.Tolerance, ev.AbsoluteTolerance = t.tol.r, t.tol.a
	ev.Part = t.st.part
	if ev.Part == "" {
		ev.Part = t.topPart()
	}
	ch := Buckets{Bounds: t.st.bounds, Counts: t.st.cand}
	bh := Buckets{Bounds: t.st.bounds, Counts: t.st.base}
	ev.Candidate = quantiles(ch, t.st.candN)
	ev.Baseline = quantiles(bh, t.st.baseN)
	if t.st.boundsSet {
		mw := mannWhitney(t.st.cand, t.st.base)
		ev.ProbSlower, ev.Z = finite(mw.ProbSlower), finite(mw.Z)
	}
	ev.Tail = t.tailEvidence()
	for _, d := range t.st.disp {
		ev.Clustering = append(ev.Clustering, d.rho())
	}
	return ev
}

func quantiles(h Buckets, n int64) Sample {
	return Sample{Samples: n, P50: finite(h.Quantile(0.5)), P90: finite(h.Quantile(0.9)), P99: finite(h.Quantile(0.99))}
}

// ms formats seconds as milliseconds.
func ms(s float64) string { return fmt.Sprintf("%.3gms", 1000*s) }
