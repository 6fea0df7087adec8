package fleet_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// builds is a BuildSource the test sets: the build behind each version.
type builds struct {
	mu           sync.Mutex
	stable, cand string
}

func (b *builds) set(stable, cand string) {
	b.mu.Lock()
	b.stable, b.cand = stable, cand
	b.mu.Unlock()
}

func (b *builds) Builds(context.Context) (release.Builds, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	one := func(name string) release.VersionBuilds {
		return release.VersionBuilds{Endpoints: 2, Builds: map[string]int{name: 2}}
	}
	return release.Builds{"stable": one(b.stable), "canary": one(b.cand)}, nil
}

// A fleet's leader runs release after release on the same replicas: a
// new build behind canary starts a rollout, a promotion is finalized once
// stable serves the build (every replica returns to stable), and after a
// failover the next build starts the next rollout.
func TestFleetReleaseAfterRelease(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 3, []string{srv.Endpoint()}, fleet.WithTTL(time.Second))
	b := &builds{stable: "b1", cand: "b1"}
	aClient := newClient(t, srv.Endpoint())
	a := w.newLeader("sentinel-a", aClient, fleet.WithRelease(b))
	standby := w.newLeader("sentinel-b", newClient(t, srv.Endpoint()), fleet.WithRelease(b))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	for range 3 {
		_, err := w.tick(a, 20)
		require.NoError(t, err)
	}
	require.Equal(t, release.StageWaiting, a.Status().Release.Stage)
	assert.Nil(t, a.Status().State, "nothing published while there is nothing to roll out")

	b.set("b1", "b2")
	var ev sentinel.Event
	var err error
	for i := 0; i < 30 && !ev.Phase.Final(); i++ {
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	require.Equal(t, sentinel.PhasePromoted, ev.Phase, ev.Reason)
	require.Equal(t, release.StageFinalizing, a.Status().Release.Stage)
	b.set("b2", "b2")
	_, err = w.tick(a, 100)
	require.NoError(t, err)
	for _, r := range w.replicas {
		assert.Equal(t, 0, r.split.Weight("canary"), "%s: the traffic is back on stable", r.name)
		st, _ := r.follower.Applied()
		assert.Equal(t, release.ActionFinalize, st.ChangeAction, r.name)
	}

	// The leader dies; the standby carries the lifecycle on.
	require.NoError(t, aClient.Close())
	require.NoError(t, standby.Campaign(ctx))
	b.set("b2", "b3")
	for i := 0; i < 5 && w.replicas[0].split.Weight("canary") == 0; i++ {
		_, err = w.tick(standby, 100)
		require.NoError(t, err)
	}
	rel := standby.Status().Release
	require.NotNil(t, rel)
	assert.Equal(t, 2, rel.Number, "the standby counts on from the first rollout")
	assert.Equal(t, "b3", rel.Build)
	for _, r := range w.replicas {
		assert.Equal(t, []int{1000, 5000, 10000, 0, 1000}, r.weightChanges(), r.name)
	}
	hist, err := standby.Controller().History(ctx, 0)
	require.NoError(t, err)
	var acts []sentinel.Action
	for _, e := range hist {
		acts = append(acts, e.Action)
	}
	assert.Equal(t, []sentinel.Action{release.ActionRelease, sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionPromote,
		release.ActionFinalize, release.ActionRelease, sentinel.ActionStart}, acts)
	assert.Zero(t, w.failures())
}
