package demo

import (
	"fmt"
	"io"
	"time"

	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
)

// Recipe is what the scaffolding needs to know of a recipe: its versions,
// its servers' faults, and how it describes its regression.
type Recipe struct {
	Name                string // "canary", "bluegreen"
	Baseline, Candidate string
	Instances           int
	// CandidateFaults are the candidate's faults at the start.
	CandidateFaults func(r Regression) demoserver.Faults
	// BaselineFaults are the baseline's faults; nil gives RegressionNone's
	// (BaseLatency a call).
	BaselineFaults func() demoserver.Faults
	// OnEvent sees every decision but holds, on the tick loop, with the
	// demo's servers (to change their faults).
	OnEvent func(servers *demoserver.Fleet, e sentinel.Event)
	// Describe says in words what the regression does to this recipe's
	// candidate, for the view's header and the report; nil uses
	// Regression.Describe.
	Describe func(r Regression) string
	// Warmup is how many intervals of load the client makes before the
	// sentinel's first tick, as a client runs before a rollout begins.
	Warmup int
}

// DescribeRegression says in words what the regression does to the
// recipe's candidate.
func (rc *Recipe) DescribeRegression(r Regression) string {
	if rc.Describe != nil {
		return rc.Describe(r)
	}
	return r.Describe()
}

// Options are the flags of a recipe's program.
type Options struct {
	Regression  Regression
	Rate        int           // calls/s
	Duration    time.Duration // the longest the run lasts
	Interval    time.Duration // between sentinel ticks
	MetricsAddr string        // serve Prometheus /metrics here if set
	StatusAddr  string        // serve the rollout status page here if set
	Report      string        // write the HTML report here if set
	Out         io.Writer     // the live view; nil for none
	// Webhook, if set, is the URL the recipe's sentinel POSTs its alerts
	// to (webhook.Alerter).
	Webhook string
	// DryRun makes the recipe's sentinel judge and report without moving a
	// weight (sentinel.WithDryRun).
	DryRun bool
	// Rescue makes the recipe install interceptor/rescue: the candidate's
	// failed or hung calls of methods safe to repeat are sent once more to
	// the baseline.
	Rescue bool
	// Virtual runs on a virtual clock: each interval's calls are made as
	// fast as they can be, then the clock moves on. Tests use it.
	Virtual bool
	Seed    uint64
	// Tail is how many ticks the run goes on after a final decision.
	Tail int
	// CallTimeout is the deadline of each of the load's calls; 0: 2 s.
	CallTimeout time.Duration
}

func (o *Options) check() error {
	if o.Rate < 1 || o.Rate > 20000 {
		return fmt.Errorf("ninelives: -rate %d, want 1..20000 calls/s", o.Rate)
	}
	if err := CheckTimes(o.Duration, o.Interval, o.CallTimeout); err != nil {
		return err
	}
	if o.Regression == "" {
		o.Regression = RegressionNone
	}
	if o.Tail == 0 {
		o.Tail = 3
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

// CheckTimes checks a run's times: its -duration, its tick interval and
// the deadline of the load's calls (0 for the default).
func CheckTimes(duration, interval, callTimeout time.Duration) error {
	switch {
	case duration <= 0:
		return fmt.Errorf("ninelives: -duration %v, want a positive duration", duration)
	case interval <= 0:
		return fmt.Errorf("ninelives: tick interval %v, want a positive duration", interval)
	case callTimeout < 0:
		return fmt.Errorf("ninelives: call timeout %v, want a positive duration, or 0 for the default", callTimeout)
	}
	return nil
}

// Result is what a run did.
type Result struct {
	Recipe     string
	Regression Regression
	DryRun     bool
	Phase      sentinel.Phase
	Ticks      []Tick
	Events     []sentinel.Event // every decision but holds
	Alerts     []sentinel.Event
	Calls      int64 // the load's calls
	Failed     int64
	FailedSafe int64 // of Failed, the calls of methods safe to repeat
	// CandidateCalls counts the primary calls the candidate took before the
	// rollout reached its final phase.
	CandidateCalls int64
	// FinalTick is the tick of the final decision (0 if none).
	FinalTick int
	// Elapsed is how long the run lasted, on its clock.
	Elapsed time.Duration
	// Interrupted reports that the run's context was cancelled (Ctrl-C)
	// before the run ended by itself.
	Interrupted bool
	Status      sentinel.Status
	// Shadow is the shadow traffic's figures at the end of the run.
	Shadow ShadowFigures
	// Rescue is what the rescue interceptor did, nil without one.
	Rescue *rescue.Stats
}

// add counts an interval's calls.
func (r *Result) add(s LoadStats) {
	r.Calls += s.Calls
	r.Failed += s.Failed
	r.FailedSafe += s.FailedSafe
}

// Err is the run's error, with which the recipe's program exits: Outcome's,
// but none for a dry run that ran its course, whose rollout need not
// finish since no weight moved.
func (r *Result) Err() error {
	if r.DryRun && !r.Interrupted {
		return nil
	}
	return Outcome(r.Phase, r.Interrupted, r.Elapsed)
}

// ShadowFigures are the shadow interceptor's figures, mismatch samples and
// learned noisy fields.
type ShadowFigures struct {
	Stats       shadow.Stats
	Mismatches  []shadow.Mismatch
	NoisyFields map[string][]string
}

// Tick is one row of the live view.
type Tick struct {
	N        int
	At       time.Duration // since the start
	Load     LoadStats
	Summary  sentinel.TickSummary
	Decision sentinel.Event
	Phase    sentinel.Phase
	Step     int
	StepName string
}
