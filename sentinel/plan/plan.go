package plan

import (
	"fmt"
	"time"
)

// Step is one step of a plan: the name the rollout's step takes
// (sentinel.Position.StepName) and its gate, what the step must show
// before it passes.
type Step struct {
	Name string `json:"name"`
	// MinDuration and MinCalls are the least time in the step and the
	// fewest candidate calls in it before it may pass; 0 when the step
	// asks for none.
	MinDuration time.Duration `json:"minDuration,omitempty"`
	MinCalls    int64         `json:"minCalls,omitempty"`
	// Test names what passes the step: TestJudge, or a test a verdict
	// names (judge.TestWarmup, judge.TestShadow, judge.TestWindow, …), or a
	// script's own name. Empty for the plan's last step when it is the
	// promotion itself.
	Test string `json:"test,omitempty"`
}

// Planner is a strategy that can name its steps in order, with their
// gates.
type Planner interface {
	Plan() []Step
}

// TestJudge is the gate of a step that passes on the judge's verdict over
// the rollout (the canary's steps).
const TestJudge = "judge"

// The steps of a blue/green rollout, as the status's StepName names them.
const (
	// StepWarmup: green is warmed up by the fork-join warm-up; blue has
	// all the traffic.
	StepWarmup = "warmup"
	// StepShadow: a sample of blue's calls is copied to green and the
	// replies are compared; blue still has all the traffic.
	StepShadow = "shadow"
	// StepCutover: green has all the traffic; blue stays connected through
	// the rollback window.
	StepCutover = "cutover"
)

// Label names a canary step by its weight in basis points, as a
// percentage: "5%", "0.5%".
func Label(bp int) string {
	if bp%100 == 0 {
		return fmt.Sprintf("%d%%", bp/100)
	}
	return fmt.Sprintf("%g%%", float64(bp)/100)
}
