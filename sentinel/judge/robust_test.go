package judge_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// Every bad look is rejected with an error naming the field, the verdict
// holds, and nothing panics; the next good look is taken.
func TestJudgeRejectsBadLooks(t *testing.T) {
	b := []float64{0.001, 0.01}
	good := judge.Buckets{Bounds: b, Counts: []uint64{5, 4, 1}}
	for name, c := range map[string]struct {
		look judge.Look
		want string
	}{
		"NaN bound":              {judge.Look{Candidate: judge.Figures{Calls: 3, Latency: judge.Buckets{Bounds: []float64{math.NaN(), 1}, Counts: []uint64{1, 1, 1}}}}, "candidate latency.Bounds[0] = NaN"},
		"+Inf bound":             {judge.Look{Baseline: judge.Figures{Calls: 3, Latency: judge.Buckets{Bounds: []float64{0.1, math.Inf(1)}, Counts: []uint64{1, 1, 1}}}}, "baseline latency.Bounds[1] = +Inf"},
		"-Inf bound":             {judge.Look{Baseline: judge.Figures{Calls: 3, Latency: judge.Buckets{Bounds: []float64{math.Inf(-1), 1}, Counts: []uint64{1, 1, 1}}}}, "baseline latency.Bounds[0] = -Inf"},
		"bounds going down":      {judge.Look{Candidate: judge.Figures{Calls: 3, Latency: judge.Buckets{Bounds: []float64{0.01, 0.001}, Counts: []uint64{1, 1, 1}}}}, "not above Bounds[0]"},
		"negative calls":         {judge.Look{Candidate: judge.Figures{Calls: -1}}, "candidate calls = -1"},
		"negative errors":        {judge.Look{Baseline: judge.Figures{Calls: 1, Errors: -1}}, "baseline errors = -1"},
		"errors > calls":         {judge.Look{Baseline: judge.Figures{Calls: 1, Errors: 2}}, "baseline errors = 2: exceeds baseline calls = 1"},
		"counts overflow":        {judge.Look{Candidate: judge.Figures{Calls: 1, Latency: judge.Buckets{Bounds: b, Counts: []uint64{math.MaxUint64, 1, 0}}}}, "candidate latency.Counts: overflow"},
		"beyond int64":           {judge.Look{Candidate: judge.Figures{Calls: 1, Latency: judge.Buckets{Bounds: b, Counts: []uint64{math.MaxInt64, 1, 0}}}}, "more than an int64 can count"},
		"calls overflow":         {judge.Look{Candidate: judge.Figures{Calls: math.MaxInt64}}, "candidate calls = 9223372036854775807: overflows the running total 10"},
		"latency overflow":       {judge.Look{Candidate: judge.Figures{Calls: 1, Latency: judge.Buckets{Bounds: b, Counts: []uint64{math.MaxInt64 - 5, 0, 0}}}}, "latency.Counts: overflow the running totals"},
		"short counts":           {judge.Look{Candidate: judge.Figures{Calls: 1, Latency: judge.Buckets{Bounds: b, Counts: []uint64{1}}}}, "candidate latency: 1 counts for 2 bounds, want 3"},
		"other bounds":           {judge.Look{Candidate: judge.Figures{Calls: 3, Latency: judge.Buckets{Bounds: []float64{0.002, 0.01}, Counts: []uint64{1, 1, 1}}}}, "differ from the bounds [0.001 0.01] of earlier looks"},
		"pooled overflow":        {judge.Look{Candidate: judge.Figures{Calls: math.MaxInt64 - 20}, Baseline: judge.Figures{Calls: 30}}, "baseline calls = 30: and candidate calls = 9223372036854775787 overflow a count together"},
		"mismatch > comparisons": {judge.Look{Shadow: judge.ShadowFigures{Comparisons: 1, Mismatches: 3}}, "shadow mismatches = 3: exceeds shadow comparisons = 1"},
	} {
		t.Run(name, func(t *testing.T) {
			j := newJudge(t, judge.Config{EnableShadow: true})
			require.NoError(t, j.Observe(judge.Look{Candidate: judge.Figures{Calls: 10, Latency: good}, Baseline: judge.Figures{Calls: 10, Latency: good}}))
			before := j.State()
			err := j.Observe(c.look)
			require.ErrorIs(t, err, judge.ErrBadLook)
			assert.ErrorContains(t, err, c.want)
			v := j.Verdict()
			assert.Equal(t, judge.Inconclusive, v.Outcome)
			assert.Contains(t, v.Reason, "look rejected: ")
			assert.Equal(t, before, j.State(), "a rejected look changes nothing")
			require.NoError(t, j.Observe(judge.Look{Candidate: judge.Figures{Calls: 10, Latency: good}, Baseline: judge.Figures{Calls: 10, Latency: good}}))
			assert.NotContains(t, j.Verdict().Reason, "rejected")
		})
	}
}

// randomLook draws a look that is often bad: any count, any bound.
func randomLook(r *rand.Rand) judge.Look {
	pick := func(vs ...float64) float64 { return vs[r.IntN(len(vs))] }
	hist := func() judge.Buckets {
		if r.IntN(4) == 0 {
			return judge.Buckets{}
		}
		n := r.IntN(4)
		h := judge.Buckets{Bounds: make([]float64, n), Counts: make([]uint64, n+1-r.IntN(2))}
		for i := range h.Bounds {
			h.Bounds[i] = pick(0, 1e-6, 0.001, 0.01, float64(i)*0.01, -1, math.NaN(), math.Inf(1), 1e300)
		}
		for i := range h.Counts {
			h.Counts[i] = []uint64{0, 1, 7, 1000, math.MaxUint64, math.MaxInt64}[r.IntN(6)]
		}
		return h
	}
	count := func() int64 { return []int64{0, 1, 3, 100, -1, math.MaxInt64, math.MinInt64}[r.IntN(7)] }
	return judge.Look{
		Candidate: judge.Figures{Calls: count(), Errors: count(), Latency: hist()},
		Baseline:  judge.Figures{Calls: count(), Errors: count(), Latency: hist()},
		Shadow:    judge.ShadowFigures{Comparisons: count(), Mismatches: count()},
	}
}

// Thousands of random looks, mostly bad: no panic, every error is a bad
// look, every verdict encodes to JSON, and the saved state restores.
func TestJudgeSurvivesRandomLooks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for run := range 20 {
		j := newJudge(t, judge.Config{EnableShadow: true})
		for range 200 {
			if err := j.Observe(randomLook(r)); err != nil {
				require.ErrorIs(t, err, judge.ErrBadLook)
			}
			_, err := json.Marshal(j.Verdict())
			require.NoError(t, err, "run %d", run)
		}
		b, err := json.Marshal(j.State())
		require.NoError(t, err)
		var st judge.State
		require.NoError(t, json.Unmarshal(b, &st))
		require.NoError(t, newJudge(t, judge.Config{EnableShadow: true}).Restore(st))
	}
}

func FuzzJudgeObserve(f *testing.F) {
	f.Add(int64(100), int64(3), int64(900), int64(4), 0.01, uint64(50), uint64(50), int64(10), int64(1))
	f.Add(int64(-1), int64(0), int64(0), int64(0), math.NaN(), uint64(math.MaxUint64), uint64(1), int64(0), int64(0))
	f.Add(int64(math.MaxInt64), int64(1), int64(1), int64(2), math.Inf(1), uint64(0), uint64(0), int64(-5), int64(9))
	f.Fuzz(func(t *testing.T, cc, ce, bc, be int64, bound float64, c0, c1 uint64, sc, sm int64) {
		j, err := judge.New(judge.Config{EnableShadow: true})
		require.NoError(t, err)
		h := judge.Buckets{Bounds: []float64{bound}, Counts: []uint64{c0, c1}}
		for range 3 {
			if err := j.Observe(judge.Look{
				Candidate: judge.Figures{Calls: cc, Errors: ce, Latency: h},
				Baseline:  judge.Figures{Calls: bc, Errors: be, Latency: h},
				Shadow:    judge.ShadowFigures{Comparisons: sc, Mismatches: sm},
			}); err != nil {
				require.ErrorIs(t, err, judge.ErrBadLook)
			}
		}
		_, err = json.Marshal(j.Verdict())
		require.NoError(t, err)
	})
}

// A saved state with any of its numbers made NaN, infinite or negative is
// rejected with a bad-state error, or restores; it never panics.
func TestJudgeRestoreSurvivesMangledStates(t *testing.T) {
	j := newJudge(t, judge.Config{EnableShadow: true})
	tr := gridLooks(30)
	for _, l := range tr {
		l.Shadow = judge.ShadowFigures{Comparisons: 10, Mismatches: 1}
		require.NoError(t, j.Observe(l))
	}
	b, err := json.Marshal(j.State())
	require.NoError(t, err)
	var tree any
	require.NoError(t, json.Unmarshal(b, &tree))
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		var copyTree any
		require.NoError(t, json.Unmarshal(b, &copyTree))
		mangle(r, copyTree)
		st, ok := decodeState(t, copyTree)
		if !ok {
			continue
		}
		if err := newJudge(t, judge.Config{EnableShadow: true}).Restore(st); err != nil {
			require.ErrorIs(t, err, judge.ErrBadState)
		}
	}
}

// mangle replaces one number somewhere in a decoded JSON tree.
func mangle(r *rand.Rand, tree any) {
	var nums []func(float64)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if _, ok := e.(float64); ok {
					nums = append(nums, func(f float64) { x[k] = f })
				}
				walk(e)
			}
		case []any:
			for i, e := range x {
				if _, ok := e.(float64); ok {
					nums = append(nums, func(f float64) { x[i] = f })
				}
				walk(e)
			}
		}
	}
	walk(tree)
	nums[r.IntN(len(nums))]([]float64{-1, -1e300, 1e300, 0, 3, 1e18, -0.5}[r.IntN(7)])
}

// decodeState turns a tree back into a State; false when the numbers no
// longer fit the fields' types (JSON itself rejects them).
func decodeState(t *testing.T, tree any) (judge.State, bool) {
	b, err := json.Marshal(tree)
	require.NoError(t, err)
	var st judge.State
	return st, json.Unmarshal(b, &st) == nil
}
