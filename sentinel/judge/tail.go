package judge

// The tail test of one quantile q. Before each look it learns the
// baseline's q-quantile bucket k from a decayed histogram of the
// baseline's earlier looks (so the threshold is fixed before the look's
// calls are seen), and counts in the look
//
//	y = baseline calls above b[k],   x = candidate calls above b[m],
//
// where b[m] is the first bound at or above g(b[k]), the baseline's
// threshold with the tolerance added. Under the null "candidate ≤
// g(baseline) in distribution", P(candidate > b[m]) ≤ P(baseline > b[k])
// whatever k is, so given the look's margins x follows Fisher's noncentral
// hypergeometric law with an odds ratio ψ ≤ 1, as a candidate's errors do:
// the same ψ grid and the same factors as the errors test's odds part. A
// threshold learned from data costs power when it is off, never validity.

// tailState is what the tail test of one quantile has seen.
type tailState struct {
	k, m   int   // baseline and candidate threshold buckets of the last tested look; −1: none yet
	looks  int   // looks in which it was tested
	x, y   int64 // candidate and baseline calls above the thresholds, over those looks
	n1, n0 int64 // candidate and baseline calls of those looks
}

// TailEvidence is what the tail test of one quantile measured over the
// looks in which it was tested.
type TailEvidence struct {
	// Quantile is q, and Name its percentile ("p99").
	Quantile float64 `json:"quantile"`
	Name     string  `json:"name"`
	// Looks counts the looks in which the quantile was tested: those with
	// calls of both versions once the decayed baseline histogram held
	// MinExceed/(1−q) calls.
	Looks int `json:"looks"`
	// BaselineThreshold is the upper bound (seconds) of the bucket that
	// held the baseline's q-quantile at the last tested look, and
	// CandidateThreshold the first bound at or above it with the tolerance
	// added; 0 when none (not tested yet, or beyond the last bound).
	BaselineThreshold  float64 `json:"baselineThreshold"`
	CandidateThreshold float64 `json:"candidateThreshold"`
	// The calls above the thresholds, and the calls, of each version over
	// the tested looks, and the shares they make.
	CandidateAbove int64   `json:"candidateAbove"`
	CandidateCalls int64   `json:"candidateCalls"`
	CandidateRate  float64 `json:"candidateRate"`
	BaselineAbove  int64   `json:"baselineAbove"`
	BaselineCalls  int64   `json:"baselineCalls"`
	BaselineRate   float64 `json:"baselineRate"`
	// Statistic is this quantile's part of the detector on its own (the
	// weighted mean of its alternatives' values).
	Statistic float64 `json:"statistic"`
}

// threshold picks the look's thresholds k and m for quantile q from the
// decayed baseline histogram; false while it holds too few calls or the
// quantile lies in the +Inf bucket.
func (t *latencyTest) threshold(ts *tailState, q float64) bool {
	k, ok := t.refBucket(q)
	if !ok {
		return false
	}
	ts.k, ts.m = k, bucketOf(t.st.bounds, t.tol.allowed(t.st.bounds[k]))
	return true
}

// tailFactors writes quantile i's log factors for the look into out (all
// 0 when it is not tested: the candidate served less than TailMinShare of
// the look's calls, or the threshold is not known yet). Leaving a look out
// by its counts, never by its latencies, keeps the bound.
func (t *latencyTest) tailFactors(i int, out []float64, c, b []uint64, n1, n0 int64) {
	clear(out)
	ts := &t.st.tails[i]
	if float64(n1) < t.cfg.TailMinShare*float64(n1+n0) || !t.threshold(ts, t.quantiles[i]) {
		return
	}
	x, y := above(c, ts.m), above(b, ts.k)
	ts.looks++
	ts.x += x
	ts.y += y
	ts.n1 += n1
	ts.n0 += n0
	f, ok := newFNCH(n1, n0, x+y)
	if !ok {
		return
	}
	f.logLRs(x, 0, logHarm, out)
	temper(out, t.st.disp[1+i], float64(min(n1, n0)))
}

// above counts the calls in the buckets after k.
func above(h []uint64, k int) int64 {
	var n int64
	for _, c := range h[min(k+1, len(h)):] {
		n += int64(c)
	}
	return n
}

// learn adds a look's baseline calls to the decayed histogram the
// thresholds come from, after the look has been judged.
func (t *latencyTest) learn(b []uint64, nb float64) {
	for i, c := range b {
		t.st.ref[i] = t.st.ref[i]*t.decay + float64(c)
	}
	t.st.refN = t.st.refN*t.decay + nb
}

// tailEvidence reports each watched quantile.
func (t *latencyTest) tailEvidence() []TailEvidence {
	if len(t.quantiles) == 0 {
		return nil
	}
	out := make([]TailEvidence, len(t.quantiles))
	for i, q := range t.quantiles {
		ts := t.st.tails[i]
		from := t.centre + i*len(harmOdds)
		out[i] = TailEvidence{
			Quantile: q, Name: quantileName(q), Looks: ts.looks,
			CandidateAbove: ts.x, CandidateCalls: ts.n1, CandidateRate: rate(ts.x, ts.n1),
			BaselineAbove: ts.y, BaselineCalls: ts.n0, BaselineRate: rate(ts.y, ts.n0),
			Statistic: expCapped(t.det.partValue(from, from+len(harmOdds))),
		}
		if ts.k >= 0 && ts.k < len(t.st.bounds) {
			out[i].BaselineThreshold = t.st.bounds[ts.k]
		}
		if ts.m >= 0 && ts.m < len(t.st.bounds) {
			out[i].CandidateThreshold = t.st.bounds[ts.m]
		}
	}
	return out
}
