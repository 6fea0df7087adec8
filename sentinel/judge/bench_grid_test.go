package judge_test

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/ninelives-go/ninelives/sentinel/internal/grid"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// gridLooks draws n looks of healthy traffic at 1,000 calls/s with a 10 %
// share: 0.5 % errors, latency log-normal (median 20 ms, σ 0.5) counted on
// the sentinel's grid, as the sentinel gives them to its judge.
func gridLooks(n int) []judge.Look {
	r := rand.New(rand.NewPCG(1, 1))
	draw := func(calls int64) judge.Buckets {
		h := make([]uint64, len(grid.Bounds)+1)
		for range calls {
			h[sort.SearchFloat64s(grid.Bounds, 0.020*math.Exp(0.5*r.NormFloat64()))]++
		}
		return judge.Buckets{Bounds: grid.Bounds, Counts: h}
	}
	looks := make([]judge.Look, n)
	for i := range looks {
		looks[i] = judge.Look{
			Candidate: judge.Figures{Calls: 100, Errors: int64(r.IntN(2)), Latency: draw(100)},
			Baseline:  judge.Figures{Calls: 900, Errors: int64(r.IntN(9)), Latency: draw(900)},
		}
	}
	return looks
}

// The judge's cost per look as the sentinel runs it: default tests, the
// grid's 165 buckets.
func BenchmarkJudgeObserveGrid(b *testing.B) { benchJudge(b, judge.Config{}, gridLooks(600)) }

// The verdict after ten minutes of such looks.
func BenchmarkJudgeVerdictGrid(b *testing.B) {
	j, err := judge.New(judge.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range gridLooks(600) {
		if err := j.Observe(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = j.Verdict()
	}
}
