package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// The leader dies in the middle of step 2 (its process is gone: its etcd
// client closes and its lease is left to expire). The standby takes over
// within the TTL and carries on the same step, from the same step start,
// with the same judge statistics and every report counted once: the
// weights go 10 %, 50 %, 100 %, never back.
func TestLeaderKilledMidRolloutStandbyContinues(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 5, []string{srv.Endpoint()}, fleet.WithTTL(failoverTTL))
	aClient := newClient(t, srv.Endpoint())
	a := w.newLeader("sentinel-a", aClient)
	b := w.newLeader("sentinel-b", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	standby := make(chan error, 1)
	go func() { standby <- b.Campaign(ctx) }()

	var ev sentinel.Event
	var err error
	for i := 0; i < 10 && ev.Step < 2; i++ {
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	require.Equal(t, 2, ev.Step, ev.Reason)
	ev, err = w.tick(a, 100) // one tick into step 2
	require.NoError(t, err)
	require.Equal(t, sentinel.ActionHold, ev.Action)
	before := a.Status()
	require.NotNil(t, before.Sentinel)
	require.NotNil(t, before.State)
	require.Equal(t, 5000, before.State.Weight("canary"))

	// The leader's process dies.
	require.NoError(t, aClient.Close())
	killed := time.Now()
	// The replicas go on calling and reporting meanwhile.
	w.clock.Advance(time.Second)
	w.load(100)
	require.Empty(t, w.report())

	select {
	case err := <-standby:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the standby did not take over")
	}
	takeover := time.Since(killed)
	require.True(t, b.IsLeader())
	_, err = a.Tick(ctx)
	assert.ErrorIs(t, err, fleet.ErrNotLeader, "the dead leader knows it no longer leads")

	after := b.Status()
	require.NotNil(t, after.Sentinel)
	assert.Greater(t, after.Term, before.Term)
	assert.Equal(t, before.Tick, after.Tick, "the standby starts from the last committed tick")
	assert.Equal(t, *before.State, *after.State, "the same rollout state: nothing restarted, nothing published")
	assert.Equal(t, sentinel.PhaseProgressing, after.Sentinel.Phase)
	assert.Equal(t, 2, after.Sentinel.Step)
	assert.Equal(t, before.Sentinel.StepName, after.Sentinel.StepName)
	assert.True(t, before.Sentinel.StepStart.Equal(after.Sentinel.StepStart), "the step keeps its start")
	assert.Equal(t, before.Sentinel.Weights, after.Sentinel.Weights)
	assert.Equal(t, before.Sentinel.Verdict, after.Sentinel.Verdict, "the judge's statistics carried over")
	assert.Equal(t, before.Sentinel.StepFigs, after.Sentinel.StepFigs, "the step's figures carried over")

	// The standby finishes the rollout.
	for i := 0; i < 20 && !ev.Phase.Final(); i++ {
		ev, err = w.tick(b, 100)
		require.NoError(t, err)
	}
	require.Equal(t, sentinel.PhasePromoted, ev.Phase, ev.Reason)
	final := b.Status()
	assert.Equal(t, before.State.Seq+1, final.State.Seq, "one more state: the promotion")
	assert.Equal(t, final.Term, final.State.Term)
	assert.Zero(t, final.Source.Lost, "no report lost across the failover")
	assert.Zero(t, final.Source.Rejected)
	for _, r := range w.replicas {
		assert.Equal(t, []int{1000, 5000, 10000}, r.weightChanges(), "%s: no restart, no jump", r.name)
		assert.Zero(t, r.follower.Status().Rejections, r.name)
	}
	assert.Zero(t, w.failures())
	t.Logf("the standby took over %v after the leader died (TTL %v)", takeover.Round(time.Millisecond), failoverTTL)
	assert.False(t, errors.Is(err, fleet.ErrNotLeader))
}
