// Package plan names a rollout's steps in order with their gates, what each
// must show before it passes, for status pages, the command line and the
// sentinel's warning when a strategy takes a step its plan does not name.
//
// The sentinel's canary and blue/green strategies are Planners, and so is a
// script given script.WithPlan:
//
//	script.WithPlan(
//		plan.Step{Name: plan.StepWarmup, Test: judge.TestWarmup},
//		plan.Step{Name: plan.StepCutover, MinDuration: 10 * time.Second, MinCalls: 500, Test: judge.TestWindow},
//	)
package plan
