package judge_test

import (
	"testing"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

var rpcBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

func benchJudge(b *testing.B, cfg judge.Config, looks []judge.Look) {
	j, err := judge.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := j.Observe(looks[i%len(looks)]); err != nil {
			b.Fatal(err)
		}
	}
}

// A look of 1,000 calls at a 10 % share with a few errors and full
// histograms: the common case.
func BenchmarkJudgeObserve(b *testing.B) {
	looks := []judge.Look{
		{
			Candidate: judge.Figures{Calls: 100, Errors: 1, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{0, 9, 58, 30, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
			Baseline:  judge.Figures{Calls: 900, Errors: 4, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{3, 72, 530, 265, 22, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0}}},
			Shadow:    judge.ShadowFigures{Comparisons: 50, Mismatches: 0},
		},
		{
			Candidate: judge.Figures{Calls: 96, Errors: 0, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{1, 7, 55, 30, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
			Baseline:  judge.Figures{Calls: 904, Errors: 5, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{2, 75, 529, 268, 21, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0}}},
			Shadow:    judge.ShadowFigures{Comparisons: 48, Mismatches: 1},
		},
	}
	benchJudge(b, judge.Config{EnableShadow: true}, looks)
}

// A look of 100,000 calls at a 50 % share during a shared outage (20 %
// errors on both): the errors test's work grows with the spread of the
// candidate's share of 20,000 errors.
func BenchmarkJudgeObserveOutage(b *testing.B) {
	looks := []judge.Look{{
		Candidate: judge.Figures{Calls: 50000, Errors: 10050},
		Baseline:  judge.Figures{Calls: 50000, Errors: 9950},
	}}
	benchJudge(b, judge.Config{EnableShadow: true}, looks)
}

// Building the combined verdict with its reasons and evidence.
func BenchmarkJudgeVerdict(b *testing.B) {
	j, err := judge.New(judge.Config{})
	if err != nil {
		b.Fatal(err)
	}
	l := judge.Look{
		Candidate: judge.Figures{Calls: 100, Errors: 1, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{0, 9, 58, 30, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
		Baseline:  judge.Figures{Calls: 900, Errors: 4, Latency: judge.Buckets{Bounds: rpcBounds, Counts: []uint64{3, 72, 530, 265, 22, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0}}},
	}
	for range 10 {
		if err := j.Observe(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = j.Verdict()
	}
}
