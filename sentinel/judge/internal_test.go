package judge

import (
	"math"
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
			assert.InDelta(t, bruteLogZ(f, psi), f.logZ(psi, math.Log(psi)), 1e-9, "%+v ψ=%v", m, psi)
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
			zt := f.logZ(truth, math.Log(truth))
			z0 := f.logZ(1, 0)
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

// The latency factor's expectation over every way of choosing which of
// the pooled calls are the candidate's is at most 1 for every tilt.
func TestLatencyLookFactorHasMeanAtMostOne(t *testing.T) {
	bounds := []float64{0.01, 0.02}
	pooled := []int{0, 0, 1, 2, 2, 2, 1} // bucket of each pooled call
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
			lt, err := NewLatencyTest(0.01, LatencyConfig{})
			require.NoError(t, err)
			require.NoError(t, lt.Observe(Buckets{Bounds: bounds, Counts: c}, Buckets{Bounds: bounds, Counts: b}))
			for i, l := range lt.mix.logLR {
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

func TestMixtureLogValue(t *testing.T) {
	m := newMixture(4)
	assert.Equal(t, 0.0, m.logValue(), "a fresh mixture is worth 1")
	m.logLR[0] = math.Log(8)
	assert.InDelta(t, math.Log((8+1+1+1)/4.0), m.logValue(), 1e-12)
	m.logLR[1] = 2000 // no overflow
	assert.InDelta(t, 2000-math.Log(4), m.logValue(), 1e-9)
}
