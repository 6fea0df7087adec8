package judge

// Clustered calls. The latency and errors tests' factors take a look's
// calls as independent given its counts. On a real machine they are not: a
// pause of one version's process (the scheduler giving its core away, a
// GC) slows all its calls of that moment together, and times some out, so
// a look's slow or failed calls come in clusters, and a likelihood ratio
// that counts them one by one is far too sure of itself: an identical
// candidate is failed by whichever pauses happened to strike it.
//
// The test therefore measures the clustering on the baseline's own looks,
// which it has at every share, and tempers each look's log factors by it:
// they are divided by the design effect D = 1 + (k−1)·ρ of the look's
// k = min(candidate, baseline) calls with an intra-look correlation ρ. ρ
// is estimated for each part from how much more the baseline's share of
// calls above its own reference quantile (the median for the centre, each
// watched quantile for a tail; for the errors test, its share of errors)
// changes from one look to the next than
// independent calls would let it: with z the squared difference of the
// shares of two consecutive looks of n₀ and n₁ calls over its variance for
// independent calls at the reference's share p, p(1−p)(1/n₀ + 1/n₁),
// E[z − 1] = ρ·(2 − 1/n₀ − 1/n₁)/(1/n₀ + 1/n₁), and the sums of both sides
// decay as the reference histogram does. Consecutive looks, so that the
// machine's slower drift, which strikes both versions alike, does not
// count.
//
// D is fixed before the look and D ≥ 1: for independent calls
// E[L^(1/D)] ≤ E[L]^(1/D) ≤ 1 (Jensen), so the bound holds as before, and
// on a quiet machine ρ ≈ 0 and nothing changes. For clustered calls the
// tempered factors are about as sure as the data allow. The cost is power
// on a noisy machine: a regression needs more looks there.

// dispersion is one part's decayed sums of z − 1 and of its weight, and
// the previous look's baseline calls above the part's threshold bucket.
type dispersion struct {
	z, n float64
	k    int     // the previous look's threshold bucket; −1: none
	y, m float64 // its calls above it, and its calls
}

// rho is the estimated intra-look correlation, in [0, 1].
func (d dispersion) rho() float64 {
	if d.n <= 0 || d.z <= 0 {
		return 0
	}
	return min(d.z/d.n, 1)
}

// observe decays the sums and adds a look of m baseline calls, y of them
// above bucket k, which a share p of the reference lies above, against the
// previous look if it used the same bucket.
func (d *dispersion) observe(decay float64, k int, y, m, p float64) {
	d.z, d.n = d.z*decay, d.n*decay
	if k >= 0 && k == d.k && m > 0 && d.m > 0 {
		if p > 0 && p < 1 {
			inv := 1/m + 1/d.m
			diff := y/m - d.y/d.m
			d.z += diff*diff/(p*(1-p)*inv) - 1
			d.n += (2 - inv) / inv
		}
	}
	d.k, d.y, d.m = k, y, m
}

// temper divides a part's log factors by its design effect for a look of
// k calls.
func temper(logL []float64, d dispersion, k float64) {
	if e := 1 + max(k-1, 0)*d.rho(); e > 1 {
		for i := range logL {
			logL[i] /= e
		}
	}
}

// partQuantile is the reference quantile part i's dispersion watches: the
// median for the centre (i = 0), then each watched quantile.
func (t *latencyTest) partQuantile(i int) float64 {
	if i == 0 {
		return 0.5
	}
	return t.quantiles[i-1]
}

// learnDispersion adds a look's baseline calls to every part's dispersion,
// above the threshold bucket the reference of the earlier looks gives.
func (t *latencyTest) learnDispersion(b []uint64, nb float64) {
	for i := range t.st.disp {
		k, ok := t.refBucket(t.partQuantile(i))
		if !ok {
			t.st.disp[i].observe(t.decay, -1, 0, nb, 0)
			continue
		}
		var refAbove float64
		for _, c := range t.st.ref[k+1:] {
			refAbove += c
		}
		t.st.disp[i].observe(t.decay, k, float64(above(b, k)), nb, refAbove/t.st.refN)
	}
}

// refBucket is the bucket of the decayed reference histogram that holds
// its q-quantile; false while the histogram holds fewer than
// MinExceed/(1−q) calls or the quantile lies in the +Inf bucket.
func (t *latencyTest) refBucket(q float64) (int, bool) {
	if t.st.refN < t.cfg.MinExceed/(1-q) {
		return 0, false
	}
	want, cum := q*t.st.refN, 0.0
	for i, c := range t.st.ref {
		if cum += c; cum >= want {
			return i, i < len(t.st.bounds)
		}
	}
	return 0, false
}
