package judge_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// runUntilFail feeds a judge of cfg the scenario's traffic at share until
// it fails (or maxLooks), and returns its verdict and the look it failed.
func runUntilFail(t *testing.T, sc sim.Scenario, cfg judge.Config, share float64, maxLooks int) (judge.Verdict, int) {
	t.Helper()
	j, err := judge.New(cfg)
	require.NoError(t, err)
	tr, err := sim.NewTraffic(sc, 5, 0)
	require.NoError(t, err)
	for look := 1; look <= maxLooks; look++ {
		l, err := tr.Next(share)
		require.NoError(t, err)
		require.NoError(t, j.Observe(l))
		if j.Failed() {
			return j.Verdict(), look
		}
	}
	t.Fatalf("%s: no failure in %d looks", sc.Name, maxLooks)
	return judge.Verdict{}, 0
}

func TestTailFailureCarriesItsEvidence(t *testing.T) {
	sc := standard(t, "tail-only: 3 % of calls +500 ms, 10 %")
	v, look := runUntilFail(t, sc, judge.Config{}, 0.1, 100)
	require.Equal(t, judge.TestLatency, v.Test)
	ev := v.Evidence
	require.Contains(t, []string{"p95", "p99"}, ev.Part)
	assert.Equal(t, look, ev.FailedAtLook)
	assert.Equal(t, 1, ev.SinceLook, "the evidence runs from the start")
	assert.Equal(t, 0.5, ev.RestartStart)
	assert.Equal(t, 1800, ev.RestartLooks)
	assert.Equal(t, 0.1, ev.Tolerance)
	assert.Equal(t, 0.001, ev.AbsoluteTolerance)
	require.Len(t, ev.Tail, 3)
	for i, q := range []float64{0.95, 0.99, 0.999} {
		tl := ev.Tail[i]
		assert.Equal(t, q, tl.Quantile)
		assert.Equal(t, []string{"p95", "p99", "p99.9"}[i], tl.Name)
		if tl.Name == "p99.9" {
			// The p99 fails first here, before the baseline's reference
			// histogram holds the 10,000 calls the p99.9 waits for: it
			// reports nothing yet.
			assert.Zero(t, tl.Looks)
			assert.LessOrEqual(t, tl.Statistic, 1.0, "no evidence gathered")
			tl.Statistic = 0
			assert.Equal(t, judge.TailEvidence{Quantile: q, Name: tl.Name}, tl)
			continue
		}
		assert.Positive(t, tl.Looks)
		assert.InDelta(t, sim.Healthy.LatencyMedian*[]float64{2.28, 3.2}[i], tl.BaselineThreshold, 0.1*tl.BaselineThreshold, "near the baseline's %s", tl.Name)
		assert.GreaterOrEqual(t, tl.CandidateThreshold, max(1.1*tl.BaselineThreshold, tl.BaselineThreshold+0.001))
		if tl.Name == ev.Part {
			assert.Greater(t, tl.CandidateRate, tl.BaselineRate)
		}
		assert.InDelta(t, float64(tl.CandidateAbove)/float64(tl.CandidateCalls), tl.CandidateRate, 1e-12)
	}
	assert.Contains(t, v.Reason, "latency: the candidate is slower than the baseline in its "+ev.Part+" tail: ")
	assert.Contains(t, v.Reason, "of candidate calls above")
	assert.Contains(t, v.Reason, "tolerance 10.0% or 1ms, whichever is larger")
	assert.Contains(t, v.Reason, "evidence since look 1")
	_, err := json.Marshal(v)
	assert.NoError(t, err)
}

// A break after 150 looks is carried by a restart after it: the evidence
// says since when.
func TestLateBreakEvidenceSaysSinceWhen(t *testing.T) {
	sc := standard(t, "late break: errors")
	v, look := runUntilFail(t, sc, judge.Config{}, 0.1, 400)
	require.Equal(t, judge.TestErrors, v.Test, v.Reason)
	ev := v.Evidence
	assert.Greater(t, look, 150, "not before the break")
	assert.Greater(t, ev.SinceLook, 140, "a restart near the break carries the evidence")
	assert.LessOrEqual(t, ev.SinceLook, look)
	assert.Equal(t, look, max(ev.OddsAtLook, ev.FloorAtLook), "the test fails when its second part crosses")
	assert.GreaterOrEqual(t, ev.OddsStatistic, ev.Threshold)
	assert.GreaterOrEqual(t, ev.FloorStatistic, ev.Threshold)
	assert.Equal(t, 0.001, ev.Floor)
	assert.Contains(t, v.Reason, "beyond the floor of 0.1 percentage point")
}

// A candidate whose errors are within the floor (0.5 % → 0.55 %, and
// 0 % → 0.05 %) is never failed, however many calls it serves; the odds
// part alone would fail the second.
func TestErrorsWithinTheFloorNeverFail(t *testing.T) {
	for _, c := range []struct{ base, cand int64 }{{5, 55}, {0, 5}} { // errors per 1,000 baseline, 10,000 candidate calls
		et, err := judge.NewErrorTest(0.01, judge.ErrorConfig{})
		require.NoError(t, err)
		for range 200 {
			require.NoError(t, et.Observe(10000, c.cand, 1000, c.base))
		}
		v := et.Verdict()
		assert.Equal(t, judge.Pass, v.Outcome, v.Reason)
		assert.Less(t, v.Evidence.FloorStatistic, 1.0)
		if c.base == 0 {
			assert.Positive(t, v.Evidence.OddsAtLook, "the odds part alone has crossed")
		}
	}
}
