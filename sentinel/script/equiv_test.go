package script_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The simulator draws latencies into explicit buckets; these are the
// buckets of an exponential histogram at scale 2 (base 2^¼) from about 1 ms
// to 16 s, so that each maps onto one bucket of telemetry's histograms.
const (
	expScale = 2
	expLo    = -40 // 2^(-40/4) ≈ 0.98 ms
	expHi    = 16  // 2^(16/4) = 16 s
)

var expBounds = func() []float64 {
	b := make([]float64, expHi-expLo)
	for j := range b {
		b[j] = math.Exp2(float64(expLo+j+1) / 4)
	}
	return b
}()

// expHistogram turns the simulator's counts over expBounds (and +Inf) into
// telemetry's histogram: explicit bucket j is exponential bucket expLo+j.
func expHistogram(counts []uint64) telemetry.Histogram {
	h := telemetry.Histogram{Scale: expScale, Offset: expLo, Counts: append([]uint64(nil), counts...)}
	first, last := -1, -1
	for j, c := range counts {
		if c == 0 {
			continue
		}
		if first < 0 {
			first = j
		}
		last = j
		h.Count += c
		h.Sum += float64(c) * math.Exp2((float64(expLo+j)+0.5)/4)
	}
	if h.Count == 0 {
		return telemetry.Histogram{}
	}
	h.Min = math.Exp2(float64(expLo+first) / 4)
	h.Max = math.Exp2(float64(expLo+last+1) / 4)
	return h
}

// simWindow renders one simulated second as the sentinel's window.
func simWindow(l judge.Look) *telemetry.Window {
	role := func(f judge.Figures) *telemetry.VersionStats {
		return &telemetry.VersionStats{Roles: map[balancer.Role]*telemetry.RoleStats{
			balancer.RolePrimary: {Calls: f.Calls, Errors: f.Errors, Latency: expHistogram(f.Latency.Counts)},
		}}
	}
	return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		"stable": role(l.Baseline),
		"canary": role(l.Candidate),
	}}
}

// decisionRecord is what a tick decided, as the comparison sees it. Holds
// differ in wording between the two (Go's durations print as "1m0s"), so
// their reasons are left out; every other decision's reason is compared.
type decisionRecord struct {
	Tick     int
	Action   sentinel.Action
	Phase    sentinel.Phase
	Step     int
	StepName string
	Weight   int
	Alert    bool
	Reason   string
}

func (d decisionRecord) String() string {
	return fmt.Sprintf("%d %s→%s step %d %q at %d bp (alert %t): %s", d.Tick, d.Action, d.Phase, d.Step, d.StepName, d.Weight, d.Alert, d.Reason)
}

// simDrive drives a rig's sentinel on seeded traffic, tick by tick, for up
// to ticks ticks or until its phase is final.
type simDrive struct {
	sc     sim.Scenario // a zero CallsPerSecond means empty windows
	seed   uint64
	ticks  int
	manual func(ctx context.Context, s *sentinel.Sentinel, tick int)
	// share is the candidate's share of the traffic; nil follows its
	// weight.
	share func() float64
	// window, when set, adds to each tick's window.
	window func(l judge.Look, w *telemetry.Window)
	// after, when set, runs after each tick.
	after func()
}

// run returns every tick's decision.
func (d simDrive) run(t *testing.T, r *rig) []decisionRecord {
	t.Helper()
	var traffic *sim.Traffic
	if d.sc.CallsPerSecond > 0 {
		var err error
		traffic, err = sim.NewTraffic(d.sc, d.seed, 0)
		require.NoError(t, err)
	}
	ctx := context.Background()
	var out []decisionRecord
	for i := 0; i < d.ticks && !r.s.Status().Phase.Final(); i++ {
		if d.manual != nil {
			d.manual(ctx, r.s, i)
		}
		w := &telemetry.Window{}
		if traffic != nil {
			share := float64(r.split.Weight("canary")) / balancer.TotalWeight
			if d.share != nil {
				share = d.share()
			}
			l, err := traffic.Next(share)
			require.NoError(t, err)
			w = simWindow(l)
			if d.window != nil {
				d.window(l, w)
			}
		}
		e := r.tick(w)
		rec := decisionRecord{Tick: i, Action: e.Action, Phase: e.Phase, Step: e.Step, StepName: e.StepName,
			Weight: r.split.Weight("canary"), Alert: e.Alert}
		if e.Action != sentinel.ActionHold {
			rec.Reason = e.Reason
		}
		out = append(out, rec)
		if d.after != nil {
			d.after()
		}
	}
	return out
}

// assertSameDecisions asserts that the script decided as the Go strategy
// did, and logs the first tick where they part.
func assertSameDecisions(t *testing.T, strategy string, want, got []decisionRecord) {
	t.Helper()
	if assert.Equal(t, want, got, "the script's decisions differ from %s's", strategy) {
		return
	}
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			t.Logf("first difference at tick %d:\n  %s: %v\n  script: %v", i, strategy, want[i], got[i])
			return
		}
	}
}

type equivCase struct {
	name string
	// sc gives the traffic; a zero CallsPerSecond means empty windows.
	sc    sim.Scenario
	seed  uint64
	ticks int
	// share, when ≥ 0, is the candidate's share of the traffic whatever
	// its weight (a dry run moves no weight; -1 follows the weights).
	share  float64
	opts   []sentinel.Option
	manual func(ctx context.Context, s *sentinel.Sentinel, tick int)
	want   sentinel.Phase
	// test names the judge's failing test on a rollback.
	test string
	// decidedBy names the test of the final event's verdict.
	decidedBy string
}

// runEquiv drives a strategy through the sentinel loop on the case's
// seeded traffic and returns every tick's decision.
func runEquiv(t *testing.T, c equivCase, strategy sentinel.Strategy) ([]decisionRecord, *rig) {
	t.Helper()
	r := newRig(t, strategy, c.opts...)
	d := simDrive{sc: c.sc, seed: c.seed, ticks: c.ticks, manual: c.manual}
	if c.share >= 0 {
		d.share = func() float64 { return c.share }
	}
	return d.run(t, r), r
}

func TestCanaryScriptDecidesAsCanary(t *testing.T) {
	cfg := sentinel.CanaryConfig{MinStepDuration: 20 * time.Second, MinStepCalls: 200}
	healthy := func(name string) sim.Scenario {
		return sim.Scenario{Name: name, CallsPerSecond: 1000, Baseline: sim.Healthy, Candidate: sim.Healthy, Bounds: expBounds}
	}
	with := func(sc sim.Scenario, f func(*sim.Scenario)) sim.Scenario { f(&sc); return sc }
	errs := with(healthy("errors 0.5 % → 5 %"), func(sc *sim.Scenario) { sc.Candidate.ErrorRate = 0.05 })
	slow := with(healthy("latency 2×"), func(sc *sim.Scenario) { sc.Candidate.LatencyMedian *= 2 })
	outage := with(healthy("shared outage"), func(sc *sim.Scenario) {
		bad := sim.Healthy
		bad.ErrorRate = 0.2
		sc.Incidents = []sim.Incident{{From: 30, To: 60, Baseline: bad, Candidate: bad}}
	})
	pauseAt := func(pause, resume int) func(context.Context, *sentinel.Sentinel, int) {
		return func(ctx context.Context, s *sentinel.Sentinel, tick int) {
			switch tick {
			case pause:
				require.NoError(t, s.Pause(ctx, "op", "a look at the dashboards"))
			case resume:
				require.NoError(t, s.Resume(ctx, "op", ""))
			}
		}
	}
	var cases []equivCase
	for seed := uint64(1); seed <= 3; seed++ {
		cases = append(cases,
			equivCase{name: "healthy", sc: healthy("healthy"), seed: seed, want: sentinel.PhasePromoted},
			equivCase{name: "error regression", sc: errs, seed: seed, want: sentinel.PhaseRolledBack, test: judge.TestErrors},
		)
	}
	for seed := uint64(1); seed <= 2; seed++ {
		cases = append(cases, equivCase{name: "latency regression", sc: slow, seed: seed, want: sentinel.PhaseRolledBack, test: judge.TestLatency})
	}
	cases = append(cases,
		equivCase{name: "shared outage", sc: outage, seed: 4, want: sentinel.PhasePromoted},
		equivCase{name: "no data", ticks: 150, want: sentinel.PhaseProgressing},
		// The weight would give the candidate calls, but it gets none: down,
		// and after ServingConfig.RollbackAfter rolled back as unavailable.
		equivCase{name: "candidate gets no call", sc: healthy("silent"), seed: 5, ticks: 150, share: 0, want: sentinel.PhaseRolledBack, decidedBy: judge.TestAvailability},
		equivCase{name: "paused and resumed", sc: healthy("paused"), seed: 6, manual: pauseAt(30, 90), want: sentinel.PhasePromoted},
		equivCase{name: "error regression while paused", sc: errs, seed: 7, manual: pauseAt(3, 1000), want: sentinel.PhaseRolledBack, test: judge.TestErrors},
		equivCase{name: "dry run", sc: healthy("dry"), seed: 8, share: 0.1, opts: []sentinel.Option{sentinel.WithDryRun(true)}, want: sentinel.PhasePromoted},
	)
	for _, c := range cases {
		if c.ticks == 0 {
			c.ticks = 600
		}
		if c.share == 0 && c.name != "candidate gets no call" {
			c.share = -1
		}
		t.Run(fmt.Sprintf("%s/seed=%d", c.name, c.seed), func(t *testing.T) {
			goCanary, err := sentinel.NewCanary(cfg)
			require.NoError(t, err)
			starCanary, err := script.Canary(cfg, unhurried)
			require.NoError(t, err)
			want, gr := runEquiv(t, c, goCanary)
			got, sr := runEquiv(t, c, starCanary)
			assertSameDecisions(t, "Canary", want, got)

			// The case did what it is about, so the comparison covers it.
			assert.Equal(t, c.want, gr.s.Status().Phase)
			assert.Equal(t, c.want, sr.s.Status().Phase)
			var moves int
			for _, d := range want {
				if d.Action != sentinel.ActionHold {
					moves++
				}
			}
			assert.Positive(t, moves)
			st := sr.s.Status()
			assert.Equal(t, "canary.star", st.Strategy)
			if c.test != "" {
				assert.Equal(t, c.test, st.Verdict.Test)
			}
			if c.decidedBy != "" {
				for _, r := range []*rig{gr, sr} {
					last := r.s.Status().Events
					require.NotEmpty(t, last)
					require.NotNil(t, last[len(last)-1].Verdict)
					assert.Equal(t, c.decidedBy, last[len(last)-1].Verdict.Test)
					assert.Equal(t, judge.Inconclusive, last[len(last)-1].Verdict.Outcome, "not a statistical fail")
				}
			}
			if c.want == sentinel.PhasePromoted {
				var weights []int
				for _, d := range got {
					if d.Action == sentinel.ActionStart || d.Action == sentinel.ActionAdvance {
						weights = append(weights, d.Weight)
					}
				}
				if c.opts == nil {
					assert.Equal(t, []int{100, 500, 2500, 5000}, weights, "every step of the canary")
				}
			}
			t.Logf("%d ticks, %d decisions other than hold, final %s", len(got), moves, sr.s.Status().Phase)
		})
	}
}
