package judge_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// These tests run the default judge on the simulation's standard
// scenarios (latency on the sentinel's grid), with few enough runs to stay
// quick under -race; the simulate command runs thousands.

const powerRuns = 30

func standard(t *testing.T, prefix string) sim.Scenario {
	t.Helper()
	for _, sc := range sim.Scenarios() {
		if strings.HasPrefix(sc.Name, prefix) {
			return sc
		}
	}
	t.Fatalf("no scenario %q", prefix)
	return sim.Scenario{}
}

func judged(t *testing.T, sc sim.Scenario, cfg judge.Config) sim.Summary {
	t.Helper()
	return judgedRuns(t, sc, cfg, powerRuns)
}

func judgedRuns(t *testing.T, sc sim.Scenario, cfg judge.Config, runs int) sim.Summary {
	t.Helper()
	res, err := sim.Run(sc, 11, runs, sim.JudgeFactory(cfg))
	require.NoError(t, err)
	s := sim.SummarizeScenario(sc, res[0])
	t.Logf("%s: %d of %d rolled back, median %v / p90 %v candidate calls, %v", sc.Name, s.Rollbacks, s.Runs, s.Median, s.P90, s.Why)
	return s
}

// A regression in the tail alone (3 % of the calls 500 ms slower, the
// median unchanged) is rolled back, by a tail part, well within 3,000
// candidate calls. At a 1 % share the default leaves the tail untested
// but in the rare looks where the candidate's calls reach 3 %
// (LatencyConfig.TailMinShare: a candidate that small runs colder than the
// baseline); tested in every look, the tail test finds it as fast.
func TestTailOnlyRegressionIsCaught(t *testing.T) {
	everyLook := judge.Config{Latency: judge.LatencyConfig{TailMinShare: -1}}
	for _, c := range []struct {
		prefix string
		cfg    judge.Config
	}{
		{"tail-only: 3 % of calls +500 ms, 10 %", judge.Config{}},
		{"tail-only: 3 % of calls +500 ms, 1 % of 200", everyLook},
	} {
		s := judged(t, standard(t, c.prefix), c.cfg)
		assert.Equal(t, powerRuns, s.Rollbacks, c.prefix)
		assert.LessOrEqual(t, s.Median, 3000.0, c.prefix)
		assert.Equal(t, powerRuns, tailVerdicts(s), c.prefix)
	}
	small := judged(t, standard(t, "tail-only: 3 % of calls +500 ms, 1 % of 200"), judge.Config{})
	assert.Zero(t, small.Why["latency p95"]+small.Why["latency p99"], "no p95 or p99 verdict at a 1 % share by default")
	assert.Less(t, tailVerdicts(small), powerRuns/3, "few tail verdicts at a 1 % share by default")
}

// tailVerdicts counts the runs rolled back by a part of the tail test.
func tailVerdicts(s sim.Summary) int {
	return s.Why["latency p95"] + s.Why["latency p99"] + s.Why["latency p99.9"]
}

// A candidate on a cold connection, 26 µs slower at a 0.17 ms median
// (15 %), is never failed on latency: the 1 ms absolute tolerance covers
// it. The difference is there to be found: a strict test finds it.
func TestColdConnectionNeverFails(t *testing.T) {
	sc := standard(t, "A/A cold connection: candidate p50 0.195 ms vs 0.169 ms, canary steps")
	generous := judge.Config{Alpha: 0.2}
	s := judgedRuns(t, sc, generous, 20)
	assert.Zero(t, s.Why["latency centre"]+tailVerdicts(s), "no latency rollback, even at α = 20 %")

	strict := generous
	strict.Latency.Strict = true
	assert.Greater(t, judgedRuns(t, sc, strict, 10).Rollbacks, 5, "a strict test sees the 26 µs")
}

// A regression that starts after 150 s of a healthy rollout is caught
// within twice the candidate calls one present from the start needs; the
// restarts are what make it so.
func TestLateBreakIsCaughtAboutAsFastAsAFreshOne(t *testing.T) {
	for _, c := range []struct{ fresh, late string }{
		{"errors 0.5 % → 5 %, 10 % share", "late break: errors"},
		{"latency median 1.5×, 10 % share", "late break: latency"},
		{"tail-only: 3 % of calls +500 ms, 10 %", "late break: tail-only"},
	} {
		fresh := judged(t, standard(t, c.fresh), judge.Config{})
		late := judged(t, standard(t, c.late), judge.Config{})
		require.Equal(t, powerRuns, fresh.Rollbacks, c.fresh)
		require.Equal(t, powerRuns, late.Rollbacks, c.late)
		assert.LessOrEqual(t, late.Median, 2*fresh.Median, "%s: %v from the break vs %v", c.late, late.Median, fresh.Median)
	}
	// Without restarts the evidence gathered while healthy holds the late
	// break back.
	none := judged(t, standard(t, "late break: errors"), judge.Config{Restarts: judge.Restarts{Start: 1}})
	fresh := judged(t, standard(t, "errors 0.5 % → 5 %, 10 % share"), judge.Config{Restarts: judge.Restarts{Start: 1}})
	assert.Greater(t, none.Median, 2*fresh.Median, "no restarts: late %v vs fresh %v", none.Median, fresh.Median)
}

// A pause of one second in which a fifth of the calls take 500 ms more:
// shared by both versions (a busy machine) it rolls nothing back, with
// the p99.9 watched or not; on the candidate alone (its process paused,
// the baseline's not) the tail test rolls it back, the p99 did so before
// the p99.9 was watched, and the p99.9 adds no rollback to it.
func TestAOneSecondPauseIsJudgedAsThePauseFalls(t *testing.T) {
	pause := sim.Healthy
	pause.TailShare, pause.TailDelay = 0.2, 0.5
	withoutP999 := judge.Config{Latency: judge.LatencyConfig{Quantiles: []float64{0.95, 0.99}}}
	for _, c := range []struct {
		name                string
		baseline, candidate sim.Version
		want                int
	}{
		{"shared pause", pause, pause, 0},
		{"the candidate's pause", sim.Healthy, pause, 20},
	} {
		sc := sim.Scenario{Name: c.name, Steps: sim.CanarySteps, CallsPerSecond: 1000, Bounds: sim.GridBounds,
			Baseline: sim.Healthy, Candidate: sim.Healthy,
			Incidents: []sim.Incident{{From: 400, To: 401, Baseline: c.baseline, Candidate: c.candidate}}}
		now := judgedRuns(t, sc, judge.Config{}, 20)
		before := judgedRuns(t, sc, withoutP999, 20)
		assert.Equal(t, c.want, now.Rollbacks, c.name)
		assert.Equal(t, c.want, before.Rollbacks, c.name+", p95 and p99 only")
		if c.want > 0 {
			assert.Equal(t, c.want, tailVerdicts(now), "%s: %v", c.name, now.Why)
		}
	}
}
