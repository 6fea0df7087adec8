package evaluate

import (
	"fmt"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// aaCanary is a healthy canary with the default steps from 1 %; a quick
// run starts it at 10 %, as the recipes do, to finish in time.
func aaCanary(quick bool) *Scenario {
	sc := &Scenario{Name: "aa-canary", Wiring: Canary, Shadow: true,
		Title:   "A/A canary: the README's wiring (10 % shadowed, shadow judging), the default steps 1-5-25-50-100 % ≥ 5 s (calls as by default), 100–400 calls/s",
		RateMin: 100, RateMax: 400, MinStep: 5 * time.Second,
		Baseline: healthy, Candidate: healthy, Limit: 20 * time.Minute, Runs: Counts{10, 100},
		Goal: falseRollbacks}
	if quick {
		sc.Steps, sc.Limit = recipeSteps, 2*time.Minute
		sc.Title = strings.Replace(sc.Title, "the default steps 1-5-25-50-100 %", "steps 10-25-50-100 % (quick)", 1)
	}
	return sc
}

func aaBlueGreen() *Scenario {
	return &Scenario{Name: "aa-bluegreen", Wiring: BlueGreen,
		Title:   "A/A blue/green: the default blue/green (warm-up, 10 % shadowed, green judged against blue's 10 % over the same seconds), 5 s shadow grace, 15 s rollback window, 100–400 calls/s",
		RateMin: 100, RateMax: 400, Baseline: healthy, Candidate: healthy, Limit: 2 * time.Minute, Runs: Counts{20, 50},
		Goal: falseRollbacks}
}

func errors10x() *Scenario {
	return &Scenario{Name: "errors-10x", Wiring: Canary, Harmful: true,
		Title:   "errors 0.5 % → 5 %: no shadow, steps 10-25-50-100 % ≥ 30 s, 1,000 calls/s",
		RateMin: 1000, RateMax: 1000, Steps: recipeSteps, MinStep: 30 * time.Second,
		Baseline:  with(healthy, func(f *demoserver.Faults) { f.ErrorRate = 0.005 }),
		Candidate: with(healthy, func(f *demoserver.Faults) { f.ErrorRate = 0.05 }),
		Limit:     2 * time.Minute, Runs: Counts{20, 20},
		Goal: caught(1, 150)}
}

func latency15x() *Scenario {
	slow := demoserver.Faults{Latency: 20 * time.Millisecond}
	return &Scenario{Name: "latency-1.5x", Wiring: Canary, Harmful: true,
		Title:   "latency 1.5× (20 ms → 30 ms a call): no shadow, steps 10-25-50-100 % ≥ 30 s, 1,000 calls/s",
		RateMin: 1000, RateMax: 1000, Steps: recipeSteps, MinStep: 30 * time.Second,
		Baseline: slow, Candidate: with(slow, func(f *demoserver.Faults) { f.Latency = 30 * time.Millisecond }),
		Limit: 2 * time.Minute, Runs: Counts{15, 15},
		Goal: caught(1, 0)}
}

func tailOnly() *Scenario {
	return &Scenario{Name: "tail-only", Wiring: Canary, Harmful: true,
		Title:   "tail only (3 % of calls +500 ms): no shadow, steps 10-25-50-100 % ≥ 30 s, 1,000 calls/s",
		RateMin: 1000, RateMax: 1000, Steps: recipeSteps, MinStep: 30 * time.Second,
		Baseline:  healthy,
		Candidate: with(healthy, func(f *demoserver.Faults) { f.TailRate, f.TailLatency = 0.03, 500*time.Millisecond }),
		Limit:     2 * time.Minute, Runs: Counts{20, 20},
		Goal: caught(0.95, 3000)}
}

// lateBreak holds a healthy canary at 10 % (a first step of 10 min) and
// turns it bad after 150 s, or 30 s (3,000 healthy candidate calls) in a
// quick run.
func lateBreak(quick bool) *Scenario {
	at := 150 * time.Second
	if quick {
		at = 30 * time.Second
	}
	base := with(healthy, func(f *demoserver.Faults) { f.ErrorRate = 0.005 })
	return &Scenario{Name: "late-break", Wiring: Canary, Harmful: true,
		Title: fmt.Sprintf("late break: errors 0.5 %% → 5 %% after %v healthy at 10 %% of 1,000 calls/s, no shadow (first step 10 min); calls from the break",
			at.Truncate(time.Second)),
		RateMin: 1000, RateMax: 1000, Steps: []int{1000, 10000}, MinStep: 10 * time.Minute,
		Baseline: base, Candidate: base,
		Events: []Event{{After: at, Do: SetFaults, Role: Candidate, Break: true,
			Faults: with(healthy, func(f *demoserver.Faults) { f.ErrorRate = 0.05 })}},
		Limit: at + time.Minute, Runs: Counts{5, 5},
		Goal: lateAsFresh}
}

// killedRestored kills the canary's servers 4 s into the 25 % step and
// starts them again 20 s later; a quick run, with steps of 5 s, 12 s later
// (still more than the 5 s over which the sentinel looks for serving).
func killedRestored(quick bool) *Scenario {
	sc := &Scenario{Name: "killed-restored", Wiring: Canary, Shadow: true,
		Title:   "candidate killed 4 s into the 25 % step, restored 20 s later: the README's wiring, steps 10-25-50-100 % ≥ 10 s, 300 calls/s",
		RateMin: 300, RateMax: 300, Steps: recipeSteps, MinStep: 10 * time.Second,
		Baseline: healthy, Candidate: healthy,
		Events: []Event{
			{Step: 2, After: 4 * time.Second, Do: Kill, Role: Candidate},
			{Step: 2, After: 24 * time.Second, Do: Restore, Role: Candidate, Faults: healthy},
		},
		Limit: 3 * time.Minute, Runs: Counts{10, 10},
		Goal: neverMovedWhileDown}
	if quick {
		sc.MinStep, sc.Events[1].After = 5*time.Second, 16*time.Second
		sc.Title = strings.NewReplacer("restored 20 s later", "restored 12 s later", "≥ 10 s", "≥ 5 s (quick)").Replace(sc.Title)
	}
	return sc
}

// crashLoop kills the canary's servers every 8 s from 4 s into the
// first step, each time starting them again 3 s later, for the whole run:
// a release that crashes soon after it starts. Most of its users' calls
// go to the baseline while it is down; the rollout must not move while it
// is, and must end rolled back.
func crashLoop() *Scenario {
	const period, down, from, crashes = 8 * time.Second, 3 * time.Second, 4 * time.Second, 20
	sc := &Scenario{Name: "crash-loop", Wiring: Canary, Shadow: true, Harmful: true,
		Title: fmt.Sprintf("crash loop: the candidate killed every %v from %v into the 10 %% step, restored %v after each kill: the README's wiring, steps 10-25-50-100 %% ≥ 10 s, 300 calls/s",
			period, from, down),
		RateMin: 300, RateMax: 300, Steps: recipeSteps, MinStep: 10 * time.Second,
		Baseline: healthy, Candidate: healthy,
		Limit: 3 * time.Minute, Runs: Counts{10, 10},
		Goal: caughtNeverMoved}
	for i := range crashes {
		at := from + time.Duration(i)*period
		sc.Events = append(sc.Events,
			Event{Step: 1, After: at, Do: Kill, Role: Candidate},
			Event{Step: 1, After: at + down, Do: Restore, Role: Candidate, Faults: healthy})
	}
	return sc
}

// oneLost stops one of the canary's three servers for good 4 s into the
// 25 % step: a healthy version that lost a machine, which is no reason to
// roll back. Its calls in flight then fail (11–15 in trials, at 1,000
// calls/s of 20 ms), and the sentinel puts them down to the loss of a
// ready endpoint, as the rollout's first loss.
func oneLost() *Scenario {
	slow := with(healthy, func(f *demoserver.Faults) { f.Latency = 20 * time.Millisecond })
	return &Scenario{Name: "one-lost", Wiring: Canary, Shadow: true,
		Title:   "one candidate server of three stopped for good 4 s into the 25 % step: the README's wiring, steps 10-25-50-100 % ≥ 10 s, 1,000 calls/s of 20 ms",
		RateMin: 1000, RateMax: 1000, Steps: recipeSteps, MinStep: 10 * time.Second,
		Baseline: slow, Candidate: slow,
		Events: []Event{{Step: 2, After: 4 * time.Second, Do: StopOne, Role: Candidate, Index: 0}},
		Limit:  2 * time.Minute, Runs: Counts{10, 10},
		Goal: falseRollbacks}
}

// sharedOutage fails 30 % of both versions' calls for 10 s, 4 s into the
// 25 % step: a shared dependency's outage, which is no reason to roll
// back. With shadow, in the README's wiring.
func sharedOutage(shadow bool) *Scenario {
	outage := with(healthy, func(f *demoserver.Faults) { f.ErrorRate = 0.3 })
	ev := func(after time.Duration, r Role, f demoserver.Faults) Event {
		return Event{Step: 2, After: after, Do: SetFaults, Role: r, Faults: f}
	}
	sc := &Scenario{Name: "shared-outage", Wiring: Canary, Shadow: shadow,
		Title:   "shared outage: both versions fail 30 % of calls for 10 s, 4 s into the 25 % step: no shadow, steps 10-25-50-100 % ≥ 10 s, 300 calls/s",
		RateMin: 300, RateMax: 300, Steps: recipeSteps, MinStep: 10 * time.Second,
		Baseline: healthy, Candidate: healthy,
		Events: []Event{
			ev(4*time.Second, Baseline, outage), ev(4*time.Second, Candidate, outage),
			ev(14*time.Second, Baseline, healthy), ev(14*time.Second, Candidate, healthy),
		},
		Limit: 2 * time.Minute, Runs: Counts{10, 10},
		Goal: falseRollbacks}
	if shadow {
		sc.Name, sc.Title = "shared-outage-shadow", strings.Replace(sc.Title, "no shadow", "the README's wiring (10 % shadowed, shadow judging)", 1)
	}
	return sc
}

// readmeUnmarked runs the README's wiring on a service none of whose
// methods is marked safe to copy: the run ends at the alert that names
// the fix, or after 90 s.
func readmeUnmarked() *Scenario {
	return &Scenario{Name: "readme-unmarked", Wiring: Readme, Shadow: true,
		Title:   "README wiring (Go canary, default steps ≥ 5 s, shadow judging on) on grpc.health.v1.Health, no method marked safe to copy, 200 calls/s",
		RateMin: 200, RateMax: 200, MinStep: 5 * time.Second,
		Baseline: healthy, Candidate: healthy, Limit: 90 * time.Second, Runs: Counts{5, 5},
		Goal: fixAlerted}
}

// defaultDuration is the README's rollout as it is, not time-compressed:
// the default steps of at least 1 min, every default, at rate calls/s; a
// healthy candidate, to measure how long a default rollout takes. They run
// beside the hog, with the hundred A/A canaries: their time is the steps'
// (minutes), which the hog does not set, and the lot without the hog would
// otherwise wait for them alone.
func defaultDuration(rate int) *Scenario {
	return &Scenario{Name: fmt.Sprintf("duration-%d", rate), Wiring: Canary, Shadow: true,
		Title:   fmt.Sprintf("a default rollout's duration: the README's wiring, every default (steps 1-5-25-50-100 %% ≥ 1 min), a healthy candidate, %d calls/s, beside the hog", rate),
		RateMin: rate, RateMax: rate, Baseline: healthy, Candidate: healthy,
		Limit: 25 * time.Minute, Runs: Counts{0, 2}, Goal: promotedWithin(15 * time.Minute)}
}
