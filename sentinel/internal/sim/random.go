package sim

import (
	"math"
	"math/rand/v2"
)

// Binomial draws the number of successes in n independent trials of
// probability p: exactly the count a per-call Bernoulli draw would give, at
// a cost that does not grow with n. Small means use inversion; larger ones
// use Hörmann's BTRS transformed rejection with squeeze (W. Hörmann, "The
// generation of binomial random variates", J. Statist. Comput. Simul. 46,
// 1993), with the exact log-pmf in the acceptance step.
func Binomial(r *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - Binomial(r, n, 1-p)
	case float64(n)*p < 10:
		return binomialInversion(r, n, p)
	}
	return btrs(r, n, p)
}

// binomialInversion walks the cumulative distribution from 0.
func binomialInversion(r *rand.Rand, n int64, p float64) int64 {
	s := p / (1 - p)
	f := math.Exp(float64(n) * math.Log1p(-p))
	u := r.Float64()
	var k int64
	for u > f && k < n {
		u -= f
		k++
		f *= float64(n-k+1) / float64(k) * s
	}
	return k
}

// btrs is Hörmann's algorithm for p ≤ 0.5 and n·p ≥ 10.
func btrs(r *rand.Rand, n int64, p float64) int64 {
	nf := float64(n)
	q := 1 - p
	spq := math.Sqrt(nf * p * q)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*p
	c := nf*p + 0.5
	vr := 0.92 - 4.2/b
	alpha := (2.83 + 5.1/b) * spq
	lpq := math.Log(p / q)
	m := math.Floor((nf + 1) * p)
	lm1, _ := math.Lgamma(m + 1)
	lm2, _ := math.Lgamma(nf - m + 1)
	h := lm1 + lm2
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + c)
		if k < 0 || k > nf {
			continue
		}
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if us <= 0 {
			continue
		}
		lk1, _ := math.Lgamma(k + 1)
		lk2, _ := math.Lgamma(nf - k + 1)
		if math.Log(v*alpha/(a/(us*us)+b)) <= h-lk1-lk2+(k-m)*lpq {
			return int64(k)
		}
	}
}

// multinomial spreads n calls over buckets with probabilities probs (which
// sum to 1), writing the counts into out, by successive conditional
// binomial draws.
func multinomial(r *rand.Rand, n int64, probs []float64, out []uint64) {
	rest := 1.0
	for i, p := range probs {
		if n == 0 {
			out[i] = 0
			continue
		}
		if i == len(probs)-1 || p >= rest {
			out[i] = uint64(n)
			n = 0
			continue
		}
		k := Binomial(r, n, p/rest)
		out[i] = uint64(k)
		n -= k
		rest -= p
	}
}

// bucketProbs returns the probability of each bucket (upper bounds, then
// +Inf) for v's latency: log-normal with v's median and σ, a share
// TailShare of it delayed by TailDelay.
func bucketProbs(bounds []float64, v Version) []float64 {
	cdf := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return 0.5 * math.Erfc(-(math.Log(x)-math.Log(v.LatencyMedian))/(v.LatencySigma*math.Sqrt2))
	}
	probs := make([]float64, len(bounds)+1)
	prev := 0.0
	for i, b := range bounds {
		c := (1-v.TailShare)*cdf(b) + v.TailShare*cdf(b-v.TailDelay)
		probs[i] = max(c-prev, 0)
		prev = max(prev, c)
	}
	probs[len(bounds)] = max(1-prev, 0)
	return probs
}
