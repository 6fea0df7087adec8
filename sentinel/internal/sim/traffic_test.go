package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// lookRecorder keeps every look it sees.
type lookRecorder struct{ looks []judge.Look }

func (r *lookRecorder) Observe(t sim.Tick) bool {
	l := t.Look
	l.Candidate.Latency.Counts = append([]uint64(nil), l.Candidate.Latency.Counts...)
	l.Baseline.Latency.Counts = append([]uint64(nil), l.Baseline.Latency.Counts...)
	r.looks = append(r.looks, l)
	return false
}

func TestTrafficDrawsWhatRunOneDraws(t *testing.T) {
	sc := scenario(t, "shared outage")
	sc.Steps = []sim.Step{{Share: 0.25, Seconds: 240}}
	var rec lookRecorder
	_, err := sim.RunOne(sc, 3, 7, &rec)
	require.NoError(t, err)

	tr, err := sim.NewTraffic(sc, 3, 7)
	require.NoError(t, err)
	for i, want := range rec.looks {
		got, err := tr.Next(0.25)
		require.NoError(t, err)
		require.Equal(t, want, got, "second %d", i+1)
	}
	assert.Equal(t, 240, tr.Second())
	assert.Positive(t, rec.looks[200].Baseline.Errors, "the outage is drawn too")
}

func TestTrafficFollowsTheShareItIsGiven(t *testing.T) {
	sc := scenario(t, "A/A, 10 %")
	tr, err := sim.NewTraffic(sc, 1, 0)
	require.NoError(t, err)
	for _, share := range []float64{0, 1} {
		l, err := tr.Next(share)
		require.NoError(t, err)
		assert.Equal(t, int64(1000*share), l.Candidate.Calls)
		assert.Equal(t, int64(1000*(1-share)), l.Baseline.Calls)
	}
	_, err = tr.Next(1.5)
	assert.ErrorContains(t, err, "share = 1.5, want 0 ≤ share ≤ 1")
	sc.CallsPerSecond = 0
	_, err = sim.NewTraffic(sc, 1, 0)
	assert.ErrorContains(t, err, "CallsPerSecond = 0")
}
