package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bruteLogZ sums every term of Fisher's noncentral hypergeometric
// normaliser directly.
func bruteLogZ(f fnch, psi float64) float64 {
	top := math.Inf(-1)
	for y := f.lo; y <= f.hi; y++ {
		top = max(top, f.logH(y)+float64(y)*math.Log(psi))
	}
	var s float64
	for y := f.lo; y <= f.hi; y++ {
		s += math.Exp(f.logH(y) + float64(y)*math.Log(psi) - top)
	}
	return top + math.Log(s)
}

func TestFNCHLogZMatchesDirectSum(t *testing.T) {
	for _, m := range []struct{ n1, n0, e int64 }{
		{10, 90, 5}, {100, 900, 40}, {50, 50, 60}, {3, 1000, 2}, {500, 500, 400}, {1, 1, 1},
	} {
		f, ok := newFNCH(m.n1, m.n0, m.e)
		require.True(t, ok, "%+v", m)
		for _, psi := range []float64{1.0 / 16, 0.5, 1, math.Sqrt2, 4, 16} {
			assert.InDelta(t, bruteLogZ(f, psi), f.logZ(psi, math.Log(psi), true), 1e-9, "%+v ψ=%v", m, psi)
		}
	}
}

// Past maxTerms terms a side, logZ bounds the normaliser: below without
// upper, above with it. With a spread a little past maxTerms both are
// within 1e-6 of the sum over every term that counts (the logs are near
// 5·10⁷, so that is a few ulps); with ten times that spread they bracket
// it. A look with counts near the int64 limit costs maxTerms terms, and
// its bounds stay finite and ordered.
func TestFNCHLogZBoundsAWideSpread(t *testing.T) {
	for _, c := range []struct {
		n     int64
		tight bool
	}{{2_000_000, true}, {200_000_000, false}} { // sd ≈ 500 and 5,000
		f, ok := newFNCH(c.n, c.n, c.n)
		require.True(t, ok)
		for _, psi := range []float64{1, 4} {
			lower, upper := f.logZ(psi, math.Log(psi), false), f.logZ(psi, math.Log(psi), true)
			exact := bruteLogZNear(f, psi, 60000)
			if c.tight {
				assert.InDelta(t, exact, lower, 1e-6, "ψ=%v", psi)
				assert.InDelta(t, exact, upper, 1e-6, "ψ=%v", psi)
				continue
			}
			assert.Less(t, lower, exact-0.01, "n=%d ψ=%v", c.n, psi)
			assert.Greater(t, upper, exact, "n=%d ψ=%v", c.n, psi)
		}
	}
	huge, ok := newFNCH(math.MaxInt64/4, math.MaxInt64/4, math.MaxInt64/4)
	require.True(t, ok)
	lower, upper := huge.logZ(2, math.Log(2), false), huge.logZ(2, math.Log(2), true)
	assert.False(t, math.IsInf(upper, 0) || math.IsNaN(upper) || math.IsNaN(lower))
	assert.LessOrEqual(t, lower, upper)
}

// bruteLogZNear sums the normaliser's terms within width of the mode.
func bruteLogZNear(f fnch, psi float64, width int64) float64 {
	top, mode := math.Inf(-1), f.lo
	for y := f.lo; y <= f.hi; y += max(1, (f.hi-f.lo)/100000) {
		if v := f.logH(y) + float64(y)*math.Log(psi); v > top {
			top, mode = v, y
		}
	}
	var sum float64
	for y := max(f.lo, mode-width); y <= min(f.hi, mode+width); y++ {
		sum += math.Exp(f.logH(y) + float64(y)*math.Log(psi) - top)
	}
	return top + math.Log(sum)
}

// logLRs, summing a small support once for every alternative, gives what
// the term-by-term normalisers give, for the harm grid against ψ0 = 1 and
// for a tolerance test's grid against ψ0 = 3 and 10⁶; and it falls back to
// them on a wide support.
func TestFNCHLogLRsMatchOnePerAlternative(t *testing.T) {
	for _, m := range []struct{ n1, n0, e int64 }{{100, 900, 5}, {100, 900, 64}, {3, 1000, 2}, {100000, 100, 64}, {50, 50, 60}, {500, 500, 400}} {
		f, ok := newFNCH(m.n1, m.n0, m.e)
		require.True(t, ok)
		for _, psi0 := range []float64{1, 3, 1e6} {
			logPsis := make([]float64, len(passSteps))
			for i, s := range passSteps {
				logPsis[i] = math.Log(psi0 * s)
			}
			if psi0 == 1 {
				logPsis = logHarm
			}
			out := make([]float64, len(logPsis))
			for _, x := range []int64{f.lo, (f.lo + f.hi) / 2, f.hi} {
				f.logLRs(x, math.Log(psi0), logPsis, out)
				z0 := f.logZ(psi0, math.Log(psi0), false)
				for i, l := range logPsis {
					want := f.logLR(x, math.Exp(l), l, math.Log(psi0), z0)
					assert.InDelta(t, want, out[i], 1e-9*max(1, math.Abs(want)), "%+v ψ0=%v x=%d ψ=%v", m, psi0, x, math.Exp(l))
				}
			}
		}
	}
}

func TestFNCHDegenerateMarginsCarryNoInformation(t *testing.T) {
	for _, m := range []struct{ n1, n0, e int64 }{{0, 100, 3}, {100, 0, 3}, {10, 90, 0}, {10, 90, 100}} {
		_, ok := newFNCH(m.n1, m.n0, m.e)
		assert.False(t, ok, "%+v", m)
	}
}

// Each look's likelihood ratio has expectation exactly 1 when the
// candidate's error odds equal the baseline's, and at most 1 when they are
// lower: the property the errors test's guarantee rests on.
func TestErrorLookFactorHasMeanAtMostOne(t *testing.T) {
	for _, m := range []struct{ n1, n0, e int64 }{{10, 90, 5}, {100, 900, 40}, {50, 50, 60}, {7, 3, 4}} {
		f, _ := newFNCH(m.n1, m.n0, m.e)
		for _, truth := range []float64{1, 0.7, 0.25} {
			zt := f.logZ(truth, math.Log(truth), false)
			z0 := f.logZ(1, 0, false)
			for _, psi := range harmOdds {
				var mean float64
				for x := f.lo; x <= f.hi; x++ {
					p := math.Exp(f.logH(x) + float64(x)*math.Log(truth) - zt)
					mean += p * math.Exp(f.logLR(x, psi, math.Log(psi), 0, z0))
				}
				if truth == 1 {
					assert.InDelta(t, 1, mean, 1e-9, "%+v ψ=%v", m, psi)
				} else {
					assert.LessOrEqual(t, mean, 1+1e-12, "%+v truth=%v ψ=%v", m, truth, psi)
				}
			}
		}
	}
}

// The centre's factor, its expectation taken over every way of choosing
// which of the pooled calls are the candidate's, is at most 1 for every
// tilt.
func TestLatencyLookFactorHasMeanAtMostOne(t *testing.T) {
	bounds := []float64{0.01, 0.02}
	pooled := []int{0, 0, 1, 2, 2, 2, 1} // bucket of each pooled call
	lt, err := NewLatencyTest(0.01, LatencyConfig{Strict: true, DisableTail: true})
	require.NoError(t, err)
	lt.setBounds(bounds)
	out := make([]float64, len(latencyTilts))
	for _, k := range []int{1, 2, 3, 5} {
		sums := make([]float64, len(latencyTilts))
		var subsets int
		for mask := 0; mask < 1<<len(pooled); mask++ {
			if popcount(mask) != k {
				continue
			}
			c, b := make([]uint64, 3), make([]uint64, 3)
			for i, bucket := range pooled {
				if mask&(1<<i) != 0 {
					c[bucket]++
				} else {
					b[bucket]++
				}
			}
			lt.rankFactors(out, c, b, float64(k), float64(len(pooled)-k))
			for i, l := range out {
				sums[i] += math.Exp(l)
			}
			subsets++
		}
		for i, s := range sums {
			assert.LessOrEqual(t, s/float64(subsets), 1+1e-12, "candidate calls %d, λ=%v", k, latencyTilts[i])
		}
	}
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// The detector's value is the weighted sum of likelihood-ratio processes
// started at the rollout's start (weight ω) and at each of the first N
// informative looks (weight (1−ω)/N), as its recursion promises.
func TestDetectorIsASumOfRestartedProcesses(t *testing.T) {
	r := Restarts{Start: 0.3, Looks: 4}
	d := newDetector([]float64{1, 3}, r)
	assert.InDelta(t, math.Log(0.3), d.logM, 1e-12, "it starts at ω")
	factors := [][]float64{{0.5, -1}, {2, 0.25}, {-0.7, 1.5}, {0.1, 0.1}, {3, -2}, {-1, 1}}
	for look, l := range factors {
		d.observe(l, look+1)
	}
	var want float64
	for k, pi := range []float64{0.25, 0.75} {
		for start := 0; start <= r.Looks; start++ { // 0: the rollout's start; j: the restart at informative look j
			w := r.Start
			if start > 0 {
				w = (1 - r.Start) / float64(r.Looks)
			}
			var sum float64
			for t := max(start, 1); t <= len(factors); t++ {
				sum += factors[t-1][k]
			}
			want += pi * w * math.Exp(sum)
		}
	}
	assert.InDelta(t, math.Log(want), d.logM, 1e-12)
	assert.Equal(t, 1, d.sinceLook(), "the start carries the evidence")

	// Evidence against the alternatives, then for them: a restart carries it.
	late := newDetector(uniform(2), Restarts{Start: 0.5, Looks: 100})
	for look := 1; look <= 30; look++ {
		l := -1.0
		if look > 20 {
			l = 1
		}
		late.observe([]float64{l, l}, look)
	}
	assert.Equal(t, 21, late.sinceLook(), "the restart at the first look with evidence for the alternatives")
}

func TestDetectorWithoutRestartsIsAPlainMixture(t *testing.T) {
	d := newDetector(uniform(4), noRestarts)
	assert.Equal(t, 0.0, d.logM, "a fresh mixture is worth 1")
	d.observe([]float64{math.Log(8), 0, 0, 0}, 1)
	assert.InDelta(t, math.Log((8+1+1+1)/4.0), d.logM, 1e-12)
	d.observe([]float64{0, 2000, 0, 0}, 2) // no overflow
	assert.InDelta(t, 2000-math.Log(4), d.logM, 1e-9)
	assert.Equal(t, 1, d.sinceLook())
}

// A detector fed null likelihood ratios reaches 1/α in at most α of the
// runs, restarts included (Bernoulli looks, three alternatives).
func TestDetectorKeepsAlphaBySimulation(t *testing.T) {
	const alpha, runs, looks = 0.1, 1500, 300
	r := rand.New(rand.NewPCG(1, 2))
	p0, alts := 0.3, []float64{0.35, 0.45, 0.6}
	l := make([]float64, len(alts))
	var alarms int
	for range runs {
		d := newDetector(uniform(len(alts)), Restarts{Start: 0.5, Looks: 100})
		for look := range looks {
			x := r.Float64() < p0
			for i, p1 := range alts {
				if x {
					l[i] = math.Log(p1 / p0)
				} else {
					l[i] = math.Log((1 - p1) / (1 - p0))
				}
			}
			if d.observe(l, look+1); d.logM >= -math.Log(alpha) {
				alarms++
				break
			}
		}
	}
	rate := float64(alarms) / runs
	t.Logf("false alarms %.4f at α = %v", rate, alpha)
	assert.LessOrEqual(t, rate, alpha+3*math.Sqrt(alpha*(1-alpha)/runs))
}

func binomialPMF(n int64, p float64, k int64) float64 {
	switch {
	case p <= 0:
		return b2f(k == 0)
	case p >= 1:
		return b2f(k == n)
	}
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(a - b - c + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// The floor part's factor has expectation at most 1 at the boundary of its
// null, p₁ = (1+r)p₀ + δ, for every p₀: computed exactly.
func TestFloorFactorIsAnEValueAtEveryBaselineRate(t *testing.T) {
	worst := 0.0
	for _, n := range [][2]int64{{1, 1}, {1, 90}, {5, 10}, {30, 1}, {30, 90}} {
		for _, r := range []float64{0, 0.1} {
			for _, delta := range []float64{0, 0.001, 0.02} {
				for _, a := range []float64{0.4, 1, 3, 15} {
					for _, p0 := range []float64{0, 1e-4, 0.005, 0.05, 0.3, 0.8} {
						p1 := min(1, (1+r)*p0+delta)
						var e float64
						for x := int64(0); x <= n[0]; x++ {
							for y := int64(0); y <= n[1]; y++ {
								e += binomialPMF(n[0], p1, x) * binomialPMF(n[1], p0, y) * math.Exp(floorLogFactor(x, y, n[0], n[1], a, r, delta))
							}
						}
						worst = max(worst, e)
						require.LessOrEqual(t, e, 1+1e-9, "n=%v r=%v δ=%v a=%v p0=%v", n, r, delta, a, p0)
					}
				}
			}
		}
	}
	t.Logf("largest E L at the null boundary: %.6f", worst)
}

// Crediting a candidate bucket by its lower edge never moves a value
// within the tolerance below its baseline partner's bucket.
func TestCreditShiftIsConservative(t *testing.T) {
	bounds := gridBounds()
	for _, cfg := range []LatencyConfig{
		{Tolerance: 0.1, AbsoluteTolerance: 0.001},
		{Tolerance: 0.05, AbsoluteTolerance: 1e-6},
		{Tolerance: 0.5, AbsoluteTolerance: 0.01},
		{Tolerance: 0.1, AbsoluteTolerance: none},
	} {
		lt := newLatencyTest(0.01, cfg, noRestarts)
		lt.setBounds(bounds)
		for u := 40e-6; u < 70; u *= 1.003 {
			v := lt.tol.allowed(u) // the slowest candidate the null allows
			require.LessOrEqual(t, lt.shift[bucketOf(bounds, v)], bucketOf(bounds, u), "%+v: u=%g, g(u)=%g", cfg, u, v)
		}
	}
}

// The tail test's candidate threshold is never below g(baseline
// threshold), so the candidate's exceedance is the smaller under the null.
func TestTailThresholdIsConservative(t *testing.T) {
	bounds := gridBounds()
	tol := tolerance{r: 0.1, a: 0.001}
	for k, b := range bounds {
		if m := bucketOf(bounds, tol.allowed(b)); m < len(bounds) {
			require.GreaterOrEqual(t, bounds[m], tol.allowed(b), "k=%d", k)
		}
	}
}

// gridBounds are the sentinel's grid: 0, then eight buckets an octave from
// 50 µs to 64 s.
func gridBounds() []float64 {
	b := []float64{0}
	for t := -115; t <= 47; t++ {
		b = append(b, math.Exp2(float64(t+1)/8))
	}
	return b
}
