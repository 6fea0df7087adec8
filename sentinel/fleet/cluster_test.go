package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// A three-member etcd cluster loses its raft leader in the middle of the
// rollout. The fleet goes on with the two others; the one replica whose
// client knew only the lost member keeps its weights and says so, and
// catches up when the member is back.
func TestThreeMemberClusterLosesAMemberMidRollout(t *testing.T) {
	members, err := fleettest.StartCluster(t.TempDir(), 3)
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, m := range members {
			m.Stop()
		}
	})
	var lost *fleettest.Server
	require.Eventually(t, func() bool {
		for _, m := range members {
			if m.IsLeader() {
				lost = m
				return true
			}
		}
		return false
	}, 10*time.Second, time.Millisecond)
	all := fleettest.Endpoints(members)

	w := newWorld(t, 4, all, fleet.WithTTL(15*time.Second), fleet.WithTimeout(500*time.Millisecond))
	isolated := w.newReplica("replica-isolated", []string{lost.Endpoint()})
	w.replicas = append(w.replicas, isolated)
	require.Eventually(t, func() bool { return len(isolated.split.ReadyEndpoints("canary")) == 2 }, 10*time.Second, 5*time.Millisecond)
	a := w.newLeader("sentinel-a", newClient(t, all...))
	b := w.newLeader("sentinel-b", newClient(t, all...))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	standby := make(chan error, 1)
	bctx, stopB := context.WithCancel(ctx)
	defer func() { stopB(); <-standby }()
	go func() { standby <- b.Campaign(bctx) }()

	// round is one tick that tolerates a cluster electing a new leader:
	// reports and the leader's tick are tried again, a bounded number of
	// times; the isolated replica may fail.
	round := func(down bool) sentinel.Event {
		t.Helper()
		w.clock.Advance(time.Second)
		w.load(100)
		for i := 0; i < 20; i++ {
			failed := w.reportAll()
			if failed == 0 || (down && failed == 1 && isolated.reporter.Status().Pending) {
				break
			}
		}
		var ev sentinel.Event
		var err error
		for i := 0; i < 20; i++ {
			if ev, err = a.Tick(ctx); err == nil {
				break
			}
		}
		require.NoError(t, err)
		seq := a.Status().State.Seq
		require.Eventually(t, func() bool {
			for _, r := range w.replicas {
				if st, ok := r.follower.Applied(); (!ok || st.Seq < seq) && !(down && r == isolated) {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond)
		return ev
	}

	ev := round(false)
	ev = round(false)
	require.Equal(t, 1, ev.Step)

	lost.Stop()
	for i := 0; i < 10 && ev.Step < 2; i++ {
		ev = round(true)
	}
	require.Equal(t, 2, ev.Step, "the rollout advanced with one member down: %s", ev.Reason)
	is := isolated.follower.Status()
	assert.False(t, is.Reachable, "the isolated replica knows it lost etcd")
	assert.Equal(t, 1000, isolated.split.Weight("canary"), "and keeps its last weights")
	for _, r := range w.replicas[:4] {
		assert.Equal(t, 5000, r.split.Weight("canary"), r.name)
	}

	require.NoError(t, lost.Restart())
	for i := 0; i < 50 && isolated.reporter.Report(ctx) != nil; i++ {
	}
	st, ok := isolated.follower.Applied()
	require.True(t, ok)
	assert.Equal(t, a.Status().State.Seq, st.Seq, "the isolated replica caught up")
	assert.Equal(t, 5000, isolated.split.Weight("canary"))
	assert.True(t, isolated.follower.Status().Reachable)

	for i := 0; i < 20 && !ev.Phase.Final(); i++ {
		ev = round(false)
	}
	require.Equal(t, sentinel.PhasePromoted, ev.Phase, ev.Reason)
	for _, r := range w.replicas {
		assert.Equal(t, []int{1000, 5000, 10000}, r.weightChanges(), r.name)
	}
	assert.Zero(t, w.failures(), "no call failed")
	ls := a.Status()
	assert.Zero(t, ls.Source.Lost)
	assert.Positive(t, ls.Source.LeftOut, "the isolated replica's figures under old weights were left out")
	assert.True(t, a.IsLeader())
	assert.False(t, b.IsLeader())
}
