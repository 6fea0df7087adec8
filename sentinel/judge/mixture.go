package judge

import (
	"fmt"
	"math"
)

// This file holds the sequential machinery the tests share besides the
// detector: the exact conditional distribution of one look's events,
// Fisher's noncentral hypergeometric distribution, and the progress every
// test keeps of its looks.

// geometricGrid returns k values from·step^i, i = 0..k-1.
func geometricGrid(from, step float64, k int) []float64 {
	g := make([]float64, k)
	for i := range g {
		g[i] = from * math.Pow(step, float64(i))
	}
	return g
}

// fnch is the distribution of the number of events that fall on the
// candidate in one look, given the look's margins: n1 candidate calls, n0
// baseline calls and e events in all. With the candidate's event odds ψ
// times the baseline's, it is Fisher's noncentral hypergeometric
// distribution, P(y) ∝ C(n1,y)·C(n0,e−y)·ψ^y on lo ≤ y ≤ hi (Fisher 1935;
// Harkness 1965; McCullagh & Nelder 1989, §7.3). With ψ = 1 it is the
// central hypergeometric distribution of Fisher's exact test. The family
// has a monotone likelihood ratio in y, so a ratio that increases in y has
// no larger mean under any ψ' ≤ ψ.
type fnch struct {
	n1, n0, e float64
	lo, hi    int64
}

// newFNCH returns the look's distribution; ok is false when the margins
// leave only one possible value, so the look carries no information.
func newFNCH(n1, n0, e int64) (f fnch, ok bool) {
	f = fnch{n1: float64(n1), n0: float64(n0), e: float64(e), lo: max(0, e-n0), hi: min(n1, e)}
	return f, f.hi > f.lo
}

// ratio returns C(n1,y+1)C(n0,e−y−1) / (C(n1,y)C(n0,e−y)), for lo ≤ y < hi.
func (f fnch) ratio(y int64) float64 {
	v := float64(y)
	return (f.n1 - v) * (f.e - v) / ((v + 1) * (f.n0 - f.e + v + 1))
}

// logH returns log C(n1,y)C(n0,e−y) without the terms that do not depend
// on y (they cancel in every ratio this file takes).
func (f fnch) logH(y int64) float64 {
	v := float64(y)
	a, _ := math.Lgamma(v + 1)
	b, _ := math.Lgamma(f.n1 - v + 1)
	c, _ := math.Lgamma(f.e - v + 1)
	d, _ := math.Lgamma(f.n0 - f.e + v + 1)
	return -(a + b + c + d)
}

// maxTerms bounds the terms logZ sums on each side of the mode, so that a
// look's cost stays bounded whatever its counts.
const maxTerms = 4096

// logZ returns log Σ_y h(y)ψ^y (with logH's convention). It sums outward
// from the mode of the (log-concave) terms and stops once a term falls
// below 1e-17 of the mode's, or after maxTerms terms a side, so its cost
// grows with the distribution's spread, not with its support, and is
// bounded. With upper it adds a bound on the terms left out (each side's
// terms fall at least geometrically past the last one summed), so it
// returns an upper bound on the normaliser, and without it a lower bound:
// a likelihood ratio with the alternative's normaliser bounded above and
// the null's below is never larger than the exact one.
func (f fnch) logZ(psi, logPsi float64, upper bool) float64 {
	// The mode is the first y whose successor is smaller: ψ·ratio(y) < 1;
	// ψ·ratio decreases in y.
	lo, hi := f.lo, f.hi
	for lo < hi {
		mid := lo + (hi-lo)/2
		if psi*f.ratio(mid) < 1 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	mode := lo
	s := 1 + f.side(mode, psi, 1, upper) + f.side(mode, psi, -1, upper)
	return f.logH(mode) + float64(mode)*logPsi + math.Log(s)
}

// side sums the terms after the mode (dir 1) or before it (dir −1),
// relative to the mode's, and with upper a bound on those it leaves out.
func (f fnch) side(mode int64, psi float64, dir int64, upper bool) float64 {
	const tiny = 1e-17
	s, t := 0.0, 1.0
	y := mode
	for k := 0; k < maxTerms && t >= tiny; k++ {
		if f.last(y, dir) {
			return s // every term summed
		}
		t *= f.step(y, psi, dir)
		y += dir
		s += t
	}
	if !upper || f.last(y, dir) {
		return s
	}
	// The terms left out fall at least as fast as the next step does, and
	// none is above the last one summed.
	left := float64(f.hi - y)
	if dir < 0 {
		left = float64(y - f.lo)
	}
	if r := f.step(y, psi, dir); r < 1 {
		return s + t*min(r/(1-r), left)
	}
	return s + t*left
}

// last reports whether y is the last value of the support in direction dir.
func (f fnch) last(y, dir int64) bool { return (dir > 0 && y >= f.hi) || (dir < 0 && y <= f.lo) }

// step returns term(y+dir)/term(y).
func (f fnch) step(y int64, psi float64, dir int64) float64 {
	if dir > 0 {
		return psi * f.ratio(y)
	}
	return 1 / (psi * f.ratio(y-1))
}

// logLR returns log P_ψ(x)/P_ψ0(x) given the lower bound logZ0 on ψ0's
// normaliser, with ψ's bounded above: never above the exact ratio.
func (f fnch) logLR(x int64, psi, logPsi, logPsi0, logZ0 float64) float64 {
	return float64(x)*(logPsi-logPsi0) - (f.logZ(psi, logPsi, true) - logZ0)
}

// smallSupport is the widest support logLRs sums whole, every
// alternative in one pass.
const smallSupport = 64

// logLRs writes log P_ψ(x)/P_ψ0(x) for each ψ of psis into out (logPsis
// their logs). On a support of at most smallSupport+1 values it sums every
// term once, relative to the largest, and weighs them for each ψ by
// multiplication: exact, with no log-gamma; on a wider one it takes logLR
// per ψ, with the normalisers bounded.
func (f fnch) logLRs(x int64, logPsi0 float64, logPsis, out []float64) {
	var r [smallSupport + 1]float64
	if f.hi-f.lo > smallSupport || !f.weighable(logPsi0, logPsis) {
		z0 := f.logZ(math.Exp(logPsi0), logPsi0, false)
		for i, l := range logPsis {
			out[i] = f.logLR(x, math.Exp(l), l, logPsi0, z0)
		}
		return
	}
	m := f.relativeTerms(&r)
	z0 := f.sumLog(&r, m, logPsi0)
	for i, l := range logPsis {
		out[i] = float64(x)*(l-logPsi0) - (f.sumLog(&r, m, l) - z0)
	}
}

// weighable reports whether every ψ^(y−m) over the support stays well
// inside float64's range (|log| below 600).
func (f fnch) weighable(logPsi0 float64, logPsis []float64) bool {
	top := math.Abs(logPsi0)
	for _, l := range logPsis {
		top = max(top, math.Abs(l))
	}
	return top*float64(f.hi-f.lo) < 600
}

// relativeTerms writes h(y)/h(m) for every y of the (small) support into
// r[y−lo], m being the central hypergeometric law's mode, so that none is
// above 1; it returns m.
func (f fnch) relativeTerms(r *[smallSupport + 1]float64) int64 {
	lo, hi := f.lo, f.hi
	for lo < hi {
		mid := lo + (hi-lo)/2
		if f.ratio(mid) < 1 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	m := lo
	r[m-f.lo] = 1
	for y := m; y < f.hi; y++ {
		r[y+1-f.lo] = r[y-f.lo] * f.ratio(y)
	}
	for y := m; y > f.lo; y-- {
		r[y-1-f.lo] = r[y-f.lo] / f.ratio(y-1)
	}
	return m
}

// sumLog returns log Σ_y h(y)ψ^y − log h(m) from relativeTerms' r.
func (f fnch) sumLog(r *[smallSupport + 1]float64, m int64, logPsi float64) float64 {
	step := math.Exp(logPsi)
	pw := math.Exp(float64(f.lo-m) * logPsi) // ψ^(y−m), within e^±600 (weighable)
	var s float64
	for _, t := range r[:f.hi-f.lo+1] {
		s += t * pw
		pw *= step
	}
	return float64(m)*logPsi + math.Log(s)
}

// progress is what every sequential test keeps of its looks: how many it
// took, the log of its decision statistic, the look whose restart carries
// it, when it first reached its threshold, and why the last look was
// rejected.
type progress struct {
	looks, failedAt  int
	since, failSince int
	idle             int // looks since the last one with candidate samples
	logE, failE      float64
	rejected         error
}

// idleNote says, for a verdict's reason, how long the test has had no
// candidate samples ("candidate calls", "comparisons"): "" when the last
// valid look had some, or the test has failed or the look was rejected.
func (p *progress) idleNote(what string) string {
	if p.idle == 0 || p.failedAt > 0 || p.rejected != nil {
		return ""
	}
	if p.idle == 1 {
		return "; no " + what + " in the last look"
	}
	return fmt.Sprintf("; no %s in the last %d looks", what, p.idle)
}

// served records whether a valid look had candidate samples.
func (p *progress) served(samples int64) {
	if samples > 0 {
		p.idle = 0
	} else {
		p.idle++
	}
}

// take records a look's check: a rejected look counts for nothing and
// keeps the test inconclusive until the next valid one.
func (p *progress) take(err error) error {
	p.rejected = err
	if err == nil {
		p.looks++
	}
	return err
}

// reach fails the test at this look if its statistic has reached the
// threshold with enough samples; a failed test stays failed.
func (p *progress) reach(enough bool, logThreshold float64) {
	if p.failedAt == 0 && enough && p.logE >= logThreshold {
		p.failedAt, p.failE, p.failSince = p.looks, p.logE, p.since
	}
}

// evidence is what every test's evidence says of its statistic: the
// e-value (at the failing look, once failed), the threshold, the looks and
// the restarts.
func (p *progress) evidence(method string, alpha float64, stepSamples int64, r Restarts) *Evidence {
	logE, since := p.logE, p.since
	if p.failedAt > 0 {
		logE, since = p.failE, p.failSince
	}
	return &Evidence{Method: method, Statistic: expCapped(logE), Threshold: 1 / alpha, Alpha: alpha,
		Looks: p.looks, FailedAtLook: p.failedAt, SinceLook: min(max(since, 1), p.looks), IdleLooks: p.idle, StepSamples: stepSamples,
		RestartStart: r.Start, RestartLooks: r.Looks}
}
