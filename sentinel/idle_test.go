package sentinel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
)

// An idle sentinel takes the figures from its source and keeps them for the
// status, but neither judges nor decides: a pending rollout stays pending
// however good the candidate looks, and starts at the first Tick.
func TestIdleCollectsButNeitherJudgesNorDecides(t *testing.T) {
	r := newRig(t, mustCanary(t))
	for range 5 {
		r.clock.Advance(time.Second)
		r.src.Set(healthy(), nil)
		ev := r.s.Idle(context.Background(), "no new build")
		require.Equal(t, sentinel.ActionHold, ev.Action)
		assert.Equal(t, "no new build", ev.Reason)
	}
	st := r.s.Status()
	assert.Equal(t, sentinel.PhasePending, st.Phase)
	assert.Equal(t, 0, st.Weight("canary"))
	assert.Len(t, st.History, 5, "the figures are kept for the status")
	assert.Empty(t, st.Verdict.Tests, "the judge saw nothing")
	r.clock.Advance(time.Second)
	ev := r.tick(healthy())
	assert.Equal(t, sentinel.ActionStart, ev.Action, "the first Tick starts the rollout")
}

// A failing source while idle holds and alerts once, and never rolls back.
func TestIdleSourceFailureAlertsOnceAndNeverRollsBack(t *testing.T) {
	a := &alerts{}
	r := newRig(t, mustCanary(t), sentinel.WithRollbackOnSourceError(true), sentinel.WithAlerters(a))
	for range 3 {
		r.src.Set(nil, errors.New("scrape failed"))
		ev := r.s.Idle(context.Background(), "waiting")
		assert.Equal(t, sentinel.ActionSourceFail, ev.Action)
	}
	require.NoError(t, r.s.Close())
	assert.Equal(t, []sentinel.Action{sentinel.ActionSourceFail}, a.actions())
	assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase)
	assert.Equal(t, sentinel.ActionHold, r.s.Idle(context.Background(), "waiting").Action, "closed: nothing collected")
}
