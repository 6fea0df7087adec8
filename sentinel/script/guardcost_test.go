//go:build unix

package script_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

// policyParams are the params of testdata/policy.star, a ~200-line canary
// of the size and shape users write: the built-in canary's steps, a
// history of the last ticks in state.memory, guards of its own against the
// baseline, and reasons assembled from the figures.
var policyParams = map[string]any{
	"steps": []int{100, 1000, 2500, 5000, 10000}, "min_step_seconds": 60.0, "min_step_calls": 100,
	"max_error_ratio": 2.0, "error_floor": 0.01, "max_p99_ratio": 1.5, "p99_margin": 0.005,
	"history": 20, "max_fallback_share": 0.05, "freeze_hours": 0, "min_baseline_calls": 100,
}

// policyPair loads the policy with and without the guard.
func policyPair(tb testing.TB) (plain, guarded *script.Script) {
	src, err := os.ReadFile("testdata/policy.star")
	require.NoError(tb, err)
	load := func(opts ...script.Option) *script.Script {
		s, err := script.New("policy.star", string(src), append(opts, script.WithParams(policyParams), unhurried)...)
		require.NoError(tb, err)
		return s
	}
	return load(script.Unguarded), load()
}

// The guarded policy decides exactly as the plain one, tick after tick,
// its state.memory growing as it goes.
func TestTheGuardChangesNoDecision(t *testing.T) {
	plain, guarded := policyPair(t)
	for i := range 60 {
		errs := int64(1)
		if i%7 == 3 {
			errs = 30 // a bad tick now and then: the guards hold, then roll back
		}
		st := progressing(nil, window(900, 4, 100, errs, 0.02, 0.021))
		st.InStep = time.Duration(i*5) * time.Second
		st.Now = st.StepStart.Add(st.InStep)
		a, b := decide(t, plain, st), decide(t, guarded, st)
		require.Equal(t, a, b, "tick %d", i)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	t, ok := demotest.CPUTime()
	require.True(tb, ok, "the process's CPU time cannot be read")
	return t
}

// BenchmarkGuardCost measures what the guard adds to a tick of the policy,
// in CPU time (the garbage collector's included), in paired rounds: each
// round runs 500 ticks plain and 500 guarded, in alternating order, so
// that a busy machine weighs on both alike. It reports the medians over
// the rounds (run with -benchtime 41x for 41 rounds).
func BenchmarkGuardCost(b *testing.B) {
	plain, guarded := policyPair(b)
	st := progressing(nil, window(900, 4, 100, 1, 0.02, 0.021))
	st.InStep = 30 * time.Second
	const ticks = 500
	run := func(s *script.Script) time.Duration {
		t0 := cpuTime(b)
		for range ticks {
			if _, err := s.Decide(b.Context(), st); err != nil {
				b.Fatal(err)
			}
		}
		return (cpuTime(b) - t0) / ticks
	}
	var p, g, ratio []float64
	for i := 0; b.Loop(); i++ {
		var tp, tg time.Duration
		if i%2 == 0 {
			tp, tg = run(plain), run(guarded)
		} else {
			tg, tp = run(guarded), run(plain)
		}
		p, g = append(p, float64(tp.Nanoseconds())/1e3), append(g, float64(tg.Nanoseconds())/1e3)
		ratio = append(ratio, float64(tg)/float64(max(tp, 1)))
	}
	b.ReportMetric(median(p), "plain-cpu-µs/tick")
	b.ReportMetric(median(g), "guard-cpu-µs/tick")
	b.ReportMetric(median(ratio), "guard/plain")
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
