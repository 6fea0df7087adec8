package judge

import (
	"fmt"
	"math"

	"github.com/ninelives-go/ninelives/internal/config"
)

// LatencyConfig tunes the latency test. Zero fields take the defaults.
type LatencyConfig struct {
	// MinCalls is how many latency samples each version needs in the
	// rollout before the test may fail or pass. Default 50.
	MinCalls int64 `json:"minCalls,omitempty"`
	// MinStepCalls is how many candidate latency samples the current step
	// needs before the test may pass. Default 500.
	MinStepCalls int64 `json:"minStepCalls,omitempty"`
	// Tolerance is the slowdown the candidate may have, as a fraction: the
	// test fails only a candidate slower than the baseline × (1 +
	// Tolerance). Default 0.1 (10 %). It is rounded down to whole buckets
	// of the histograms (the sentinel's are 9.05 % wide, so 10 % is one).
	// A new version's first calls are often a little slower (cold
	// connections and caches); without a tolerance a busy service's
	// rollout would be failed for that alone.
	Tolerance float64 `json:"tolerance,omitempty"`
	// Strict tests for any slowdown at all, as if Tolerance were 0.
	Strict bool `json:"strict,omitempty"`
}

// defaultLatencyTolerance is the slowdown the latency test allows by
// default.
const defaultLatencyTolerance = 0.1

func (c LatencyConfig) withDefaults() (LatencyConfig, error) {
	if c.Tolerance == 0 {
		c.Tolerance = defaultLatencyTolerance
	}
	if err := minCounts("calls", "MinCalls", &c.MinCalls, "MinStepCalls", &c.MinStepCalls); err != nil {
		return c, err
	}
	if !(c.Tolerance > 0 && c.Tolerance < 10) {
		return c, config.Errorf(ErrBadConfig, "Tolerance", c.Tolerance, "want a fraction above 0 and below 10 (use Strict for none)")
	}
	return c, nil
}

// latencyTilts are the alternatives the latency test mixes: exponential
// tilts λ of the centred midrank score, equally weighted.
var latencyTilts = []float64{0.5, 1, 2, 4, 8, 16}

const latencyMethod = "mixture of exponentially tilted Mann-Whitney rank scores per look, bounded by Hoeffding's sampling-without-replacement inequality"

// latencyTest is the sequential test of the candidate's latency
// distribution against the baseline's, from histogram buckets. It fails
// when the candidate is slower. Like errorTest, keep one for the whole
// rollout and call BeginStep between steps.
type latencyTest struct {
	alpha, logThreshold float64
	cfg                 LatencyConfig
	mix                 mixture
	score               []float64 // scratch: one score per bucket
	shift               []int     // the bucket each candidate bucket moves to under the tolerance
	shifted             []uint64  // scratch: the candidate's counts so moved

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
}

// newLatencyTest returns a latency test that fails with probability at
// most alpha over the whole rollout when the candidate's latency has the
// same distribution as the baseline's. cfg has its defaults filled in.
func newLatencyTest(alpha float64, cfg LatencyConfig) *latencyTest {
	return &latencyTest{alpha: alpha, logThreshold: -math.Log(alpha), cfg: cfg, mix: newMixture(len(latencyTilts))}
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
	bounds := candidate.Bounds
	if len(candidate.Counts) == 0 {
		bounds = baseline.Bounds
	}
	if len(candidate.Counts) == 0 && len(baseline.Counts) == 0 {
		return nil
	}
	if !t.st.boundsSet {
		t.st.boundsSet = true
		t.st.bounds = append(t.st.bounds[:0], bounds...)
		t.st.cand = append(t.st.cand[:0], make([]uint64, len(bounds)+1)...)
		t.st.base = append(t.st.base[:0], make([]uint64, len(bounds)+1)...)
		t.sizeScratch()
	}
	var nc, nb uint64
	for i, c := range candidate.Counts {
		t.st.cand[i] += c
		nc += c
	}
	for i, b := range baseline.Counts {
		t.st.base[i] += b
		nb += b
	}
	t.st.candN += int64(nc)
	t.st.baseN += int64(nb)
	t.st.stepN += int64(nc)
	if nc > 0 && nb > 0 {
		t.update(candidate.Counts, baseline.Counts, float64(nc), float64(nb))
	}
	t.st.reach(t.st.candN >= t.cfg.MinCalls && t.st.baseN >= t.cfg.MinCalls, t.logThreshold)
	return nil
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
	var nc, nb uint64
	for _, c := range candidate.Counts {
		nc += c
	}
	for _, b := range baseline.Counts {
		nb += b
	}
	if t.st.candN+int64(nc) < t.st.candN || t.st.baseN+int64(nb) < t.st.baseN {
		return config.Errorf(ErrBadLook, "latency.Counts", nil, "overflow the running totals")
	}
	return nil
}

// update multiplies each component by this look's likelihood-ratio bound.
//
// Given the look's pooled buckets, if both versions share one latency
// distribution, the candidate's calls are a uniformly random subset of the
// pooled calls. Each call is scored by its bucket's centred midrank
// u = (calls below + half the bucket)/N − ½, and W is the sum of the
// scores of the smaller group's calls, which is a sum of draws without
// replacement from the pooled scores. By Hoeffding (1963, Theorem 4),
// E exp(λW) ≤ (mean over pooled calls of exp(λu))^n, so
// exp(λW)/(mean exp(λu))^n has expectation at most 1: a valid factor for a
// test supermartingale. The sign makes a slower candidate raise it.
//
// The tolerance enters by moving each candidate bucket down to the bucket
// of its upper bound ÷ (1 + Tolerance) before ranking: the test then asks
// whether the candidate, made that much faster, is still slower than the
// baseline. A candidate within the tolerance is, so moved, no slower than
// the baseline, and the factors keep their bound.
func (t *latencyTest) update(raw, b []uint64, nc, nb float64) {
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
	for i, lam := range latencyTilts {
		l := sign * lam
		var mgf float64
		for j := range c {
			if m := float64(c[j]) + float64(b[j]); m > 0 {
				mgf += m * math.Exp(l*t.score[j])
			}
		}
		t.mix.logLR[i] += l*w - k*math.Log(mgf/n)
	}
	t.st.logE = t.mix.logValue()
}

// sizeScratch fits the per-bucket work space to the rollout's bounds.
func (t *latencyTest) sizeScratch() {
	n := len(t.st.bounds) + 1
	t.score = append(t.score[:0], make([]float64, n)...)
	t.shifted = append(t.shifted[:0], make([]uint64, n)...)
	t.shift = toleranceShift(t.shift[:0], t.st.bounds, t.cfg)
}

// toleranceShift maps each bucket (the last is +Inf) to the bucket that
// holds its upper bound ÷ (1 + Tolerance), or to itself when Strict.
func toleranceShift(dst []int, bounds []float64, cfg LatencyConfig) []int {
	for j := range len(bounds) + 1 {
		to := j
		if !cfg.Strict && j > 0 && j < len(bounds) {
			v := bounds[j] / (1 + cfg.Tolerance)
			for to > 0 && bounds[to-1] >= v {
				to--
			}
		}
		dst = append(dst, to)
	}
	return dst
}

// BeginStep resets the step's sample count that Pass needs; the evidence
// and the α budget carry over.
func (t *latencyTest) BeginStep() { t.st.stepN = 0 }

// Failed reports whether the test has failed (it stays failed).
func (t *latencyTest) Failed() bool { return t.st.failedAt > 0 }

// Verdict returns the test's conclusion: Fail once the e-value has reached
// 1/α at a look where both versions had MinCalls latency samples (it stays
// Fail); Inconclusive when the last look was rejected, either version has
// fewer than MinCalls samples or the step has fewer than MinStepCalls
// candidate samples; Pass otherwise (enough samples, not failed).
func (t *latencyTest) Verdict() Verdict {
	v := Verdict{Test: TestLatency, Evidence: t.evidence()}
	ev := v.Evidence
	figures := fmt.Sprintf("candidate p50 %s p99 %s vs baseline p50 %s p99 %s, P(candidate slower) %.3f",
		ms(ev.Candidate.P50), ms(ev.Candidate.P99), ms(ev.Baseline.P50), ms(ev.Baseline.P99), ev.ProbSlower)
	e := fmt.Sprintf("e-value %s, threshold %s (α = %s over the rollout)", Number(ev.Statistic), Number(ev.Threshold), Percent(t.alpha))
	switch {
	case t.st.failedAt > 0:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("latency: the candidate is slower than the baseline: %s; %s, reached at look %d", figures, e, t.st.failedAt)
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
		v.Reason = fmt.Sprintf("latency: no evidence the candidate is slower after %d candidate samples in this step: %s; %s", t.st.stepN, figures, e)
	}
	return v
}

func (t *latencyTest) evidence() *Evidence {
	ev := t.st.evidence(latencyMethod, t.alpha, t.st.stepN)
	ev.ProbSlower = 0.5
	ch := Buckets{Bounds: t.st.bounds, Counts: t.st.cand}
	bh := Buckets{Bounds: t.st.bounds, Counts: t.st.base}
	ev.Candidate = quantiles(ch, t.st.candN)
	ev.Baseline = quantiles(bh, t.st.baseN)
	if t.st.boundsSet {
		mw := mannWhitney(t.st.cand, t.st.base)
		ev.ProbSlower, ev.Z = finite(mw.ProbSlower), finite(mw.Z)
	}
	return ev
}

func quantiles(h Buckets, n int64) Sample {
	return Sample{Samples: n, P50: finite(h.Quantile(0.5)), P90: finite(h.Quantile(0.9)), P99: finite(h.Quantile(0.99))}
}

// ms formats seconds as milliseconds.
func ms(s float64) string { return fmt.Sprintf("%.3gms", 1000*s) }
