package judge_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// roundTrip encodes v to JSON and decodes it into a fresh value, as saved
// statistics stored elsewhere come back.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestJudgeStateRoundTripGivesTheSameVerdicts(t *testing.T) {
	// Strict, so that the candidate's one bucket of slowdown counts; a
	// restart horizon shorter than the rollout, so that the restored
	// detectors cross it.
	cfg := judge.Config{EnableShadow: true, Restarts: judge.Restarts{Looks: 10},
		Errors: judge.ErrorConfig{Tolerance: 3}, Latency: judge.LatencyConfig{Strict: true}}
	a, err := judge.New(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	look := func() judge.Look {
		cand, base := int64(20+rng.IntN(20)), int64(200+rng.IntN(50))
		lat := func(n int64, shift int) judge.Buckets {
			b := []float64{0.001, 0.002, 0.004, 0.008}
			c := make([]uint64, len(b)+1)
			for range n {
				c[min(rng.IntN(3)+shift, len(b))]++
			}
			return judge.Buckets{Bounds: b, Counts: c}
		}
		return judge.Look{
			Candidate: judge.Figures{Calls: cand, Errors: int64(rng.IntN(3)), Latency: lat(cand, 1)},
			Baseline:  judge.Figures{Calls: base, Errors: int64(rng.IntN(3)), Latency: lat(base, 0)},
			Shadow:    judge.ShadowFigures{Comparisons: 10, Mismatches: int64(rng.IntN(2))},
		}
	}
	for range 5 {
		require.NoError(t, a.Observe(look()))
	}
	a.BeginStep()
	require.NoError(t, a.Observe(look()))
	saved := a.State()
	require.Positive(t, saved.Latency.Tails[1].Looks, "the p99 tail is tested before the state is saved")
	require.Positive(t, saved.Errors.Floor.Restarts)

	b, err := judge.New(cfg)
	require.NoError(t, err)
	require.NoError(t, b.Restore(roundTrip(t, a.State())))
	assert.Equal(t, a.Verdict(), b.Verdict())
	assert.Equal(t, a.State(), b.State())
	for range 20 {
		l := look()
		require.NoError(t, a.Observe(l))
		require.NoError(t, b.Observe(l))
		require.Equal(t, a.Verdict(), b.Verdict(), "the restored judge goes on exactly as the original")
	}
	assert.Equal(t, judge.Fail, a.Verdict().Outcome, "the slower candidate is caught, by both")
}

func TestJudgeRestoreRejectsWhatDoesNotFit(t *testing.T) {
	j, err := judge.New(judge.Config{})
	require.NoError(t, err)
	require.NoError(t, j.Observe(judge.Look{Candidate: judge.Figures{Calls: 10, Errors: 1}, Baseline: judge.Figures{Calls: 90}}))
	good := j.State()
	before := j.Verdict()
	require.Equal(t, judge.StateFormat, good.Format)

	for name, tc := range map[string]struct {
		edit func(*judge.State)
		want string
	}{
		"another alpha":  {func(s *judge.State) { s.Budget.Errors /= 2 }, "ninelives: bad judge state: Budget = "},
		"errors > calls": {func(s *judge.State) { s.Errors.CandErrors = 11 }, "Errors.CandErrors = 11: exceeds CandCalls = 10"},
		"negative calls": {func(s *judge.State) { s.Errors.BaseCalls = -1 }, "Errors.BaseCalls = -1: want a count ≥ 0"},
		"failed later":   {func(s *judge.State) { s.Errors.FailedAt = 7 }, "Errors.FailedAt = 7: want 0..Looks (1)"},
		"grid":           {func(s *judge.State) { s.Errors.Odds.LogR = s.Errors.Odds.LogR[1:] }, "Errors.Odds.LogR: 7 components, the test mixes 8"},
		"not finite":     {func(s *judge.State) { s.Errors.LogE = math.Inf(1) }, "Errors.LogE = +Inf: want a finite number"},
		"no latency":     {func(s *judge.State) { s.Latency = nil }, "Latency: present = false"},
		"shadow extra":   {func(s *judge.State) { s.Shadow = &judge.RateState{} }, "Shadow: present = true"},
		"latency sum": {func(s *judge.State) {
			l := *s.Latency
			l.CandN = 5
			s.Latency = &l
		}, "Latency.BoundsSet = false: with 0 bounds and 5+0 samples"},
		"format":          {func(s *judge.State) { s.Format = 2 }, "Format = 2: want 3"},
		"shadow errors":   {func(s *judge.State) { s.ShadowErrors = &judge.RateState{} }, "ShadowErrors: present = true, the judge's shadow test enabled = false"},
		"restarts":        {func(s *judge.State) { s.Errors.Floor.Restarts = 2 }, "Errors.Floor.Restarts = 2: want 0..Looks (1)"},
		"since":           {func(s *judge.State) { s.Errors.Odds.Since[3] = 9 }, "Errors.Odds.Since[3] = 9: want 1..Looks (1)"},
		"detector NaN":    {func(s *judge.State) { s.Errors.Floor.LogR[0] = math.NaN() }, "Errors.Floor.LogR[0] = NaN: want a finite number"},
		"odds crossed":    {func(s *judge.State) { s.Errors.OddsAt = -1 }, "Errors.OddsAt = -1: want 0..Looks (1)"},
		"tails":           {func(s *judge.State) { s.Latency.Tails = s.Latency.Tails[:1] }, "Latency.Tails: 1 quantiles, the test watches 3"},
		"latency part":    {func(s *judge.State) { s.Latency.Part = "p42" }, `Latency.Part = "p42": want "centre" or a watched quantile's name`},
		"latency restart": {func(s *judge.State) { s.Latency.Detector.Since = nil }, "Latency.Detector.Since: 0 components, the test mixes 30"},
	} {
		t.Run(name, func(t *testing.T) {
			st := roundTrip(t, good)
			tc.edit(&st)
			err := j.Restore(st)
			require.ErrorIs(t, err, judge.ErrBadState)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, before, j.Verdict(), "a rejected state leaves the judge alone")
		})
	}
}

func TestJudgeRestoreRejectsAnotherConfiguration(t *testing.T) {
	look := judge.Look{
		Candidate: judge.Figures{Calls: 40, Errors: 1, Latency: judge.Buckets{Bounds: []float64{0.01}, Counts: []uint64{30, 10}}},
		Baseline:  judge.Figures{Calls: 400, Errors: 3, Latency: judge.Buckets{Bounds: []float64{0.01}, Counts: []uint64{320, 80}}},
		Shadow:    judge.ShadowFigures{Comparisons: 20, Mismatches: 1},
	}
	base := judge.Config{EnableShadow: true, Errors: judge.ErrorConfig{Tolerance: 2}}
	saved, err := judge.New(base)
	require.NoError(t, err)
	require.NoError(t, saved.Observe(look))
	state := roundTrip(t, saved.State())
	require.NotNil(t, state.Config, "the state records the configuration")
	assert.Equal(t, saved.Config(), *state.Config, "with the defaults filled in")

	for name, tc := range map[string]struct {
		edit func(*judge.Config)
		want string
	}{
		"errors tolerance": {func(c *judge.Config) { c.Errors.Tolerance = 3 }, "Config.Errors.Tolerance = 2: this judge's is 3"},
		"latency strict":   {func(c *judge.Config) { c.Latency.Strict = true }, "Config.Latency.Strict = false: this judge's is true"},
		"shadow tolerance": {func(c *judge.Config) { c.Shadow.Tolerance = 0.012 }, "Config.Shadow.Tolerance = 0.01: this judge's is 0.012"},
		"errors min calls": {func(c *judge.Config) { c.Errors.MinCalls = 80 }, "Config.Errors.MinCalls = 50: this judge's is 80"},
		"quantiles":        {func(c *judge.Config) { c.Latency.Quantiles = []float64{0.9, 0.99} }, "Config.Latency.Quantiles = [0.95 0.99 0.999]: this judge's is [0.9 0.99]"},
		"restarts":         {func(c *judge.Config) { c.Restarts.Start = 0.7 }, "Config.Restarts.Start = 0.5: this judge's is 0.7"},
		"floor":            {func(c *judge.Config) { c.Errors.Floor = -1 }, "Config.Errors.Floor = 0.001: this judge's is -1"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			j, err := judge.New(cfg)
			require.NoError(t, err)
			before := j.State()
			err = j.Restore(state)
			require.ErrorIs(t, err, judge.ErrBadState)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, before, j.State(), "a rejected state leaves the judge alone")
		})
	}

	t.Run("the same configuration, defaults spelled out", func(t *testing.T) {
		cfg := base
		cfg.Alpha, cfg.Errors.MinCalls, cfg.Shadow.Tolerance = 0.01, 50, 0.01
		j, err := judge.New(cfg)
		require.NoError(t, err)
		require.NoError(t, j.Restore(state))
		assert.Equal(t, saved.Verdict(), j.Verdict())
	})

	t.Run("a state saved under the earlier default quantiles", func(t *testing.T) {
		earlier := base
		earlier.Latency.Quantiles = []float64{0.95, 0.99}
		old, err := judge.New(earlier)
		require.NoError(t, err)
		require.NoError(t, old.Observe(look))
		st := roundTrip(t, old.State())

		j, err := judge.New(base)
		require.NoError(t, err)
		err = j.Restore(st)
		require.ErrorIs(t, err, judge.ErrBadState)
		assert.ErrorContains(t, err, "Config.Latency.Quantiles = [0.95 0.99]: this judge's is [0.95 0.99 0.999]: the default quantiles of the tail test became [0.95 0.99 0.999]")
		assert.ErrorContains(t, err, "set LatencyConfig.Quantiles to [0.95 0.99] until it ends")

		pinned, err := judge.New(earlier)
		require.NoError(t, err)
		require.NoError(t, pinned.Restore(st), "the setting the error names carries the rollout on")
		assert.Equal(t, old.Verdict(), pinned.Verdict())
	})

	t.Run("the tail's settings do not count when both leave it out", func(t *testing.T) {
		noTail := base
		noTail.Latency.DisableTail = true
		noTail.Latency.Quantiles = []float64{0.95, 0.99}
		old, err := judge.New(noTail)
		require.NoError(t, err)
		require.NoError(t, old.Observe(look))
		st := roundTrip(t, old.State())

		noTail.Latency.Quantiles, noTail.Latency.TailWeight, noTail.Latency.TailMinShare = nil, 0.3, 0.1
		j, err := judge.New(noTail)
		require.NoError(t, err)
		require.NoError(t, j.Restore(st))
		assert.Equal(t, old.Verdict(), j.Verdict())

		noTail.Latency.BaselineHalfLife = 60 // the centre's clustering uses it too
		j, err = judge.New(noTail)
		require.NoError(t, err)
		assert.ErrorContains(t, j.Restore(st), "Config.Latency.BaselineHalfLife = 120: this judge's is 60")
	})

	t.Run("a state without its configuration", func(t *testing.T) {
		st := state
		st.Config = nil
		j, err := judge.New(base)
		require.NoError(t, err)
		assert.ErrorContains(t, j.Restore(st), "ninelives: bad judge state: Config: missing")
	})
}

func TestJudgeRestoreRejectsTheStateOfAnEarlierJudge(t *testing.T) {
	// A state saved before the restarts, the errors floor and the tail
	// test: no format, one mixture per test.
	const old = `{"config":{"alpha":0.01,"shares":{"errors":0.5,"latency":0.4,"shadow":0.1},"errors":{"minCalls":50,"minStepCalls":500,"passAlpha":0.05},` +
		`"latency":{"minCalls":50,"minStepCalls":500,"tolerance":0.1},"shadow":{"tolerance":0.01,"minComparisons":50,"minStepComparisons":500}},` +
		`"budget":{"errors":0.005555555555555556,"latency":0.0044444444444444444,"shadow":0},` +
		`"errors":{"looks":1,"candCalls":100,"candErrors":1,"baseCalls":900,"baseErrors":4,"stepCalls":100,"logE":-0.1887236844436988,"logPassE":0,` +
		`"harm":[0.14,0.22,0.2,0.08,-0.17,-0.56,-1.09,-1.78]},` +
		`"latency":{"looks":1,"boundsSet":true,"bounds":[0.01,0.02],"cand":[60,30,10],"base":[540,270,90],"candN":100,"baseN":900,"stepN":100,` +
		`"logE":-2.5,"mix":[-0.8,-3.3,-13.3,-52.5,-179.1,-501.3]}}`
	var st judge.State
	require.NoError(t, json.Unmarshal([]byte(old), &st))
	j, err := judge.New(judge.Config{})
	require.NoError(t, err)
	err = j.Restore(st)
	require.ErrorIs(t, err, judge.ErrBadState)
	assert.ErrorContains(t, err, "ninelives: bad judge state: Format = 0: want 3: the state was saved by an earlier judge")
	assert.ErrorContains(t, err, "restore without the judge's state (a fresh judge spends α again)")
	assert.Zero(t, j.Verdict().Tests[0].Evidence.Looks, "the judge is left as it was")
}

// A rate test's state saved before the restarts (no Since) restores as it
// was: blue/green's saved gates carry on.
func TestRateTestRestoresAStateFromBeforeTheRestarts(t *testing.T) {
	a, err := judge.NewRateTest(0.01, judge.RateConfig{})
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, a.Observe(100, 2))
	}
	st := a.State()
	st.Since, st.Restarts = nil, 0
	b, err := judge.NewRateTest(0.01, judge.RateConfig{})
	require.NoError(t, err)
	require.NoError(t, b.Restore(roundTrip(t, st)))
	for range 20 {
		require.NoError(t, a.Observe(100, 3))
		require.NoError(t, b.Observe(100, 3))
		require.Equal(t, a.Verdict(), b.Verdict())
	}
	assert.Equal(t, judge.Fail, b.Verdict().Outcome)
}
