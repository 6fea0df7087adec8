package judge_test

import (
	"fmt"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// A candidate that fails 10 % of its calls against a baseline at 0.4 % is
// rolled back at the first look; its latency is no different.
func ExampleJudge() {
	j, err := judge.New(judge.Config{})
	if err != nil {
		panic(err)
	}
	bounds := []float64{0.01, 0.02, 0.05, 0.1}
	for i := 1; i <= 5; i++ {
		err := j.Observe(judge.Look{
			Candidate: judge.Figures{Calls: 100, Errors: 10,
				Latency: judge.Buckets{Bounds: bounds, Counts: []uint64{11, 56, 27, 6, 0}}},
			Baseline: judge.Figures{Calls: 900, Errors: 4,
				Latency: judge.Buckets{Bounds: bounds, Counts: []uint64{100, 500, 250, 50, 0}}},
		})
		if err != nil {
			panic(err)
		}
		v := j.Verdict()
		fmt.Println(i, v.Outcome, v.Test)
		if v.Outcome == judge.Fail {
			fmt.Printf("errors %d/%d vs %d/%d, e-value ≥ %.0f: %t\n",
				v.Evidence.Candidate.Events, v.Evidence.Candidate.Samples,
				v.Evidence.Baseline.Events, v.Evidence.Baseline.Samples,
				v.Evidence.Threshold, v.Evidence.Statistic >= v.Evidence.Threshold)
			break
		}
	}
	// Output:
	// 1 fail errors
	// errors 10/100 vs 4/900, e-value ≥ 180: true
}

// Pass means: enough calls in the step and no test has failed.
func ExampleJudge_pass() {
	j, _ := judge.New(judge.Config{DisableLatency: true})
	for i := range 5 {
		_ = j.Observe(judge.Look{
			Candidate: judge.Figures{Calls: 100, Errors: int64(i % 2)},
			Baseline:  judge.Figures{Calls: 900, Errors: 4},
		})
	}
	v := j.Verdict()
	fmt.Println(v.Outcome, "-", v.Reason)
	j.BeginStep()
	fmt.Println(j.Verdict().Outcome)
	// Output:
	// pass - every test passes (errors)
	// inconclusive
}

// A candidate whose median is the baseline's but 3 % of whose calls take
// half a second more is rolled back by the tail test, which names the
// quantile and the thresholds.
func ExampleJudge_tail() {
	j, err := judge.New(judge.Config{})
	if err != nil {
		panic(err)
	}
	bounds := []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}
	for look := 1; look <= 30 && !j.Failed(); look++ {
		_ = j.Observe(judge.Look{
			Candidate: judge.Figures{Calls: 100, Latency: judge.Buckets{Bounds: bounds, Counts: []uint64{10, 50, 30, 5, 2, 0, 3, 0}}},
			Baseline:  judge.Figures{Calls: 900, Latency: judge.Buckets{Bounds: bounds, Counts: []uint64{90, 450, 270, 72, 18, 0, 0, 0}}},
		})
	}
	v := j.Verdict()
	ev := v.Evidence
	tail := ev.Tail[1]
	fmt.Println(v.Outcome, v.Test, ev.Part, "at look", ev.FailedAtLook)
	fmt.Printf("%s of candidate calls above %g s vs %s of baseline calls above %g s\n",
		judge.Percent(tail.CandidateRate), tail.CandidateThreshold, judge.Percent(tail.BaselineRate), tail.BaselineThreshold)
	// Output:
	// fail latency p99 at look 4
	// 3.00% of candidate calls above 0.5 s vs 0% of baseline calls above 0.2 s
}
