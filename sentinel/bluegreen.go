package sentinel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/internal/host"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ShadowControl turns shadow traffic to a version on and off;
// *shadow.Interceptor (package interceptor/shadow) is one.
type ShadowControl interface {
	SetCandidate(version string) error
	SetRate(rate float64) error
}

// BlueGreenConfig sets up the blue/green strategy. Warmup is required;
// every other zero field takes its default.
type BlueGreenConfig struct {
	// Warmup warms green up before it gets any traffic; its report is the
	// gate (warmup.For makes one). Required.
	Warmup warmup.Func
	// WarmupTimeout bounds the warm-up (default 2 minutes); a warm-up that
	// has not passed by then fails.
	WarmupTimeout time.Duration

	// Shadow, if set, adds the shadow grace period after the warm-up:
	// ShadowRate of blue's calls are copied to green for ShadowGrace, and
	// green's mismatch rate must be shown to be within MismatchTolerance.
	// The copies must be recorded in the metric source (give the shadow
	// telemetry's *Metrics), since the gate reads their comparisons from
	// the windows.
	Shadow ShadowControl
	// ShadowRate is the share of calls copied during the grace period
	// (default 0.1).
	ShadowRate float64
	// ShadowGrace is the shortest the grace period lasts (default 1
	// minute).
	ShadowGrace time.Duration
	// ShadowMinComparisons is the fewest comparisons the grace period
	// needs before it may pass or fail (default 100).
	ShadowMinComparisons int64
	// MismatchTolerance is the mismatch rate green may have (default 0.01).
	MismatchTolerance float64

	// BlueShare is the share of the traffic, in basis points, that blue
	// keeps through the rollback window (default 1000, 10 %): green is
	// judged against blue over the same seconds, by the judge's two-sample
	// tests, so that a slowdown or an outage of the whole machine (or of a
	// dependency both share) strikes both alike and does not count against
	// green. At most 5000. Its cost: blue serves that share of the calls
	// (its users see the old version, and blue keeps the capacity for
	// them) until the promotion, and with fewer blue calls to compare with
	// the tests need more green calls to catch a regression. What the same
	// seconds do not cancel is the difference in load: green serves nine
	// calls in ten, and where latency grows with a server's load (a
	// starved machine, servers near their capacity) green's tail is slower
	// than an idle blue's. On real servers beside a CPU hog, 1 A/A
	// blue/green in 50 was rolled back so (make evaluate); give green the
	// servers for its share of the traffic.
	BlueShare int
	// CompareWithPast judges green instead against blue's figures of the
	// BaselineSpan before the cut-over, with all the traffic on green:
	// nothing stays on blue, but a slowdown of the whole machine after the
	// cut-over counts against green.
	CompareWithPast bool
	// BaselineSpan is how far back before the cut-over blue's figures are
	// taken as the reference green is judged against with CompareWithPast
	// (default 5 minutes).
	BaselineSpan time.Duration
	// MinBaselineCalls is the fewest blue calls the reference needs; the
	// cut-over waits for them (default 100). Only with CompareWithPast.
	MinBaselineCalls int64

	// RollbackWindow is how long green is judged after the cut-over, with
	// blue still connected, before the rollout is promoted (default 5
	// minutes).
	RollbackWindow time.Duration
	// RollbackMinCalls is the fewest green calls the window needs before
	// it may pass (default 200). With CompareWithPast a test may fail
	// after 50 calls (or RollbackMinCalls, if fewer).
	RollbackMinCalls int64
	// ErrorFactor and ErrorFloor set, with CompareWithPast, the error rate
	// green may have in the window: blue's reference rate × ErrorFactor +
	// ErrorFloor (defaults 2 and 0.01).
	ErrorFactor float64
	ErrorFloor  float64
	// DisableLatency leaves the window's latency test out (with
	// CompareWithPast; otherwise the judge's latency test is set by the
	// sentinel's judge.Config).
	DisableLatency bool
	// LatencyQuantile, LatencyFactor and LatencyMargin set, with
	// CompareWithPast, the latency green may have in the window: its
	// LatencyQuantile quantile must not be above blue's × LatencyFactor +
	// LatencyMargin (defaults 0.99, 1.5 and 10 ms).
	LatencyQuantile float64
	LatencyFactor   float64
	LatencyMargin   time.Duration

	// Alpha bounds the probability that the strategy's own gates (the
	// shadow gate, and with CompareWithPast the window's error and latency
	// tests) fail a green within its tolerances, over the whole rollout; it
	// is split equally between the enabled gates (default 0.01). The
	// judge's α, which covers the window judged over the same seconds, is
	// separate.
	Alpha float64
}

// WithDefaults returns c with its zero fields set to their defaults, or an
// error naming the first bad field.
func (c BlueGreenConfig) WithDefaults() (BlueGreenConfig, error) {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setF := func(f *float64, def float64) {
		if *f == 0 {
			*f = def
		}
	}
	setN := func(n *int64, def int64) {
		if *n == 0 {
			*n = def
		}
	}
	setDur(&c.WarmupTimeout, 2*time.Minute)
	setF(&c.ShadowRate, 0.1)
	setDur(&c.ShadowGrace, time.Minute)
	setN(&c.ShadowMinComparisons, 100)
	setF(&c.MismatchTolerance, 0.01)
	setDur(&c.BaselineSpan, 5*time.Minute)
	setN(&c.MinBaselineCalls, 100)
	setDur(&c.RollbackWindow, 5*time.Minute)
	setN(&c.RollbackMinCalls, 200)
	setF(&c.ErrorFactor, 2)
	setF(&c.ErrorFloor, 0.01)
	setF(&c.LatencyQuantile, 0.99)
	setF(&c.LatencyFactor, 1.5)
	setDur(&c.LatencyMargin, 10*time.Millisecond)
	setF(&c.Alpha, 0.01)
	if c.BlueShare == 0 {
		c.BlueShare = 1000
	}

	between := func(x, lo, hi float64) bool { return x > lo && x < hi }
	for _, f := range []struct {
		name string
		v    any
		ok   bool
		want string
	}{
		{"Warmup", nil, c.Warmup != nil, "the warm-up is nil: it is the gate of the cut-over (warmup.For makes one)"},
		{"WarmupTimeout", c.WarmupTimeout, c.WarmupTimeout >= 0, "want a positive duration"},
		{"ShadowRate", c.ShadowRate, c.ShadowRate > 0 && c.ShadowRate <= 1, "want a share in (0, 1]"},
		{"ShadowGrace", c.ShadowGrace, c.ShadowGrace >= 0, "want a positive duration"},
		{"ShadowMinComparisons", c.ShadowMinComparisons, c.ShadowMinComparisons >= 0, "want a positive number of comparisons"},
		{"MismatchTolerance", c.MismatchTolerance, between(c.MismatchTolerance, 0, 1), "want a rate strictly between 0 and 1"},
		{"BaselineSpan", c.BaselineSpan, c.BaselineSpan >= 0, "want a positive duration"},
		{"MinBaselineCalls", c.MinBaselineCalls, c.MinBaselineCalls >= 0, "want a positive number of calls"},
		{"RollbackWindow", c.RollbackWindow, c.RollbackWindow >= 0, "want a positive duration"},
		{"RollbackMinCalls", c.RollbackMinCalls, c.RollbackMinCalls >= 0, "want a positive number of calls"},
		{"ErrorFactor", c.ErrorFactor, c.ErrorFactor >= 1 && !math.IsInf(c.ErrorFactor, 0), "want a finite factor of at least 1"},
		{"ErrorFloor", c.ErrorFloor, between(c.ErrorFloor, 0, 1), "want a rate strictly between 0 and 1"},
		{"LatencyQuantile", c.LatencyQuantile, between(c.LatencyQuantile, 0, 1), "want a quantile strictly between 0 and 1"},
		{"LatencyFactor", c.LatencyFactor, c.LatencyFactor >= 1 && !math.IsInf(c.LatencyFactor, 0), "want a finite factor of at least 1"},
		{"LatencyMargin", c.LatencyMargin, c.LatencyMargin >= 0, "want a positive duration"},
		{"Alpha", c.Alpha, between(c.Alpha, 0, 1), "want a probability strictly between 0 and 1"},
		{"BlueShare", c.BlueShare, c.BlueShare > 0 && c.BlueShare <= balancer.TotalWeight/2, "want 1..5000 basis points (10000 = 100 %)"},
	} {
		if !f.ok {
			return c, config.Errorf(ErrBadOption, "BlueGreenConfig."+f.name, f.v, "%s", f.want)
		}
	}
	return c, nil
}

// blueGreen is the strategy NewBlueGreen makes.
type blueGreen struct {
	cfg                    BlueGreenConfig
	alphaShadow, alphaErrs float64
	alphaLat               float64

	mu       sync.Mutex
	stage    string
	closed   bool
	warm     host.Warmup
	report   *warmup.Report
	warmErr  error
	shadowSw host.Switch
	shadow   *judge.RateTest
	blue     []blueTick // blue's primary figures per tick before the cut-over
	cutAsked bool       // the cut-over was decided, not yet seen applied
	cutAt    time.Time
	ref      blueReference
	errTest  *judge.RateTest
	latTest  *judge.RateTest
}

type blueTick struct {
	at time.Time
	w  *telemetry.Window
}

// blueReference is what green is judged against in the rollback window.
type blueReference struct {
	calls, errors int64
	rate          float64 // blue's error rate
	quantile      float64 // blue's LatencyQuantile, seconds; 0 without latencies
	errTolerance  float64 // the error rate green may have
	latBound      float64 // the latency green's quantile may have, seconds
	latency       bool    // whether the latency test runs
}

// NewBlueGreen returns the blue/green strategy: it switches all the
// traffic from blue (the baseline) to green (the candidate) in one step,
// behind three gates:
//
//  1. Warm-up (step "warmup"): on its first tick it starts the warm-up on
//     a goroutine of its own (the tick does not wait) and holds until the
//     report is in; a warm-up that fails or errs rolls back, before green
//     had any traffic.
//  2. Shadow grace (step "shadow", only with a Shadow): ShadowRate of
//     blue's calls are copied to green for at least ShadowGrace; green's
//     mismatch rate is tested sequentially against MismatchTolerance, and
//     confident mismatches roll back. Then the shadow is turned off.
//  3. Cut-over and rollback window: green gets all the traffic but
//     BlueShare (10 %) at once, and is judged for RollbackWindow against
//     blue over the same seconds, by the sentinel's judge: its errors and
//     latency tests compare the two versions' calls of each tick, so what
//     strikes both alike (a slower machine, a shared dependency failing)
//     cancels out. A failed test rolls back at once: all the traffic to
//     blue again. After the window, with RollbackMinCalls green calls, the
//     judge's pass and green serving (State.Serving.OK), the rollout is
//     promoted: all the traffic to green.
//
// The cost of judging at the same time: blue serves BlueShare of the calls
// through the window (its users see the old version, and blue keeps the
// capacity for them), and with fewer blue calls to compare with the tests
// need more green calls to catch a regression than a comparison with a
// larger blue sample would.
//
// With CompareWithPast, green gets all the traffic instead, and is judged
// against blue's figures of the BaselineSpan before the cut-over (with all
// the traffic on green, the judge has no blue calls to compare with); the
// cut-over waits for MinBaselineCalls of them. The window's tests are then
// one-sample sequential tests against stated tolerances,
// judge.RateTest's mixture SPRT: green's error rate against blue's
// reference rate × ErrorFactor + ErrorFloor, and the share of green's
// calls slower than blue's LatencyQuantile × LatencyFactor + LatencyMargin
// against 1 − LatencyQuantile. Each fails a green within its tolerance
// with probability at most its share of Alpha, however many ticks the
// window takes; but a slowdown of the whole machine after the cut-over
// counts against green. The tests sum the whole window, so a green that
// breaks late in it needs more failing calls to outweigh the good ones
// before it.
//
// The balancer keeps blue's endpoints connected for as long as the
// resolver lists them, whatever their weight, so the rollback needs no new
// connection: keep blue in the target through the window. The judge's Fail
// rolls back at any step. A green that does not serve (no ready endpoint,
// its picks falling back to blue) holds the cut-over and the promotion,
// and is rolled back as unavailable after ServingConfig.RollbackAfter.
//
// Its decisions: ActionStart (weight 0, step "warmup") on the pending tick;
// ActionAdvance (weight 0, step "shadow") when the warm-up passed and a
// Shadow is set; ActionSetWeights (weight 10000 − BlueShare, or 10000 with
// CompareWithPast; step "cutover", with an alert) for the cut-over, which
// begins the step of the rollback window and keeps the rollout progressing
// through it; ActionPromote at the end of the window; ActionRollback on a
// failed warm-up, shadow gate, window test or judge's verdict, or an
// unavailable green; ActionHold otherwise. A rollback in the window, and
// the promotion, carry the verdict of the window's test that decided
// (Decision.Verdict).
//
// The strategy is a StatefulStrategy: a Checkpoint holds its stage, the
// gates' statistics and blue's reference figures, and a sentinel restored
// from it carries on: in the warm-up the warm-up runs again, in the shadow
// grace period the shadow is turned on again, and through the rollback
// window green is judged on against the same reference. Restoring replaces
// all the strategy's state, so a strategy kept from one rollout's sentinel
// to the next (as the fleet's leader keeps it) carries on the checkpoint's
// rollout, not what it went through itself. Restore rejects a checkpoint past the
// warm-up that lacks the strategy's state.
//
// It drives one rollout; make a new one for the next. It is an io.Closer:
// the sentinel's Close closes it, to stop a running warm-up and the shadow.
// cfg is checked and its defaults filled as WithDefaults does.
func NewBlueGreen(cfg BlueGreenConfig) (Strategy, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	b := &blueGreen{cfg: cfg}
	// Alpha is split between the strategy's own gates: the shadow gate, and
	// with CompareWithPast the window's error and latency tests.
	shadowGate, pastErrs, pastLat := cfg.Shadow != nil, cfg.CompareWithPast, cfg.CompareWithPast && !cfg.DisableLatency
	gates := 0.0
	for _, on := range []bool{shadowGate, pastErrs, pastLat} {
		if on {
			gates++
		}
	}
	share := func(on bool) float64 {
		if on {
			return cfg.Alpha / gates
		}
		return 0
	}
	b.alphaShadow, b.alphaErrs, b.alphaLat = share(shadowGate), share(pastErrs), share(pastLat)
	if shadowGate {
		if b.shadow, err = b.newShadowGate(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// newShadowGate makes the shadow grace period's test.
func (b *blueGreen) newShadowGate() (*judge.RateTest, error) {
	return judge.NewRateTest(b.alphaShadow, judge.RateConfig{
		Tolerance:      b.cfg.MismatchTolerance,
		MinSamples:     max(b.cfg.ShadowMinComparisons, 1),
		MinStepSamples: max(b.cfg.ShadowMinComparisons, 1),
	})
}

// Name implements Strategy.
func (b *blueGreen) Name() string { return "bluegreen" }

// currentStage returns the step the strategy is in: "" before the first tick
// (and after a restore in the warm-up, until the tick that starts the
// warm-up again), plan.StepWarmup, plan.StepShadow, or plan.StepCutover once the cut-over
// has been applied.
func (b *blueGreen) currentStage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stage
}

// warmupReport returns the warm-up's report, or nil while it runs (or if it
// failed without one).
func (b *blueGreen) warmupReport() *warmup.Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.report
}

// WarmupDone returns a channel that is closed when the warm-up has
// finished, its report in; it is nil before the warm-up starts.
func (b *blueGreen) WarmupDone() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.warm.Done()
}

// Close stops a running warm-up and waits for it, and turns the shadow
// off. It implements io.Closer.
func (b *blueGreen) Close() error {
	b.mu.Lock()
	b.closed = true
	warm := b.warm
	err := b.setShadowLocked("", false)
	b.mu.Unlock()
	return errors.Join(err, warm.Stop(host.StopWait))
}

// Decide implements Strategy.
func (b *blueGreen) Decide(ctx context.Context, s *State) (Decision, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return hold("blue/green: the strategy is closed"), nil
	}
	green, blue := s.Candidate, s.Baseline

	if b.cutAsked && b.stage != plan.StepCutover && b.cutOver(s) {
		b.stage = plan.StepCutover
		b.cutAsked = false
		if err := b.setShadowLocked(green, false); err != nil {
			return Decision{}, err
		}
		if err := b.startWindowLocked(); err != nil {
			return Decision{}, err
		}
	}
	if b.stage != plan.StepCutover && b.cfg.CompareWithPast {
		b.recordBlueLocked(s)
	}

	if s.Phase == PhasePending {
		if b.stage == "" {
			b.startWarmupLocked(ctx, green)
		}
		return Decision{Action: ActionStart, Weight: 0, StepName: plan.StepWarmup,
			Reason: fmt.Sprintf("blue/green: warming %s up; %s keeps all the traffic", green, blue)}, nil
	}
	if s.Verdict.Outcome == judge.Fail {
		return b.rollbackLocked(green, b.judgeFailed(s), nil)
	}
	if s.Phase == PhaseProgressing && s.Serving.Unavailable {
		d := unavailable(s)
		return b.rollbackLocked(green, d.Reason, d.Verdict)
	}

	switch b.stage {
	case plan.StepCutover:
		return b.windowLocked(s)
	case plan.StepShadow:
		return b.shadowLocked(s)
	}
	if b.stage == "" {
		// No warm-up yet: the rollout was paused while pending, or the
		// strategy was restored from a checkpoint in the warm-up without a
		// warm-up of its own running.
		b.startWarmupLocked(ctx, green)
	}
	return b.warmupLocked(s)
}

// judgeFailed says why the judge failed green: in the rollback window,
// against blue over the same seconds.
func (b *blueGreen) judgeFailed(s *State) string {
	green, blue := s.Candidate, s.Baseline
	if b.stage != plan.StepCutover || b.cfg.CompareWithPast {
		return "the judge failed " + green + ": " + s.Verdict.Reason
	}
	switch s.Verdict.Test {
	case judge.TestErrors:
		return fmt.Sprintf("%s fails more often than %s over the same seconds: %s", green, blue, s.Verdict.Reason)
	case judge.TestLatency:
		return fmt.Sprintf("%s is slower than %s over the same seconds: %s", green, blue, s.Verdict.Reason)
	}
	return fmt.Sprintf("the judge failed %s against %s over the same seconds: %s", green, blue, s.Verdict.Reason)
}

// cutWeight is green's weight from the cut-over on.
func (b *blueGreen) cutWeight() int {
	if b.cfg.CompareWithPast {
		return balancer.TotalWeight
	}
	return balancer.TotalWeight - b.cfg.BlueShare
}

// cutOver reports whether the cut-over has been applied: the rollout set
// green's weight to the cut-over's, and green has traffic. A dry run moves
// nothing, so there the decision counts as applied.
func (b *blueGreen) cutOver(s *State) bool {
	if s.DryRun {
		return s.Phase == PhaseProgressing || s.Phase == PhasePaused
	}
	return s.TargetWeight == b.cutWeight() && s.CandidateWeight > 0
}

func (b *blueGreen) startWarmupLocked(ctx context.Context, green string) {
	b.stage = plan.StepWarmup
	b.warm.Start(ctx, b.cfg.WarmupTimeout, green, b.cfg.Warmup, func(rep *warmup.Report, err error) {
		b.mu.Lock()
		b.report, b.warmErr = rep, err
		b.mu.Unlock()
	})
}

func (b *blueGreen) warmupLocked(s *State) (Decision, error) {
	green := s.Candidate
	if !b.warm.Finished() {
		return hold(fmt.Sprintf("blue/green: warming %s up (%v so far)", green, s.InStep.Truncate(time.Millisecond))), nil
	}
	switch {
	case b.warmErr != nil:
		why := fmt.Sprintf("the warm-up of %s failed, %s never had traffic: %v", green, green, b.warmErr)
		return b.rollbackLocked(green, why, gateVerdict(judge.Inconclusive, judge.TestWarmup, why))
	case b.report == nil:
		why := fmt.Sprintf("the warm-up of %s gave no report, %s never had traffic", green, green)
		return b.rollbackLocked(green, why, gateVerdict(judge.Inconclusive, judge.TestWarmup, why))
	case !b.report.Passed:
		return b.rollbackLocked(green, fmt.Sprintf("the warm-up of %s did not pass, %s never had traffic: %s", green, green, b.report.Reason),
			gateVerdict(judge.Fail, judge.TestWarmup, b.report.Reason))
	}
	warmed := gateVerdict(judge.Pass, judge.TestWarmup, b.report.Reason)
	if b.cfg.Shadow == nil {
		return b.cutOverLocked(s, "warm-up passed ("+b.report.Reason+")", warmed)
	}
	if s.Phase != PhaseProgressing {
		return holdOn(fmt.Sprintf("blue/green: the warm-up of %s passed; the shadow grace period waits while the rollout is %s", green, s.Phase), warmed), nil
	}
	if s.StepName == plan.StepShadow {
		// The step began on the previous tick: its window is the first with
		// the shadow on.
		b.stage = plan.StepShadow
		return b.shadowLocked(s)
	}
	if err := b.setShadowLocked(green, true); err != nil {
		return Decision{}, err
	}
	return Decision{Action: ActionAdvance, Weight: 0, StepName: plan.StepShadow, Verdict: warmed,
		Reason: fmt.Sprintf("blue/green: the warm-up of %s passed (%s); copying %s of %s's calls to %s for at least %v",
			green, b.report.Reason, judge.Percent(b.cfg.ShadowRate), s.Baseline, green, b.cfg.ShadowGrace)}, nil
}

func (b *blueGreen) shadowLocked(s *State) (Decision, error) {
	green := s.Candidate
	// The shadow is on from the decision that began the step; this turns
	// it on again only in a strategy restored from a checkpoint.
	if err := b.setShadowLocked(green, true); err != nil {
		return Decision{}, err
	}
	// Green's copies as the status counts them (telemetry.Figures): a copy
	// that failed where its primary did not is a comparison and a mismatch.
	f := s.Window.Figures(green)
	if err := b.shadow.Observe(f.ShadowComparisons, f.ShadowMismatches); err != nil {
		return Decision{}, err
	}
	v := b.shadow.Verdict()
	v.Test = judge.TestShadow
	ev := v.Evidence
	figures := fmt.Sprintf("%d of %d comparisons mismatched (%s) against a tolerance of %s; e-value %s, threshold %s",
		ev.Candidate.Events, ev.Candidate.Samples, judge.Percent(ev.Candidate.Rate), judge.Percent(ev.Tolerance), judge.Number(ev.Statistic), judge.Number(ev.Threshold))
	switch {
	case v.Outcome == judge.Fail:
		return b.rollbackLocked(green, fmt.Sprintf("%s's replies differ from %s's too often: %s, reached at look %d", green, s.Baseline, figures, ev.FailedAtLook), &v)
	case s.InStep < b.cfg.ShadowGrace:
		return holdOn(fmt.Sprintf("blue/green: shadow grace %v of %v: %s", s.InStep.Truncate(time.Second), b.cfg.ShadowGrace, figures), &v), nil
	case v.Outcome != judge.Pass:
		return holdOn("blue/green: shadow grace: "+v.Reason, &v), nil
	}
	return b.cutOverLocked(s, "the shadow grace period passed: "+figures, &v)
}

// cutOverLocked decides the cut-over once the gates have passed (the last
// gate's verdict v), if green has a ready endpoint and, with
// CompareWithPast, blue's reference figures are in.
func (b *blueGreen) cutOverLocked(s *State, passed string, v *judge.Verdict) (Decision, error) {
	green, blue := s.Candidate, s.Baseline
	if s.Serving.Listed && s.Serving.Ready == 0 {
		return holdOn(fmt.Sprintf("blue/green: %s; the cut-over waits for %s to serve: %s", passed, green, s.Serving.Reason), v), nil
	}
	against := fmt.Sprintf("%s over the same seconds, %s keeping %s of the traffic", blue, blue, plan.Label(b.cfg.BlueShare))
	kept := fmt.Sprintf("%s keeps %s of the traffic and stays connected", blue, plan.Label(b.cfg.BlueShare))
	if b.cfg.CompareWithPast {
		ref, ok := b.referenceLocked(s.Now, blue)
		if !ok {
			return holdOn(fmt.Sprintf("blue/green: %s; the cut-over waits for %s's reference figures: %d of %d calls in the last %v",
				passed, blue, ref.calls, b.cfg.MinBaselineCalls, b.cfg.BaselineSpan), v), nil
		}
		b.ref = ref
		against, kept = b.describeRef(blue), blue+" stays connected"
	}
	if s.Phase != PhaseProgressing {
		return holdOn(fmt.Sprintf("blue/green: %s; the cut-over waits while the rollout is %s", passed, s.Phase), v), nil
	}
	b.cutAsked, b.cutAt = true, s.Now
	return Decision{Action: ActionSetWeights, Weight: b.cutWeight(), StepName: plan.StepCutover, Verdict: v,
		Reason: fmt.Sprintf("blue/green: %s; cut over to %s, judged for %v against %s",
			passed, green, b.cfg.RollbackWindow, against),
		Alerts: []string{fmt.Sprintf("blue/green: cut over from %s to %s; %s through the rollback window of %v",
			blue, green, kept, b.cfg.RollbackWindow)},
	}, nil
}

func (b *blueGreen) describeRef(blue string) string {
	r := b.ref
	s := fmt.Sprintf("%s's %s errors (%d/%d): green may have up to %s", blue, judge.Percent(r.rate), r.errors, r.calls, judge.Percent(r.errTolerance))
	if r.latency {
		s += fmt.Sprintf(", and a p%g up to %v (%s's is %v)", 100*b.cfg.LatencyQuantile,
			seconds(r.latBound), blue, seconds(r.quantile))
	}
	return s
}

func seconds(x float64) time.Duration {
	return time.Duration(x * float64(time.Second)).Round(time.Microsecond)
}

// recordBlueLocked keeps blue's primary figures of this tick, and drops
// those older than BaselineSpan.
func (b *blueGreen) recordBlueLocked(s *State) {
	r := s.Window.Version(s.Baseline).Role(balancer.RolePrimary)
	if r.Calls > 0 {
		w := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
			s.Baseline: {Roles: map[balancer.Role]*telemetry.RoleStats{
				balancer.RolePrimary: {Calls: r.Calls, Errors: r.Errors, Latency: r.Latency.Clone()},
			}},
		}}
		b.blue = append(b.blue, blueTick{at: s.Now, w: w})
	}
	cut := 0
	for cut < len(b.blue) && s.Now.Sub(b.blue[cut].at) > b.cfg.BaselineSpan {
		cut++
	}
	b.blue = b.blue[cut:]
}

// referenceLocked sums blue's figures of the last BaselineSpan into the
// reference; ok is false while they hold fewer than MinBaselineCalls calls.
func (b *blueGreen) referenceLocked(now time.Time, blue string) (blueReference, bool) {
	acc := new(telemetry.Window)
	for _, t := range b.blue {
		if now.Sub(t.at) <= b.cfg.BaselineSpan {
			// A histogram that does not merge is one the loop could not
			// merge either; the tick is left out.
			_ = acc.Merge(t.w)
		}
	}
	r := acc.Version(blue).Role(balancer.RolePrimary)
	ref := blueReference{calls: r.Calls, errors: r.Errors}
	if r.Calls == 0 || r.Calls < b.cfg.MinBaselineCalls {
		return ref, false
	}
	ref.rate = float64(r.Errors) / float64(r.Calls)
	ref.errTolerance = min(ref.rate*b.cfg.ErrorFactor+b.cfg.ErrorFloor, 0.99)
	if q := r.Latency.Quantile(b.cfg.LatencyQuantile); !b.cfg.DisableLatency && !math.IsNaN(q) && !math.IsInf(q, 0) {
		ref.latency = true
		ref.quantile = q
		ref.latBound = q*b.cfg.LatencyFactor + b.cfg.LatencyMargin.Seconds()
	}
	return ref, true
}

// startWindowLocked makes the rollback window's tests from the reference;
// judged against blue over the same seconds, the window has the judge's.
func (b *blueGreen) startWindowLocked() error {
	if !b.cfg.CompareWithPast {
		return nil
	}
	errTest, latTest, err := b.windowTests(b.ref)
	if err != nil {
		return err
	}
	b.errTest, b.latTest = errTest, latTest
	return nil
}

// windowMinFailCalls is the fewest green calls with which a window test
// may fail, if RollbackMinCalls is not fewer.
const windowMinFailCalls = 50

// windowTests makes the rollback window's tests from ref: the error test,
// and the latency test if ref has a latency bound (else nil).
func (b *blueGreen) windowTests(ref blueReference) (errTest, latTest *judge.RateTest, err error) {
	minFail := min(b.cfg.RollbackMinCalls, windowMinFailCalls)
	errTest, err = judge.NewRateTest(b.alphaErrs, judge.RateConfig{
		Tolerance: ref.errTolerance, MinSamples: max(minFail, 1), MinStepSamples: max(b.cfg.RollbackMinCalls, 1),
	})
	if err != nil || !ref.latency {
		return errTest, nil, err
	}
	latTest, err = judge.NewRateTest(b.alphaLat, judge.RateConfig{
		Tolerance: 1 - b.cfg.LatencyQuantile, MinSamples: max(minFail, 1), MinStepSamples: max(b.cfg.RollbackMinCalls, 1),
	})
	return errTest, latTest, err
}

// windowLocked judges green in the rollback window.
func (b *blueGreen) windowLocked(s *State) (Decision, error) {
	// Off since the cut-over; this turns it off only in a strategy
	// restored from a checkpoint whose shadow it had turned on.
	if err := b.setShadowLocked(s.Candidate, false); err != nil {
		return Decision{}, err
	}
	if b.cfg.CompareWithPast {
		return b.pastWindowLocked(s)
	}
	green, blue := s.Candidate, s.Baseline
	blueCalls := s.StepWindow.Version(blue).Role(balancer.RolePrimary).Calls
	sum := fmt.Sprintf("%d calls of %s and %d of %s since the cut-over; %s", s.StepCalls, green, blueCalls, blue, s.Verdict.Reason)
	passed := s.StepCalls >= b.cfg.RollbackMinCalls && blueCalls > 0 && s.Verdict.Outcome == judge.Pass
	return b.endWindow(s, sum, passed, windowOf(s.Verdict.Tests, sum, passed))
}

// windowOf is the rollback window's verdict: its tests, a pass once it
// passed, else inconclusive (a failed test rolls back before).
func windowOf(tests []judge.Verdict, sum string, passed bool) *judge.Verdict {
	v := gateVerdict(judge.Inconclusive, judge.TestWindow, sum)
	if passed {
		v.Outcome = judge.Pass
	}
	v.Tests = tests
	return v
}

// gateVerdict is the verdict of one of the strategy's own gates.
func gateVerdict(o judge.Outcome, test, reason string) *judge.Verdict {
	return &judge.Verdict{Outcome: o, Test: test, Reason: reason}
}

// holdOn holds, with the verdict of the gate the step waits on.
func holdOn(reason string, v *judge.Verdict) Decision {
	return Decision{Action: ActionHold, Reason: reason, Verdict: v}
}

// endWindow holds through the rollback window, and after it until green
// passed (with RollbackMinCalls calls) and serves; then it promotes. Each
// decision carries the window's verdict v.
func (b *blueGreen) endWindow(s *State, sum string, passed bool, v *judge.Verdict) (Decision, error) {
	green, in := s.Candidate, s.Now.Sub(b.cutAt)
	against := s.Baseline + " over the same seconds"
	if b.cfg.CompareWithPast {
		against = s.Baseline + "'s figures before the cut-over"
	}
	switch {
	case s.Serving.Down:
		return holdOn(fmt.Sprintf("blue/green: rollback window %v of %v: %s", in.Truncate(time.Second), b.cfg.RollbackWindow, s.Serving.Reason), v), nil
	case in < b.cfg.RollbackWindow:
		return holdOn(fmt.Sprintf("blue/green: rollback window %v of %v: %s", in.Truncate(time.Second), b.cfg.RollbackWindow, sum), v), nil
	case !passed:
		return holdOn(fmt.Sprintf("blue/green: the rollback window is over but %s needs %d calls in it, and a pass against %s, to be promoted: %s",
			green, b.cfg.RollbackMinCalls, against, sum), v), nil
	case !s.Serving.OK:
		return holdOn(fmt.Sprintf("blue/green: %s passed the rollback window, but promotes only on calls it served recently: %s", green, s.Serving.Reason), v), nil
	}
	return Decision{Action: ActionPromote, Verdict: v,
		Reason: fmt.Sprintf("blue/green: %s passed the rollback window of %v against %s: %s", green, b.cfg.RollbackWindow, against, sum)}, nil
}

// pastWindowLocked judges green against blue's reference figures from
// before the cut-over (CompareWithPast).
func (b *blueGreen) pastWindowLocked(s *State) (Decision, error) {
	green, blue := s.Candidate, s.Baseline
	r := s.JudgedCandidate()
	if err := b.errTest.Observe(r.Calls, r.Errors); err != nil {
		return Decision{}, err
	}
	ev := b.errTest.Verdict().Evidence
	errs := fmt.Sprintf("errors %s (%d/%d) against up to %s; e-value %s, threshold %s",
		judge.Percent(ev.Candidate.Rate), ev.Candidate.Events, ev.Candidate.Samples, judge.Percent(ev.Tolerance), judge.Number(ev.Statistic), judge.Number(ev.Threshold))
	errV := windowVerdict(b.errTest.Verdict(), judge.TestErrors, errs)
	if errV.Outcome == judge.Fail {
		return b.rollbackLocked(green, fmt.Sprintf("%s fails more often than %s did before the cut-over: %s, reached at look %d (%s)",
			green, blue, errs, ev.FailedAtLook, b.describeRef(blue)), &errV)
	}
	figures, tests := []string{errs}, []judge.Verdict{errV}
	if b.latTest != nil {
		timed := r.Calls // none when the judge left the tick's latencies out
		if s.out.latency {
			timed = 0
		}
		slow := min(r.Latency.CountAbove(b.ref.latBound), uint64(timed))
		if err := b.latTest.Observe(timed, int64(slow)); err != nil {
			return Decision{}, err
		}
		lev := b.latTest.Verdict().Evidence
		lat := fmt.Sprintf("latency: calls over %v: %s (%d/%d) against up to %s; e-value %s, threshold %s",
			seconds(b.ref.latBound), judge.Percent(lev.Candidate.Rate), lev.Candidate.Events, lev.Candidate.Samples, judge.Percent(lev.Tolerance), judge.Number(lev.Statistic), judge.Number(lev.Threshold))
		latV := windowVerdict(b.latTest.Verdict(), judge.TestLatency, lat)
		if latV.Outcome == judge.Fail {
			return b.rollbackLocked(green, fmt.Sprintf("%s is slower than %s was before the cut-over: %s, reached at look %d (%s)",
				green, blue, lat, lev.FailedAtLook, b.describeRef(blue)), &latV)
		}
		figures, tests = append(figures, lat), append(tests, latV)
	}
	sum := strings.Join(figures, "; ")
	passed := true
	for _, t := range tests {
		passed = passed && t.Outcome == judge.Pass
	}
	return b.endWindow(s, sum, passed, windowOf(tests, sum, passed))
}

// windowVerdict is a window test's verdict, named for what it tests, with
// the figures as its reason.
func windowVerdict(v judge.Verdict, test, figures string) judge.Verdict {
	v.Test, v.Reason = test, figures
	return v
}

// rollbackLocked turns the shadow off and rolls back for why, with the
// verdict that decided (nil: the judge's).
func (b *blueGreen) rollbackLocked(green, why string, v *judge.Verdict) (Decision, error) {
	d := Decision{Action: ActionRollback, Reason: "blue/green: " + why, Verdict: v}
	if err := b.setShadowLocked(green, false); err != nil {
		d.Reason += " (turning the shadow off failed: " + err.Error() + ")"
	}
	return d, nil
}

// setShadowLocked turns the shadow copies to green on or off.
func (b *blueGreen) setShadowLocked(green string, on bool) error {
	return b.shadowSw.Set(b.cfg.Shadow, green, on, b.cfg.ShadowRate)
}
