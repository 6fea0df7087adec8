package judge

import (
	"math"
	"slices"

	"github.com/ninelives-go/ninelives/internal/config"
)

// Restarts says how each test spends its α on restarts, so that a
// regression that begins late in a rollout is caught about as fast as one
// present from the start. The zero value takes the defaults.
type Restarts struct {
	// Start (ω) is the share of a test's α given to the evidence that
	// starts with the rollout; the rest buys one restart at each of the
	// first Looks informative looks. Default 0.5; 1 turns restarts off.
	Start float64 `json:"start,omitempty"`
	// Looks (N) is how many informative looks (looks in which both
	// versions had calls) get a restart. Default 1800: 30 minutes of the
	// sentinel's default one-second ticks (7.5 minutes of 250 ms ones).
	// A regression that begins later is still caught,
	// by the restarts already running, but more slowly; the bound on false
	// rollbacks holds however long the rollout runs.
	Looks int `json:"looks,omitempty"`
}

const (
	defaultRestartStart = 0.5
	defaultRestartLooks = 1800
	maxRestartLooks     = 1 << 30
)

func (r Restarts) withDefaults() (Restarts, error) {
	if r.Start == 0 {
		r.Start = defaultRestartStart
	}
	if r.Looks == 0 {
		r.Looks = defaultRestartLooks
	}
	if !(r.Start > 0 && r.Start <= 1) {
		return r, config.Errorf(ErrBadConfig, "Restarts.Start", r.Start, "want a share in (0, 1]; 1 turns restarts off")
	}
	if r.Looks < 0 || r.Looks > maxRestartLooks {
		return r, config.Errorf(ErrBadConfig, "Restarts.Looks", r.Looks, "want a number of looks in 1..%d", maxRestartLooks)
	}
	return r, nil
}

// noRestarts is a plain mixture of likelihood-ratio processes.
var noRestarts = Restarts{Start: 1}

// detector is an e-detector of the Shiryaev–Roberts kind with a finite
// restart budget (J. Shin, A. Ramdas, A. Rinaldo, "E-detectors: a
// nonparametric framework for sequential change detection", NEJSDS 2024).
// For K alternatives with prior weights π_k it keeps
//
//	R_k(0) = ω,   R_k(t) = (R_k(t−1) + w_t)·L_k(t),   w_t = (1−ω)/N for t ≤ N, 0 after,
//
// where L_k(t) is the t-th informative look's likelihood-ratio factor of
// alternative k (E[L_k(t) | past] ≤ 1 under the null). Its statistic is
// M(t) = Σ_k π_k R_k(t): a weighted sum of likelihood-ratio processes
// started with the rollout and at each of the first N informative looks.
// M(t) + Σ_{s>t} w_s is a nonnegative supermartingale starting at 1, so by
// Ville's inequality M ever reaches 1/α with probability at most α. With
// ω = 1 it is the plain mixture Π L_k averaged over k. Everything is kept
// in logs; a look costs O(K) and allocates nothing.
type detector struct {
	logPi   []float64 // log π_k, normalised
	logW    float64   // log w; −Inf without restarts
	horizon int       // N

	logR  []float64 // log R_k
	since []int     // per alternative: the look whose restart weighs most in R_k (1: the start)
	n     int       // informative looks so far
	logM  float64   // log M
	top   int       // the alternative with the largest π_k R_k
}

// newDetector returns a detector over alternatives with prior weights pi
// (any positive numbers; they are normalised).
func newDetector(pi []float64, r Restarts) detector {
	d := detector{logPi: make([]float64, len(pi)), logR: make([]float64, len(pi)), since: make([]int, len(pi)), horizon: r.Looks, logW: math.Inf(-1)}
	var s float64
	for _, p := range pi {
		s += p
	}
	for i, p := range pi {
		d.logPi[i] = math.Log(p / s)
	}
	if r.Start < 1 {
		d.logW = math.Log((1 - r.Start) / float64(r.Looks))
	}
	for i := range d.logR {
		d.logR[i], d.since[i] = math.Log(r.Start), 1
	}
	d.total()
	return d
}

// uniform returns k equal prior weights.
func uniform(k int) []float64 { return slices.Repeat([]float64{1}, k) }

// observe adds one informative look's log factors, one per alternative;
// look is the test's look number, kept to say since when the evidence runs.
func (d *detector) observe(logL []float64, look int) {
	d.n++
	restart := d.n <= d.horizon && !math.IsInf(d.logW, -1)
	for i, l := range logL {
		r := d.logR[i]
		if restart {
			if d.logW > r {
				d.since[i] = look
			}
			r = logAddExp(r, d.logW)
		}
		d.logR[i] = r + l
	}
	d.total()
}

// total computes log M and the alternative that weighs most in it.
func (d *detector) total() {
	d.logM, d.top = d.logSum(0, len(d.logR))
}

// logSum returns log Σ π_k R_k over alternatives [from, to) and the one
// with the largest term.
func (d *detector) logSum(from, to int) (float64, int) {
	top, arg := math.Inf(-1), from
	for i := from; i < to; i++ {
		if v := d.logPi[i] + d.logR[i]; v > top {
			top, arg = v, i
		}
	}
	if math.IsInf(top, 0) {
		return top, arg
	}
	var s float64
	for i := from; i < to; i++ {
		s += math.Exp(d.logPi[i] + d.logR[i] - top)
	}
	return top + math.Log(s), arg
}

// partValue returns the e-value of alternatives [from, to) on their own:
// their weighted mean, log Σ π_k R_k − log Σ π_k.
func (d *detector) partValue(from, to int) float64 {
	v, _ := d.logSum(from, to)
	var w float64
	for i := from; i < to; i++ {
		w += math.Exp(d.logPi[i])
	}
	return v - math.Log(w)
}

// sinceLook is the look whose restart carries the largest part of M.
func (d *detector) sinceLook() int { return d.since[d.top] }

// logAddExp returns log(eᵃ + eᵇ).
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
