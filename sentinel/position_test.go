package sentinel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
)

// The position records the last change — a decision or a manual control —
// and holds keep it; a checkpoint saves it and a restored sentinel shows it.
func TestThePositionSaysWhoChangedTheRolloutLast(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, nil)
	before := r.s.Status()
	assert.Empty(t, before.ChangedBy, "nothing changed yet")
	assert.Equal(t, sentinel.PhasePending, before.Phase)
	assert.Equal(t, 0, before.TargetWeight)

	start := r.tick(healthy())
	require.Equal(t, sentinel.ActionStart, start.Action)
	assert.Equal(t, sentinel.ActionStart, start.ChangeAction)
	assert.Equal(t, "sentinel", start.ChangedBy)
	assert.Equal(t, start.Reason, start.ChangeReason)
	assert.Equal(t, start.Time, start.ChangedAt)
	assert.Equal(t, 100, start.TargetWeight)
	assert.Equal(t, r.split.Weights(), start.Weights)

	hold := r.tick(healthy())
	require.Equal(t, sentinel.ActionHold, hold.Action)
	assert.Equal(t, start.ChangedAt, hold.ChangedAt, "a hold changes nothing")
	assert.Equal(t, "sentinel", hold.ChangedBy)

	require.NoError(t, r.s.Pause(ctx, "alice", "a look at the dashboards"))
	st := r.s.Status()
	assert.Equal(t, sentinel.ActionPause, st.ChangeAction)
	assert.Equal(t, "alice", st.ChangedBy)
	assert.Equal(t, "a look at the dashboards", st.ChangeReason)
	assert.Equal(t, r.clock.Now(), st.ChangedAt)

	cp := roundTrip(t, r.s.Checkpoint())
	assert.Equal(t, st.Position, cp.Position, "the checkpoint saves the position as the status shows it")
	s2, err := restored(t, balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0}),
		r.src, mustCanary(t), cp, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	got := s2.Status()
	assert.Equal(t, st.Position, got.Position, "a restored sentinel stands where the checkpoint says, changed by alice")
	assert.Empty(t, got.Events, "what the restored sentinel went through before is dropped")
}

func TestRestoreRejectsWhatItCannotTake(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	cp := r.s.Checkpoint()
	fresh := newRig(t, nil)
	first := fresh.tick(healthy())
	require.Equal(t, sentinel.ActionStart, first.Action)
	require.NoError(t, fresh.s.Restore(cp), "a sentinel that has ticked takes another's checkpoint")
	assert.Empty(t, fresh.s.Status().Events)
	require.NoError(t, fresh.s.Close())
	err := fresh.s.Restore(cp)
	assert.ErrorIs(t, err, sentinel.ErrBadCheckpoint)
	assert.ErrorContains(t, err, "the sentinel is closed")
}

// router keeps weights in memory, as the fleet's leader does: a Router
// that is not a Split, and knows no endpoints.
type router struct{ split *balancer.Split }

func (r router) Weights() []balancer.Weight                  { return r.split.Weights() }
func (r router) SetWeights(weights ...balancer.Weight) error { return r.split.SetWeights(weights...) }
func (r router) Generation() uint64                          { return r.split.Generation() }

func TestASentinelSteersAnyRouter(t *testing.T) {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 8000}, balancer.Weight{Version: "canary", Weight: 0},
		balancer.Weight{Version: "other", Weight: 2000})
	src := new(fakeSource)
	s, err := sentinel.New(router{split}, src, mustCanary(t), sentinel.WithClock(newFakeClock()), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.NoError(t, s.SetWeight(context.Background(), "bob", "", 9000))
	assert.Equal(t, []balancer.Weight{{Version: "stable", Weight: 0}, {Version: "canary", Weight: 8000}, {Version: "other", Weight: 2000}},
		split.Weights(), "capped so that the other version keeps its weight")
	st := s.Status()
	assert.Equal(t, 9000, st.TargetWeight, "the weight asked for")
	assert.Nil(t, st.Endpoints, "a router that knows no endpoints shows none")
}

func TestHistoryKeepsTheLastTicks(t *testing.T) {
	r := newRig(t, nil, sentinel.WithHistory(3))
	for range 5 {
		r.tick(healthy())
	}
	h := r.s.Status().History
	require.Len(t, h, 3, "the last 3 ticks")
	assert.Equal(t, r.clock.Now(), h[2].Time)
	assert.Equal(t, r.clock.Now().Add(-2*time.Second), h[0].Time)
}

func TestCanaryConfigWithDefaults(t *testing.T) {
	c, err := sentinel.CanaryConfig{Steps: []int{1000, 5000}}.WithDefaults()
	require.NoError(t, err)
	assert.Equal(t, []int{1000, 5000, 10000}, c.Steps, "all the traffic after the last step")
	assert.Equal(t, time.Minute, c.MinStepDuration)
	assert.EqualValues(t, 100, c.MinStepCalls)
	d, err := sentinel.CanaryConfig{}.WithDefaults()
	require.NoError(t, err)
	assert.Equal(t, []int{100, 500, 2500, 5000, 10000}, d.Steps)
}
