package judge

import (
	"math"
	"slices"
	"strconv"

	"github.com/ninelives-go/ninelives/internal/config"
)

// Buckets is a latency histogram in the OpenTelemetry explicit-bucket
// layout: Bounds are the buckets' upper bounds in seconds, strictly
// increasing and finite; Counts[i] counts values in (Bounds[i-1], Bounds[i]],
// and the last count is the (Bounds[len-1], +Inf) bucket, so
// len(Counts) == len(Bounds)+1. Buckets with no Counts hold no data.
type Buckets struct {
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
}

// total returns the number of values in the histogram.
func (h Buckets) total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Validate checks the layout. The error wraps ErrBadLook and names the
// histogram as field.
func (h Buckets) Validate(field string) error {
	if len(h.Counts) == 0 && len(h.Bounds) == 0 {
		return nil
	}
	if len(h.Counts) != len(h.Bounds)+1 {
		return config.Errorf(ErrBadLook, field, nil, "%d counts for %d bounds, want %d (one per bound and one for +Inf)",
			len(h.Counts), len(h.Bounds), len(h.Bounds)+1)
	}
	var total uint64
	for i, c := range h.Counts {
		if total+c < total {
			return config.Errorf(ErrBadLook, field+".Counts", nil, "overflow uint64 at index %d", i)
		}
		total += c
	}
	if total > math.MaxInt64 {
		return config.Errorf(ErrBadLook, field, nil, "holds %d values, more than an int64 can count", total)
	}
	for i, b := range h.Bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return config.Errorf(ErrBadLook, field+".Bounds["+itoa(i)+"]", b, "want a finite number")
		}
		if i > 0 && b <= h.Bounds[i-1] {
			return config.Errorf(ErrBadLook, field+".Bounds["+itoa(i)+"]", b, "not above Bounds[%d] = %v; bounds must increase", i-1, h.Bounds[i-1])
		}
	}
	return nil
}

// sameBounds reports whether a and b are the same list of bounds.
func sameBounds(a, b []float64) bool { return slices.Equal(a, b) }

// itoa renders an index.
func itoa(i int) string { return strconv.Itoa(i) }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the histogram in seconds,
// interpolating linearly inside the bucket that holds it, as Prometheus'
// histogram_quantile does: the first bucket's lower edge is 0 (or its upper
// bound when that is not positive), and a quantile in the +Inf bucket is the
// last finite bound. It returns NaN for an empty histogram or q outside
// [0, 1].
func (h Buckets) Quantile(q float64) float64 {
	total := h.total()
	if total == 0 || !(q >= 0 && q <= 1) || len(h.Counts) != len(h.Bounds)+1 {
		return math.NaN()
	}
	rank := q * float64(total)
	var cum uint64
	for i, c := range h.Counts {
		prev := cum
		cum += c
		if float64(cum) < rank || c == 0 {
			continue
		}
		if i == len(h.Bounds) {
			if i == 0 {
				return math.NaN()
			}
			return h.Bounds[i-1]
		}
		upper := h.Bounds[i]
		lower := 0.0
		if i > 0 {
			lower = h.Bounds[i-1]
		} else if upper <= 0 {
			return upper
		}
		return lower + (upper-lower)*(rank-float64(prev))/float64(c)
	}
	return math.NaN() // not reached: the last non-empty bucket holds rank
}

// MannWhitneyResult is the Mann-Whitney U test of a candidate histogram
// against a baseline histogram, with the values of a bucket treated as ties.
type MannWhitneyResult struct {
	// U counts the (candidate, baseline) pairs in which the candidate is
	// slower, ties counting one half.
	U float64 `json:"u"`
	// Mean and Variance are U's mean and tie-corrected variance when both
	// samples come from one distribution:
	// n₁n₀/2 and n₁n₀/12 · [(N+1) − Σ(t³−t)/(N(N−1))].
	Mean     float64 `json:"mean"`
	Variance float64 `json:"variance"`
	// Z is (U − Mean)/√Variance, without continuity correction; 0 when the
	// variance is 0.
	Z float64 `json:"z"`
	// ProbSlower is U/(n₁n₀): P(candidate slower) + ½·P(same bucket).
	ProbSlower float64 `json:"probSlower"`
	// Candidate and Baseline are the sample sizes n₁ and n₀.
	Candidate uint64 `json:"candidate"`
	Baseline  uint64 `json:"baseline"`
}

// MannWhitney computes the Mann-Whitney U statistic of candidate against
// baseline from their buckets, with midranks for the values of a bucket and
// the tie-corrected variance (Mann & Whitney 1947; Lehmann, Nonparametrics,
// 1975, §1.4). The histograms must share their bounds. Either sample empty
// gives a result with ProbSlower 0.5 and Z 0.
func MannWhitney(candidate, baseline Buckets) (MannWhitneyResult, error) {
	if err := candidate.Validate("candidate histogram"); err != nil {
		return MannWhitneyResult{}, err
	}
	if err := baseline.Validate("baseline histogram"); err != nil {
		return MannWhitneyResult{}, err
	}
	if len(candidate.Counts) == 0 || len(baseline.Counts) == 0 {
		return MannWhitneyResult{ProbSlower: 0.5, Candidate: candidate.total(), Baseline: baseline.total()}, nil
	}
	if !sameBounds(candidate.Bounds, baseline.Bounds) {
		return MannWhitneyResult{}, config.Errorf(ErrBadLook, "candidate histogram.Bounds", candidate.Bounds, "differ from baseline histogram.Bounds = %v", baseline.Bounds)
	}
	return mannWhitney(candidate.Counts, baseline.Counts), nil
}

func mannWhitney(c, b []uint64) MannWhitneyResult {
	var n1, n0 float64
	for i := range c {
		n1 += float64(c[i])
		n0 += float64(b[i])
	}
	r := MannWhitneyResult{Candidate: uint64(n1), Baseline: uint64(n0), ProbSlower: 0.5}
	if n1 == 0 || n0 == 0 {
		return r
	}
	n := n1 + n0
	var below, rankSum, ties float64
	for i := range c {
		t := float64(c[i]) + float64(b[i])
		rankSum += float64(c[i]) * (below + (t+1)/2)
		ties += t*t*t - t
		below += t
	}
	r.U = rankSum - n1*(n1+1)/2
	r.Mean = n1 * n0 / 2
	r.Variance = n1 * n0 / 12 * ((n + 1) - ties/(n*(n-1)))
	if r.Variance > 0 {
		r.Z = (r.U - r.Mean) / math.Sqrt(r.Variance)
	}
	r.ProbSlower = r.U / (n1 * n0)
	return r
}
