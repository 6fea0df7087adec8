package script_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// A policy loaded from a file steers a sentinel: it starts the canary at
// params.first, holds while the judge looks, and rolls back when the judge
// fails the candidate. A sentineltest.Source hands the sentinel each
// second's figures: a thousand calls split by the weights, 2 % of the
// canary's failing.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "policy")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "policy.star")
	err = os.WriteFile(path, []byte(`
def on_tick(state):
    if state.verdict.outcome == "fail":
        rollback("the judge failed the candidate on " + state.verdict.test)
    elif state.phase == "pending":
        set_weight(params.first, reason = "the canary starts at " + step_label(params.first))
    else:
        hold("%d canary calls in step %s" % (state.step_calls, state.step_name))
`), 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	policy, err := script.Load(path, script.WithParams(map[string]any{"first": 2000}))
	if err != nil {
		fmt.Println(err)
		return
	}

	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	src := new(sentineltest.Source)
	clock := sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := sentinel.New(split, src, policy,
		sentinel.WithClock(clock),
		sentinel.WithLogger(slog.New(slog.DiscardHandler)),
		sentinel.WithJudge(judge.Config{DisableLatency: true}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for tick := 1; !s.Status().Phase.Final(); tick++ {
		toCanary := int64(split.Weight("canary")) / 10 // of 1,000 calls
		src.Set(&telemetry.Window{Versions: map[string]*telemetry.VersionStats{
			"stable": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 1000 - toCanary}}},
			"canary": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: toCanary, Errors: toCanary / 50}}},
		}}, nil)
		clock.Advance(time.Second)
		e := s.Tick(context.Background())
		fmt.Printf("%ds %-8s canary %-4s %s\n", tick, e.Action, plan.Label(split.Weight("canary")), e.Reason)
	}
	// Output:
	// 1s start    canary 20%  the canary starts at 20%
	// 2s hold     canary 20%  200 canary calls in step 20%
	// 3s rollback canary 0%   the judge failed the candidate on errors
}

// The built-in canary strategy as a script: script.Canary runs
// builtin/canary.star with a CanaryConfig's settings and makes the same
// decisions as sentinel.NewCanary; Builtin returns the source to start a
// policy of one's own from.
func ExampleCanary() {
	policy, err := script.Canary(sentinel.CanaryConfig{Steps: []int{500, 2500, 10000}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(policy.Name())
	d, err := policy.Decide(context.Background(), &sentinel.State{Position: sentinel.Position{
		Phase: sentinel.PhasePending, Baseline: "stable", Candidate: "canary"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %d: %s\n", d.Action, d.Weight, d.Reason)
	_, err = script.Builtin("blue-green.star")
	fmt.Println(err)
	// Output:
	// canary.star
	// start 500: canary starts at 5%
	// ninelives: bad script option: name = "blue-green.star": no such built-in script (there are ["bluegreen.star" "canary.star"])
}
