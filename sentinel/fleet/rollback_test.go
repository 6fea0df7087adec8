package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// Five replicas, two sentinels; the canary turns bad at 10 %: the leader
// decides one rollback on the fleet's sums, and every replica is at 0 %
// canary after the one watch event that carries it.
func TestFiveReplicasRollBackTogether(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 5, []string{srv.Endpoint()}, fleet.WithTTL(failoverTTL))
	a := w.newLeader("sentinel-a", newClient(t, srv.Endpoint()))
	b := w.newLeader("sentinel-b", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	standby := make(chan error, 1)
	bctx, stopB := context.WithCancel(ctx)
	defer func() { stopB(); <-standby }()
	go func() { standby <- b.Campaign(bctx) }()

	// Healthy until the canary has run a tick at 10 %.
	var ev sentinel.Event
	var err error
	for i := 0; i < 2; i++ {
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	require.Equal(t, sentinel.PhaseProgressing, ev.Phase)
	require.Equal(t, 1000, ev.Weights[1].Weight, "at 10 %%: %s", ev.Reason)

	rev0 := srv.Revision()
	w.servers.SetFaults("canary", demoserver.Faults{ErrorRate: 0.1})
	regression := time.Now()
	var rollbackSeq uint64
	events := map[string]int64{}
	ticks := 0
	for ; ticks < 20 && !ev.Phase.Final(); ticks++ {
		for _, r := range w.replicas {
			events[r.name] = r.follower.Status().Events
		}
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	allZero := time.Since(regression)
	require.Equal(t, sentinel.PhaseRolledBack, ev.Phase, "after %d ticks: %s", ticks, ev.Reason)
	require.Equal(t, sentinel.ActionRollback, ev.Action)
	writes := srv.Revision() - rev0

	st := a.Status()
	require.NotNil(t, st.State)
	rollbackSeq = st.State.Seq
	assert.Equal(t, sentinel.ActionRollback, st.State.ChangeAction)
	assert.Equal(t, 0, st.State.Weight("canary"))
	rollbacks := 0
	require.NotNil(t, st.Sentinel)
	for _, e := range st.Sentinel.Events {
		if e.Action == sentinel.ActionRollback {
			rollbacks++
		}
	}
	assert.Equal(t, 1, rollbacks, "one rollback decision, for the whole fleet")
	assert.Equal(t, judge.TestErrors, ev.Verdict.Test)
	for _, r := range w.replicas {
		require.Eventually(t, func() bool { return r.follower.Status().Events > events[r.name] }, 10*time.Second, time.Millisecond)
		fs := r.follower.Status()
		require.NotNil(t, fs.Applied)
		assert.Equal(t, rollbackSeq, fs.Applied.Seq, r.name)
		assert.Equal(t, 0, r.split.Weight("canary"), r.name)
		assert.Equal(t, events[r.name]+1, fs.Events, "%s: the rollback arrived in one watch event", r.name)
		assert.Equal(t, 1, fs.Watches, "%s: one watch", r.name)
		assert.Zero(t, fs.Rejections, r.name)
		assert.Equal(t, []int{1000, 0}, r.weightChanges(), "%s: 10 %%, then back to 0 %%", r.name)
	}
	assert.Zero(t, st.Source.Lost)
	assert.Zero(t, st.Source.Rejected)
	assert.Equal(t, int64(5), int64(st.Source.Replicas), "the leader summed five replicas")

	// Load: one write per replica per tick, plus the leader's one.
	perTick := float64(writes) / float64(ticks)
	assert.InDelta(t, 6, perTick, 0.01, "%d writes in %d ticks", writes, ticks)
	for _, r := range w.replicas {
		rs := r.reporter.Status()
		assert.Equal(t, int64(2+ticks), rs.Writes, r.name)
		assert.Zero(t, rs.Failures, r.name)
	}
	t.Logf("regression to every replica at 0 %% canary: %d ticks (%v wall time with the ticks driven by hand); %.1f etcd writes per tick for 5 replicas and the leader; report size %d bytes",
		ticks, allZero.Round(time.Millisecond), perTick, w.replicas[0].reporter.Status().LastBytes)

	failedBefore := map[string]int64{}
	for _, r := range w.replicas {
		failedBefore[r.name] = r.failed.Load()
	}
	w.load(100)
	for _, r := range w.replicas {
		assert.Equal(t, failedBefore[r.name], r.failed.Load(), "%s: after the rollback no call fails", r.name)
	}
	assert.False(t, b.IsLeader(), "the standby stays a standby")
}
