package evaluate

import (
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// Wiring names the client a scenario runs: the README's whole stack
// (telemetry, the split with sticky users, the shadow interceptor, the
// sentinel with the default judge) and one of the default strategies.
type Wiring string

// The wirings.
const (
	// Canary is the README's: sentinel.NewCanary, the demo's calls.
	Canary Wiring = "canary"
	// BlueGreen is sentinel.NewBlueGreen with a warm-up and a shadow grace
	// period: green judged against blue over the same seconds.
	BlueGreen Wiring = "bluegreen"
	// Readme is the README's canary on the health service, whose methods
	// carry no idempotency mark.
	Readme Wiring = "readme"
)

// Role is a version's part in a rollout; each wiring names its own
// (stable and canary, blue and green).
type Role int

// The roles.
const (
	Baseline Role = iota
	Candidate
)

// Do is what an event does to the servers.
type Do int

// What events do.
const (
	SetFaults Do = iota // the role's servers take Faults
	Kill                // the candidate's process is killed, as a crash
	Restore             // the candidate's servers start again where they were
	StopOne             // the role's server Index stops for good, the others go on
)

// Event is a change to the servers during a run.
type Event struct {
	// Step and After say when: After from the moment the rollout first
	// reached step Step or a later one (0: from the sentinel's start).
	Step  int
	After time.Duration
	Do    Do
	Role  Role
	// Faults are the role's new faults (SetFaults, Restore).
	Faults demoserver.Faults
	// Index is the server StopOne stops, from 0.
	Index int
	// Break marks the candidate's turn for the worse: it happens just
	// after a tick, and candidate calls to the decision count from it.
	Break bool
}

// String says what the event does, for a run's trace.
func (ev Event) String() string {
	role := [2]string{"baseline", "candidate"}[ev.Role]
	switch ev.Do {
	case Kill:
		return "harness: " + role + " killed"
	case Restore:
		return "harness: " + role + " restored"
	case StopOne:
		return fmt.Sprintf("harness: %s server %d of %d stopped for good", role, ev.Index+1, instances)
	}
	what := fmt.Sprintf("harness: %s faults %s", role, demoproc.FaultsArg(ev.Faults))
	if ev.Break {
		what += " (the break)"
	}
	return what
}

// Counts are how many runs a scenario makes with the CPU hog off and on.
type Counts struct{ Off, On int }

// Scenario is one kind of rollout the harness runs many times.
type Scenario struct {
	Name  string // short, for flags and files: "aa-canary"
	Title string // in words, with its settings
	Wiring
	// Shadow, for the canary, copies 10 % of the safe calls to the
	// candidate and judges their mismatches, as the README does; without
	// it, the judge's tests see only the calls the candidate served.
	Shadow bool
	// Harmful: the right decision is a rollback; otherwise a promotion
	// (or, for Readme, the alert with the fix).
	Harmful bool
	// RateMin and RateMax bound the calls a second, drawn per run.
	RateMin, RateMax int
	// Steps are the canary's weights (basis points); nil: the default
	// 1 %, 5 %, 25 %, 50 %, 100 %. MinStep is the shortest step,
	// time-compressed; MinStepCalls its fewest candidate calls (0: the
	// default).
	Steps        []int
	MinStep      time.Duration
	MinStepCalls int64
	// Baseline and Candidate are the servers' faults at the start.
	Baseline, Candidate demoserver.Faults
	Events              []Event
	// Limit is the longest a run lasts; a run without a decision by then
	// counts as held.
	Limit time.Duration
	Runs  Counts
	// Goal checks the scenario's rows against its goal, in words.
	Goal func(r Row, all []Row) string
}

// kills reports whether the scenario kills a version (and restores it).
func (sc *Scenario) kills() bool {
	for _, ev := range sc.Events {
		if ev.Do == Kill {
			return true
		}
	}
	return false
}

// mayTimeOut reports whether the scenario's faults can hold a call past its
// deadline (a hang, or latency of callTimeout or more): then calls past
// their deadline are the scenario's doing, not a stalled machine's.
func (sc *Scenario) mayTimeOut() bool {
	slow := func(f demoserver.Faults) bool {
		return f.Hang || f.Latency >= callTimeout || f.TailRate > 0 && f.Latency+f.TailLatency >= callTimeout
	}
	if slow(sc.Baseline) || slow(sc.Candidate) {
		return true
	}
	for _, ev := range sc.Events {
		if (ev.Do == SetFaults || ev.Do == Restore) && slow(ev.Faults) {
			return true
		}
	}
	return false
}

// healthy are the faults of a healthy demo server: the demo's latency.
var healthy = demoserver.Faults{Latency: demo.BaseLatency}

// with returns f changed by set.
func with(f demoserver.Faults, set func(*demoserver.Faults)) demoserver.Faults {
	set(&f)
	return f
}

// recipeSteps are the recipes' steps: 10 %, 25 %, 50 %, 100 %. The
// regressions' steps last 30 s, half a user's default: the latency test,
// tempered for clustered calls on a busy machine, needs more looks than a
// step of 5 s gives it, as a step of 1 min would give them.
var recipeSteps = []int{1000, 2500, 5000, 10000}

// Scenarios are the harness's scenarios, with the run counts of a full
// run, or of a quick one (shorter late break, a few runs each).
func Scenarios(quick bool) []*Scenario {
	scs := []*Scenario{
		aaCanary(quick), aaBlueGreen(), errors10x(), latency15x(), tailOnly(),
		lateBreak(quick), killedRestored(quick), crashLoop(), oneLost(), sharedOutage(false), sharedOutage(true), readmeUnmarked(),
	}
	if !quick {
		scs = append(scs, defaultDuration(100), defaultDuration(400))
	}
	if quick {
		for _, sc := range scs {
			sc.Runs = quickRuns(sc)
			if sc.Harmful && len(sc.Events) == 0 {
				// Decided in seconds: they start after the long runs
				// and fill the rate budget around them.
				sc.Limit = time.Minute
			}
		}
	}
	return scs
}

// quickRuns are a quick run's counts: a few runs a scenario and hog
// state, one of those that last longest.
func quickRuns(sc *Scenario) Counts {
	if sc.Limit > 2*time.Minute {
		return Counts{1, 1}
	}
	return Counts{2, 2}
}
