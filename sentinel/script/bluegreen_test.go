package script_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/telemetry"
)

// shadowSwitch is the shadow control the strategies turn on and off; the
// simulated traffic copies blue's calls to green at its rate.
type shadowSwitch struct {
	mu        sync.Mutex
	candidate string
	rate      float64
	calls     []string
}

func (s *shadowSwitch) SetCandidate(v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.candidate = v
	s.calls = append(s.calls, "candidate "+v)
	return nil
}

func (s *shadowSwitch) SetRate(r float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = r
	s.calls = append(s.calls, fmt.Sprintf("rate %g", r))
	return nil
}

func (s *shadowSwitch) state() (float64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate, append([]string(nil), s.calls...)
}

type bgCase struct {
	name     string
	sc       sim.Scenario // a zero CallsPerSecond means empty windows
	seed     uint64
	warm     *warmup.Report
	shadow   bool
	mismatch float64 // green's mismatch rate in shadow comparisons
	opts     []sentinel.Option
	manual   func(ctx context.Context, s *sentinel.Sentinel, tick int)
	ticks    int
	want     sentinel.Phase
	// past judges green against blue's figures before the cut-over.
	past bool
	// silent: green gets no call from the cut-over on, as if it were down.
	silent bool
}

type warmupStrategy interface {
	sentinel.Strategy
	WarmupDone() <-chan struct{}
}

// runBlueGreen drives a blue/green strategy through the sentinel loop on
// the case's seeded traffic: green's share follows its weight, and while
// the shadow is on a share of blue's calls is compared on green.
func runBlueGreen(t *testing.T, c bgCase, make func(sentinel.BlueGreenConfig) warmupStrategy) ([]decisionRecord, []string, *rig) {
	t.Helper()
	sw := new(shadowSwitch)
	cfg := sentinel.BlueGreenConfig{
		Warmup:         func(context.Context, string) (*warmup.Report, error) { return c.warm, nil },
		RollbackWindow: 30 * time.Second, RollbackMinCalls: 200, MinBaselineCalls: 100,
		ShadowGrace: 10 * time.Second, ShadowMinComparisons: 100,
	}
	if c.shadow {
		cfg.Shadow = sw
	}
	cfg.CompareWithPast = c.past
	strategy := make(cfg)
	r := newRig(t, strategy, c.opts...)
	cmp := rand.New(rand.NewPCG(c.seed, 1)) // the shadow comparisons' draws
	d := simDrive{sc: c.sc, seed: c.seed, ticks: c.ticks, manual: c.manual}
	if c.silent {
		d.share = func() float64 { return 0 }
	}
	d.window, d.after =
		func(l judge.Look, w *telemetry.Window) {
			if rate, _ := sw.state(); rate > 0 {
				n := sim.Binomial(cmp, l.Baseline.Calls, rate)
				mm := sim.Binomial(cmp, n, c.mismatch)
				w.Versions["canary"].Shadow = map[string]int64{telemetry.ShadowMatch: n - mm, telemetry.ShadowMismatch: mm}
			}
		},
		func() {
			if done := strategy.WarmupDone(); done != nil {
				select { // the warm-up returns at once; wait for the strategy to have its report
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the warm-up did not finish")
				}
			}
		}
	out := d.run(t, r)
	_, calls := sw.state()
	return out, calls, r
}

func TestBlueGreenScriptDecidesAsBlueGreen(t *testing.T) {
	healthy := func() sim.Scenario {
		return sim.Scenario{Name: "healthy", CallsPerSecond: 200, Baseline: sim.Healthy, Candidate: sim.Healthy, Bounds: expBounds}
	}
	with := func(f func(*sim.Scenario)) sim.Scenario { sc := healthy(); f(&sc); return sc }
	passed := &warmup.Report{Version: "canary", Passed: true, Reason: "all 2 endpoints had 3 good calls in a row"}
	failed := &warmup.Report{Version: "canary", Passed: false, Reason: "1 of 2 endpoints timed out"}
	pauseAt := func(pause, resume int) func(context.Context, *sentinel.Sentinel, int) {
		return func(ctx context.Context, s *sentinel.Sentinel, tick int) {
			switch tick {
			case pause:
				require.NoError(t, s.Pause(ctx, "op", ""))
			case resume:
				require.NoError(t, s.Resume(ctx, "op", ""))
			}
		}
	}
	cases := []bgCase{
		{name: "healthy", sc: healthy(), seed: 1, warm: passed, want: sentinel.PhasePromoted},
		{name: "healthy", sc: healthy(), seed: 2, warm: passed, want: sentinel.PhasePromoted},
		{name: "green fails 5 %", sc: with(func(sc *sim.Scenario) { sc.Candidate.ErrorRate = 0.05 }), seed: 3, warm: passed, want: sentinel.PhaseRolledBack},
		{name: "green fails 5 %", sc: with(func(sc *sim.Scenario) { sc.Candidate.ErrorRate = 0.05 }), seed: 4, warm: passed, want: sentinel.PhaseRolledBack},
		{name: "green 3× slower", sc: with(func(sc *sim.Scenario) { sc.Candidate.LatencyMedian *= 3 }), seed: 5, warm: passed, want: sentinel.PhaseRolledBack},
		{name: "warm-up fails", sc: healthy(), seed: 6, warm: failed, want: sentinel.PhaseRolledBack},
		{name: "warm-up without a report", sc: healthy(), seed: 6, want: sentinel.PhaseRolledBack},
		{name: "shadow grace passes", sc: healthy(), seed: 7, warm: passed, shadow: true, mismatch: 0.001, want: sentinel.PhasePromoted},
		{name: "shadow mismatches", sc: healthy(), seed: 8, warm: passed, shadow: true, mismatch: 0.1, want: sentinel.PhaseRolledBack},
		{name: "no data", seed: 9, warm: passed, ticks: 60, want: sentinel.PhaseProgressing},
		{name: "paused in the window", sc: healthy(), seed: 10, warm: passed, manual: pauseAt(5, 60), want: sentinel.PhasePromoted},
		{name: "dry run", sc: healthy(), seed: 11, warm: passed, ticks: 80, opts: []sentinel.Option{sentinel.WithDryRun(true)}, want: sentinel.PhaseProgressing},
		{name: "green gets no call after the cut-over", sc: healthy(), seed: 12, warm: passed, silent: true, want: sentinel.PhaseRolledBack},
		{name: "healthy, judged against the past", sc: healthy(), seed: 13, warm: passed, past: true, want: sentinel.PhasePromoted},
		{name: "green fails 5 %, judged against the past", sc: with(func(sc *sim.Scenario) { sc.Candidate.ErrorRate = 0.05 }), seed: 14, warm: passed, past: true, want: sentinel.PhaseRolledBack},
		{name: "green 3× slower, judged against the past", sc: with(func(sc *sim.Scenario) { sc.Candidate.LatencyMedian *= 3 }), seed: 15, warm: passed, past: true, want: sentinel.PhaseRolledBack},
		{name: "shadow grace passes, judged against the past", sc: healthy(), seed: 16, warm: passed, shadow: true, mismatch: 0.001, past: true, want: sentinel.PhasePromoted},
	}
	for _, c := range cases {
		if c.ticks == 0 {
			c.ticks = 300
		}
		t.Run(fmt.Sprintf("%s/seed=%d", c.name, c.seed), func(t *testing.T) {
			want, wantShadow, gr := runBlueGreen(t, c, func(cfg sentinel.BlueGreenConfig) warmupStrategy {
				bg, err := sentinel.NewBlueGreen(cfg)
				require.NoError(t, err)
				return bg.(warmupStrategy) // the Go strategy's WarmupDone, as the script's
			})
			got, gotShadow, sr := runBlueGreen(t, c, func(cfg sentinel.BlueGreenConfig) warmupStrategy {
				s, err := script.BlueGreen(cfg, unhurried)
				require.NoError(t, err)
				return s
			})
			assertSameDecisions(t, "BlueGreen", want, got)
			assert.Equal(t, verdictTests(gr), verdictTests(sr), "the events carry the same verdicts")
			assert.Equal(t, wantShadow, gotShadow, "the shadow switch is turned on and off alike")
			assert.Equal(t, c.want, gr.s.Status().Phase)
			assert.Equal(t, c.want, sr.s.Status().Phase)
			if c.shadow {
				assert.NotEmpty(t, gotShadow)
			}
			var moves []sentinel.Action
			for _, d := range got {
				if d.Action != sentinel.ActionHold {
					moves = append(moves, d.Action)
				}
			}
			t.Logf("%d ticks, decisions %v, final %s: %s", len(got), moves, sr.s.Status().Phase, sr.s.Status().LastDecision.Reason)
		})
	}
}

// verdictTests lists each event's verdict: its outcome, test and reason.
func verdictTests(r *rig) []string {
	var out []string
	for _, e := range r.s.Status().Events {
		if e.Verdict != nil {
			out = append(out, fmt.Sprintf("%s %s %s: %s %q", e.Action, e.Verdict.Outcome, e.Verdict.Test, e.Verdict.Reason, fmt.Sprint(len(e.Verdict.Tests))))
		}
	}
	return out
}
