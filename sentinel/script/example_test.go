package script_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

// A policy script that starts at 1 %, doubles the candidate's weight after
// every healthy minute and rolls back on the judge's failure. Here Decide is
// called by hand on two states; a sentinel made with sentinel.New(split,
// source, policy) calls it every tick.
func ExampleNew() {
	policy, err := script.New("double.star", `
def on_tick(state):
    if state.verdict.outcome == "fail":
        rollback("the judge failed the candidate: " + state.verdict.reason)
    elif state.phase == "pending":
        set_weight(params.first)
    elif state.in_step >= params.step_seconds and state.verdict.outcome == "pass":
        set_weight(min(2 * state.candidate_weight, TOTAL_WEIGHT))
    else:
        hold("%s of %s in step %s" % (duration(state.in_step), duration(params.step_seconds), state.step_name))
`, script.WithParams(map[string]any{"first": 100, "step_seconds": time.Minute}))
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, st := range []*sentinel.State{
		{Position: sentinel.Position{StepStart: start, Phase: sentinel.PhasePending, Baseline: "stable", Candidate: "canary"}, Now: start},
		{Position: sentinel.Position{StepStart: start, Phase: sentinel.PhaseProgressing, Step: 1, StepName: "1%", Baseline: "stable", Candidate: "canary", Weights: []balancer.Weight{{Version: "stable", Weight: 9900}, {Version: "canary", Weight: 100}}}, Now: start.Add(30 * time.Second), InStep: 30 * time.Second, CandidateWeight: 100},
	} {
		d, err := policy.Decide(context.Background(), st)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %d %q: %s\n", d.Action, d.Weight, d.StepName, d.Reason)
	}

	// A broken script is refused with its position; the old one runs on.
	err = policy.SetSource("def on_tick(state):\n    promote(\n")
	fmt.Println(err)
	// Output:
	// start 100 "1%": script double.star: candidate to 1%
	// hold 0 "": 30s of 1m0s in step 1%
	// ninelives: script double.star:3:1: got outdent, want primary expression
}
