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
	cfg := judge.Config{EnableShadow: true, Errors: judge.ErrorConfig{Tolerance: 3}}
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

	for name, tc := range map[string]struct {
		edit func(*judge.State)
		want string
	}{
		"another alpha":  {func(s *judge.State) { s.Budget.Errors /= 2 }, "ninelives: bad judge state: Budget = "},
		"errors > calls": {func(s *judge.State) { s.Errors.CandErrors = 11 }, "Errors.CandErrors = 11: exceeds CandCalls = 10"},
		"negative calls": {func(s *judge.State) { s.Errors.BaseCalls = -1 }, "Errors.BaseCalls = -1: want a count ≥ 0"},
		"failed later":   {func(s *judge.State) { s.Errors.FailedAt = 7 }, "Errors.FailedAt = 7: want 0..Looks (1)"},
		"grid":           {func(s *judge.State) { s.Errors.Harm = s.Errors.Harm[1:] }, "Errors.Harm: 7 components, the test mixes 8"},
		"not finite":     {func(s *judge.State) { s.Errors.LogE = math.Inf(1) }, "Errors.LogE = +Inf: want a finite number"},
		"no latency":     {func(s *judge.State) { s.Latency = nil }, "Latency: present = false"},
		"shadow extra":   {func(s *judge.State) { s.Shadow = &judge.RateState{} }, "Shadow: present = true"},
		"latency sum": {func(s *judge.State) {
			l := *s.Latency
			l.CandN = 5
			s.Latency = &l
		}, "Latency.BoundsSet = false: with 0 bounds and 5+0 samples"},
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

	t.Run("a state from before the configuration was kept", func(t *testing.T) {
		b, err := json.Marshal(saved.State())
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &m))
		delete(m, "config")
		b, err = json.Marshal(m)
		require.NoError(t, err)
		var old judge.State
		require.NoError(t, json.Unmarshal(b, &old))

		j, err := judge.New(base)
		require.NoError(t, err)
		require.NoError(t, j.Restore(old), "it is read as before: budget and shapes")
		assert.Equal(t, saved.Verdict(), j.Verdict())
	})
}
