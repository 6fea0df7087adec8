package demo

import (
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// HangRecipe is the rollout on which the safety net (Options.Rescue) is
// measured: after three intervals of load on the stable version alone, a
// canary that hangs is sent straight to weight basis points at the
// sentinel's first tick, and then to 100 %, under the judge's defaults
// with shadow traffic. Run it with RegressionHang and Options.Rescue on and off; the
// Result's FailedSafe are the users' failed calls of methods safe to
// repeat before the rollback, and its Rescue what the net did.
//
//	res, err := demo.Run(ctx, demo.HangRecipe(2000), demo.Options{
//		Regression: demo.RegressionHang, Rate: 300, Interval: time.Second,
//		Duration: time.Minute, Rescue: true})
func HangRecipe(weight int) *Recipe {
	return &Recipe{
		Name:            "hang",
		Baseline:        "stable",
		Candidate:       "canary",
		Instances:       3,
		CandidateFaults: func(r Regression) demoserver.Faults { return r.Faults() },
		ShadowRate:      0.2,
		Judge:           judge.Config{EnableShadow: true},
		Warmup:          3,
		Strategy: func(*Env) (sentinel.Strategy, error) {
			return sentinel.NewCanary(sentinel.CanaryConfig{
				Steps:           []int{weight, 10000},
				MinStepDuration: 5 * time.Second,
				MinStepCalls:    200,
			})
		},
	}
}
