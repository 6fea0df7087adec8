package judge_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// These tests check by simulation that each test's false-failure rate
// stays at or under its α over a whole rollout of many looks, with a
// generous α (0.2) so that a hundred runs measure it: a test whose
// e-process were not a supermartingale (a wrong normaliser, a plug-in
// estimate, a sign error) would fail far more often. Each also checks that
// the same test does catch a bad candidate, so that the bound is not met
// by never failing. `go test -long` runs them with 1,000 runs.

var long = flag.Bool("long", false, "run the judge's simulations with 1,000 runs instead of 120")

const simAlpha = 0.2

// simRuns is the number of seeded rollouts of each simulation.
func simRuns() int {
	if *long {
		return 1000
	}
	return 120
}

// maxRate is α plus three standard errors of a rate measured on simRuns.
func maxRate() float64 {
	return simAlpha + 3*math.Sqrt(simAlpha*(1-simAlpha)/float64(simRuns()))
}

// shortCanary is a rollout of 1 %, 5 %, 25 % and 50 % steps of a minute
// each at 1,000 calls/s: 240 looks with the candidate's share changing.
func shortCanary(name string, candidate sim.Version) sim.Scenario {
	return sim.Scenario{
		Name: name, CallsPerSecond: 1000, Bounds: sim.RPCBounds,
		Steps:    []sim.Step{{Share: 0.01, Seconds: 60}, {Share: 0.05, Seconds: 60}, {Share: 0.25, Seconds: 60}, {Share: 0.5, Seconds: 60}},
		Baseline: sim.Healthy, Candidate: candidate,
	}
}

type errorPolicy struct{ t *judge.ErrorTest }

func (p errorPolicy) Observe(t sim.Tick) bool {
	c, b := t.Look.Candidate, t.Look.Baseline
	_ = p.t.Observe(c.Calls, c.Errors, b.Calls, b.Errors)
	return p.t.Failed()
}

type latencyPolicy struct{ t *judge.LatencyTest }

func (p latencyPolicy) Observe(t sim.Tick) bool {
	_ = p.t.Observe(t.Look.Candidate.Latency, t.Look.Baseline.Latency)
	return p.t.Failed()
}

func rollbackRate(t *testing.T, sc sim.Scenario, f sim.Factory) float64 {
	t.Helper()
	res, err := sim.Run(sc, 42, simRuns(), f)
	require.NoError(t, err)
	s := sim.Summarize(res[0])
	rate := float64(s.Rollbacks) / float64(s.Runs)
	t.Logf("%s: %d of %d runs failed (%.1f %%)", sc.Name, s.Rollbacks, s.Runs, 100*rate)
	return rate
}

func errorTests(alpha float64, cfg judge.ErrorConfig, r ...judge.Restarts) sim.Factory {
	return func() (sim.Policy, error) {
		et, err := judge.NewErrorTest(alpha, cfg, r...)
		return errorPolicy{et}, err
	}
}

func TestErrorTestControlsAlphaBySimulation(t *testing.T) {
	f := errorTests(simAlpha, judge.ErrorConfig{})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A", sim.Healthy), f), maxRate(), "A/A false failures")
	// A restart horizon shorter than the rollout: the bound holds past it.
	short := errorTests(simAlpha, judge.ErrorConfig{}, judge.Restarts{Looks: 60})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A, 60 restarts", sim.Healthy), short), maxRate(), "A/A false failures")
	// The same error odds on a rate that jumps for both: still A/A.
	outage := shortCanary("shared outage", sim.Healthy)
	both := sim.Healthy
	both.ErrorRate = 0.3
	outage.Incidents = []sim.Incident{{From: 100, To: 200, Baseline: both, Candidate: both}}
	assert.LessOrEqual(t, rollbackRate(t, outage, f), maxRate(), "shared-outage false failures")

	worse := sim.Healthy
	worse.ErrorRate = 0.015
	assert.GreaterOrEqual(t, rollbackRate(t, shortCanary("3× errors", worse), f), 0.9, "a candidate with 3× the errors")
}

// floorPolicy rolls back when the errors test's floor part alone reaches
// its threshold, whatever the odds part says.
type floorPolicy struct{ t *judge.ErrorTest }

func (p floorPolicy) Observe(t sim.Tick) bool {
	errorPolicy(p).Observe(t)
	return p.t.Verdict().Evidence.FloorAtLook > 0
}

// At the floor's boundary, a candidate rate of (1+RelativeFloor)·baseline
// + Floor, the floor part alone reaches its threshold in at most α of the
// rollouts, whatever the baseline's rate; so does the errors test, whose
// odds part sees higher odds there.
func TestErrorFloorControlsAlphaAtItsBoundaryBySimulation(t *testing.T) {
	for _, c := range []struct {
		base, cand float64
		cfg        judge.ErrorConfig
	}{
		{0, 0.001, judge.ErrorConfig{}},
		{0.01, 0.016, judge.ErrorConfig{RelativeFloor: 0.5}},
	} {
		sc := shortCanary(fmt.Sprintf("errors %v → %v, RelativeFloor %v", c.base, c.cand, c.cfg.RelativeFloor), sim.Healthy)
		sc.Baseline.ErrorRate, sc.Candidate.ErrorRate = c.base, c.cand
		floor := func() (sim.Policy, error) {
			et, err := judge.NewErrorTest(simAlpha, c.cfg)
			return floorPolicy{et}, err
		}
		assert.LessOrEqual(t, rollbackRate(t, sc, floor), maxRate(), "floor part, %s", sc.Name)
		if c.base == 0 {
			assert.LessOrEqual(t, rollbackRate(t, sc, errorTests(simAlpha, c.cfg)), maxRate(), "errors test, %s", sc.Name)
		}
	}
	worse := shortCanary("errors 0.5 % → 2 %", sim.Healthy)
	worse.Candidate.ErrorRate = 0.02
	assert.GreaterOrEqual(t, rollbackRate(t, worse, errorTests(simAlpha, judge.ErrorConfig{})), 0.9, "beyond the floor")
}

func latencyTests(alpha float64, cfg judge.LatencyConfig) sim.Factory {
	return func() (sim.Policy, error) {
		lt, err := judge.NewLatencyTest(alpha, cfg)
		return latencyPolicy{lt}, err
	}
}

func TestLatencyTestControlsAlphaBySimulation(t *testing.T) {
	f := latencyTests(simAlpha, judge.LatencyConfig{})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A", sim.Healthy), f), maxRate(), "A/A false failures")
	// At the tolerance: 10 % slower everywhere (at 20 ms, more than 1 ms).
	atTolerance := sim.Healthy
	atTolerance.LatencyMedian *= 1.1
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("10 % slower", atTolerance), f), maxRate(), "at the tolerance")
	slower := sim.Healthy
	slower.LatencyMedian *= 2
	assert.GreaterOrEqual(t, rollbackRate(t, shortCanary("2× slower", slower), f), 0.9, "a candidate 2× slower")
	strict := latencyTests(simAlpha, judge.LatencyConfig{Strict: true})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A, strict", sim.Healthy), strict), maxRate(), "A/A false failures, strict")
}

// The tail test alone (TailWeight 1) keeps its α with the candidate as
// the baseline and at the tolerance, and catches a regression in the tail
// only.
func TestTailTestControlsAlphaBySimulation(t *testing.T) {
	f := latencyTests(simAlpha, judge.LatencyConfig{TailWeight: 1})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A", sim.Healthy), f), maxRate(), "A/A false failures")
	atTolerance := sim.Healthy
	atTolerance.LatencyMedian *= 1.1
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("10 % slower", atTolerance), f), maxRate(), "at the tolerance")
	strict := latencyTests(simAlpha, judge.LatencyConfig{TailWeight: 1, Strict: true, Quantiles: []float64{0.5, 0.9, 0.99}})
	assert.LessOrEqual(t, rollbackRate(t, shortCanary("A/A, strict", sim.Healthy), strict), maxRate(), "A/A false failures, strict")
	tail := sim.Healthy
	tail.TailShare, tail.TailDelay = 0.03, 0.5
	assert.GreaterOrEqual(t, rollbackRate(t, shortCanary("3 % of calls +500 ms", tail), f), 0.9, "a regression in the tail")
}

func TestRateTestControlsAlphaBySimulation(t *testing.T) {
	const looks, perLook = 240, 100
	fails := func(rate float64) float64 {
		var n int
		for run := range simRuns() {
			r := rand.New(rand.NewPCG(7, uint64(run)))
			st, err := judge.NewRateTest(simAlpha, judge.RateConfig{})
			require.NoError(t, err)
			for range looks {
				require.NoError(t, st.Observe(perLook, sim.Binomial(r, perLook, rate)))
			}
			if st.Failed() {
				n++
			}
		}
		t.Logf("mismatch rate %v: %d of %d runs failed", rate, n, simRuns())
		return float64(n) / float64(simRuns())
	}
	assert.LessOrEqual(t, fails(0.01), maxRate(), "mismatches exactly at the 1 % tolerance")
	assert.GreaterOrEqual(t, fails(0.02), 0.9, "mismatches at twice the tolerance")
}

// The shadow test's paired errors keep their α through an outage both
// versions share (30 % of the calls failing on either side for 30 looks),
// and catch a candidate that fails 5 % of its copies where the primaries
// fail 0.5 %.
func TestShadowPairedErrorsControlAlphaBySimulation(t *testing.T) {
	cfg := judge.Config{Alpha: simAlpha, EnableShadow: true, DisableLatency: true, Shares: judge.Shares{Errors: 1e-6, Shadow: 1}}
	pairedAlpha := simAlpha / 2
	bound := pairedAlpha + 3*math.Sqrt(pairedAlpha*(1-pairedAlpha)/float64(simRuns()))
	fails := func(candidate func(look int) float64) float64 {
		var n int
		for run := range simRuns() {
			r := rand.New(rand.NewPCG(11, uint64(run)))
			j, err := judge.New(cfg)
			require.NoError(t, err)
			for look := range 240 {
				require.NoError(t, j.Observe(pairedLook(r, 100, sharedOutage(look), candidate(look))))
			}
			if v := j.Verdict(); v.Outcome == judge.Fail && v.Test == judge.TestShadow && v.Evidence.Part == "errors" {
				n++
			}
		}
		t.Logf("%d of %d runs failed on the copies' errors", n, simRuns())
		return float64(n) / float64(simRuns())
	}
	assert.LessOrEqual(t, fails(sharedOutage), bound, "A/A through a shared outage")
	assert.GreaterOrEqual(t, fails(func(int) float64 { return 0.05 }), 0.9, "a candidate failing 5 % of its copies")
}

// sharedOutage is a failure rate of 0.5 %, 30 % in looks 100 to 129.
func sharedOutage(look int) float64 {
	if look >= 100 && look < 130 {
		return 0.3
	}
	return 0.005
}

// pairedLook is a look of n copies, each primary failing at rate p and
// each copy at rate c, independently; the primaries' own calls are clean.
func pairedLook(r *rand.Rand, n int, p, c float64) judge.Look {
	var sh judge.ShadowFigures
	for range n {
		pf, cf := r.Float64() < p, r.Float64() < c
		switch {
		case cf && !pf:
			sh.Errors++
		case pf && !cf:
			sh.PrimaryErrors++
		case !pf:
			sh.Comparisons++
		}
	}
	return judge.Look{Candidate: judge.Figures{Calls: 10}, Baseline: judge.Figures{Calls: 90}, Shadow: sh}
}

// The latency test keeps its α when a version's calls of a look are slowed
// together, as a pause of its process slows them (each version, in a tenth
// of the looks, has 30 % of its calls pushed to 0.3 s; untempered, every
// run fails), and still catches most candidates twice as slow through the
// same pauses within the 4 minutes: each look's factors are tempered by
// the clustering measured on the baseline.
func TestLatencyTestKeepsItsBoundOnClusteredCallsBySimulation(t *testing.T) {
	fails := func(name string, candidate sim.Version) float64 {
		sc := shortCanary(name, sim.Healthy)
		sc.Candidate = candidate
		var n int
		for run := range simRuns() {
			lt, err := judge.NewLatencyTest(simAlpha, judge.LatencyConfig{})
			require.NoError(t, err)
			tr, err := sim.NewTraffic(sc, 42, uint64(run))
			require.NoError(t, err)
			r := rand.New(rand.NewPCG(3, uint64(run)))
			for look := range 240 {
				l, err := tr.Next([]float64{0.01, 0.05, 0.25, 0.5}[look/60])
				require.NoError(t, err)
				for _, h := range []judge.Buckets{l.Candidate.Latency, l.Baseline.Latency} {
					if r.Float64() < 0.1 {
						stall(h, 0.3)
					}
				}
				require.NoError(t, lt.Observe(l.Candidate.Latency, l.Baseline.Latency))
			}
			if lt.Failed() {
				n++
			}
		}
		t.Logf("%s: %d of %d runs failed", name, n, simRuns())
		return float64(n) / float64(simRuns())
	}
	assert.LessOrEqual(t, fails("A/A with pauses", sim.Healthy), maxRate(), "A/A false failures")
	slower := sim.Healthy
	slower.LatencyMedian *= 2
	assert.GreaterOrEqual(t, fails("2× slower with pauses", slower), 0.6, "a candidate 2× slower")
}

// stall slows a share of a look's calls together: that share of each
// bucket below 0.3 s moves up to the bucket of 0.3 s.
func stall(h judge.Buckets, share float64) {
	to := sort.SearchFloat64s(h.Bounds, 0.3)
	var moved uint64
	for i := 0; i < to && i < len(h.Counts); i++ {
		m := uint64(share * float64(h.Counts[i]))
		h.Counts[i] -= m
		moved += m
	}
	if to < len(h.Counts) {
		h.Counts[to] += moved
	}
}

// The errors test keeps its α when a version's errors come in bursts, as
// calls time out together while its process is paused (each version, in
// one look of 20, fails a tenth of its calls), and still catches a
// candidate with 3× the errors through the same bursts.
func TestErrorTestKeepsItsBoundOnClusteredErrorsBySimulation(t *testing.T) {
	fails := func(name string, candidate sim.Version) float64 {
		sc := shortCanary(name, sim.Healthy)
		sc.Candidate = candidate
		var n int
		for run := range simRuns() {
			et, err := judge.NewErrorTest(simAlpha, judge.ErrorConfig{})
			require.NoError(t, err)
			tr, err := sim.NewTraffic(sc, 42, uint64(run))
			require.NoError(t, err)
			r := rand.New(rand.NewPCG(5, uint64(run)))
			for look := range 240 {
				l, err := tr.Next([]float64{0.01, 0.05, 0.25, 0.5}[look/60])
				require.NoError(t, err)
				for _, f := range []*judge.Figures{&l.Candidate, &l.Baseline} {
					if r.Float64() < 0.05 {
						f.Errors = min(f.Calls, f.Errors+f.Calls/10)
					}
				}
				require.NoError(t, et.Observe(l.Candidate.Calls, l.Candidate.Errors, l.Baseline.Calls, l.Baseline.Errors))
			}
			if et.Failed() {
				n++
			}
		}
		t.Logf("%s: %d of %d runs failed", name, n, simRuns())
		return float64(n) / float64(simRuns())
	}
	assert.LessOrEqual(t, fails("A/A with bursts", sim.Healthy), maxRate(), "A/A false failures")
	worse := sim.Healthy
	worse.ErrorRate *= 3
	assert.GreaterOrEqual(t, fails("3× errors with bursts", worse), 0.9, "a candidate with 3× the errors")
}

// A baseline left a tenth of the calls with rare, independent errors (a
// blue/green's blue after the cut-over: two looks of 200 calls, then 20 a
// look, 0.5 % errors) is not read as clustered: its errors' rate is not
// taken on a handful of them, so the errors test keeps its power and
// catches a green with 10× the errors within the 30 looks of its window.
func TestErrorTestSeesNoClusteringInRareIndependentErrorsBySimulation(t *testing.T) {
	var rho float64
	caught := 0
	for run := range simRuns() {
		et, err := judge.NewErrorTest(0.005, judge.ErrorConfig{})
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(11, uint64(run)))
		for look := range 32 {
			base, cand := int64(20), int64(180)
			if look < 2 {
				base, cand = 200, 0
			}
			require.NoError(t, et.Observe(cand, sim.Binomial(r, cand, 0.05), base, sim.Binomial(r, base, 0.005)))
		}
		ev := et.Verdict().Evidence
		require.Len(t, ev.Clustering, 1)
		rho += ev.Clustering[0]
		if et.Failed() {
			caught++
		}
	}
	rho /= float64(simRuns())
	t.Logf("mean clustering %.4f; caught %d of %d", rho, caught, simRuns())
	assert.Less(t, rho, 0.01, "the mean clustering estimated on independent errors")
	assert.GreaterOrEqual(t, float64(caught)/float64(simRuns()), 0.95, "greens with 10× the errors caught")
}

// A sentinel given WithInterval(250 ms) looks four times a second: the
// same rollouts cut into quarter-second looks of a quarter of the calls keep every test's
// bound, as anytime-valid tests should however often they look (the tail
// thresholds and the clustering, learned from earlier looks, are fixed
// before each), and still catch a bad candidate.
func TestTestsKeepTheirBoundAtFourLooksASecondBySimulation(t *testing.T) {
	quarter := func(name string, candidate sim.Version) sim.Scenario {
		sc := shortCanary(name+", 4 looks a second", candidate)
		sc.LooksPerSecond = 4
		return sc
	}
	atTolerance := sim.Healthy
	atTolerance.LatencyMedian *= 1.1
	for name, f := range map[string]sim.Factory{
		"errors":  errorTests(simAlpha, judge.ErrorConfig{}),
		"latency": latencyTests(simAlpha, judge.LatencyConfig{}),
		"tail":    latencyTests(simAlpha, judge.LatencyConfig{TailWeight: 1}),
	} {
		assert.LessOrEqual(t, rollbackRate(t, quarter(name+" A/A", sim.Healthy), f), maxRate(), "%s: A/A false failures", name)
		if name != "errors" {
			assert.LessOrEqual(t, rollbackRate(t, quarter(name+" 10 % slower", atTolerance), f), maxRate(), "%s: at the tolerance", name)
		}
	}
	worse := sim.Healthy
	worse.ErrorRate = 0.015
	assert.GreaterOrEqual(t, rollbackRate(t, quarter("3× errors", worse), errorTests(simAlpha, judge.ErrorConfig{})), 0.9, "a candidate with 3× the errors")
	slower := sim.Healthy
	slower.LatencyMedian *= 2
	assert.GreaterOrEqual(t, rollbackRate(t, quarter("2× slower", slower), latencyTests(simAlpha, judge.LatencyConfig{})), 0.9, "a candidate 2× slower")
}
