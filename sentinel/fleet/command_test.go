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

// do runs a control through ctrl while the leader ticks, and returns the
// answered command.
func (w *world) do(l *fleet.Leader, ctrl *fleet.Controller, cmd fleet.Command) (fleet.Command, error) {
	w.t.Helper()
	type answer struct {
		cmd fleet.Command
		err error
	}
	done := make(chan answer, 1)
	go func() {
		c, err := ctrl.Do(context.Background(), cmd)
		done <- answer{c, err}
	}()
	for range 50 {
		select {
		case a := <-done:
			return a.cmd, a.err
		case <-time.After(20 * time.Millisecond):
			_, _ = w.tick(l, 20)
		}
	}
	w.t.Fatal("the command was not answered after 50 ticks")
	return fleet.Command{}, nil
}

func weight(n int) *int { return &n }

func (w *world) appliedPhases() []sentinel.Phase {
	var out []sentinel.Phase
	for _, r := range w.replicas {
		st, _ := r.follower.Applied()
		out = append(out, st.Phase)
	}
	return out
}

// Pause, set-weight, resume and abort reach every replica through the
// leader, as commands with who and why, kept in the rollout's history; a
// control the phase does not allow is answered as refused.
func TestCommandsDriveTheFleet(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 3, []string{srv.Endpoint()})
	l := w.newLeader("sentinel-a", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, l.Campaign(ctx))
	_, err := w.tick(l, 100)
	require.NoError(t, err)
	ctrl, err := fleet.NewController(newClient(t, srv.Endpoint()), prefix, fleet.WithClock(w.clock))
	require.NoError(t, err)

	cmd, err := w.do(l, ctrl, fleet.Command{Action: sentinel.ActionPause, Who: "alice", Reason: "checking the dashboards"})
	require.NoError(t, err)
	require.NotNil(t, cmd.Result)
	assert.True(t, cmd.Result.Applied)
	assert.Equal(t, "sentinel-a", cmd.Result.Leader)
	assert.Equal(t, []sentinel.Phase{sentinel.PhasePaused, sentinel.PhasePaused, sentinel.PhasePaused}, w.appliedPhases())

	_, err = w.do(l, ctrl, fleet.Command{Action: sentinel.ActionSetWeights, Weight: weight(2500), Who: "alice"})
	require.NoError(t, err)
	for _, r := range w.replicas {
		assert.Equal(t, 2500, r.split.Weight("canary"), r.name)
	}
	_, err = w.do(l, ctrl, fleet.Command{Action: sentinel.ActionResume, Who: "bob", Reason: "looks fine"})
	require.NoError(t, err)
	refused, err := w.do(l, ctrl, fleet.Command{Action: sentinel.ActionResume, Who: "bob"})
	require.ErrorIs(t, err, sentinel.ErrTransition)
	assert.Contains(t, err.Error(), "not paused")
	assert.False(t, refused.Result.Applied)
	assert.Equal(t, 1, countOf(err.Error(), "phase change not allowed"), "the kind is said once: %s", err)
	_, err = w.do(l, ctrl, fleet.Command{Action: sentinel.ActionAbort, Who: "carol", Reason: "a customer complaint"})
	require.NoError(t, err)
	for _, r := range w.replicas {
		assert.Equal(t, 0, r.split.Weight("canary"), r.name)
	}
	_, err = w.do(l, ctrl, fleet.Command{Action: sentinel.ActionPromote, Who: "dave"})
	assert.ErrorIs(t, err, sentinel.ErrTransition)
	assert.Contains(t, err.Error(), "final")

	hist, err := ctrl.History(ctx, 0)
	require.NoError(t, err)
	var manual []string
	for _, e := range hist {
		if e.Who != "sentinel" {
			manual = append(manual, string(e.Action)+" by "+e.Who+": "+e.Reason)
		}
	}
	assert.Equal(t, []string{"pause by alice: checking the dashboards", "set_weights by alice: candidate weight set to 2500 bp by alice",
		"resume by bob: looks fine", "abort by carol: a customer complaint"}, manual)
	for i := 1; i < len(hist); i++ {
		assert.Equal(t, hist[i-1].Seq+1, hist[i].Seq, "the history has no gap")
	}
	fs, err := ctrl.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, sentinel.PhaseAborted, fs.Sentinel.Phase)
	assert.Equal(t, "sentinel-a", fs.Leader)
	assert.Equal(t, "carol", fs.Sentinel.ChangedBy)
	st := ctrl.Status()
	assert.Equal(t, sentinel.PhaseAborted, st.Phase)
	assert.Equal(t, hist[len(hist)-1].Seq, st.Events[len(st.Events)-1].Seq)
}

func countOf(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// A command refused before it is written names the field; one that no
// leader answers in time is withdrawn, and no leader applies it later.
func TestCommandsRefusedOrWithdrawn(t *testing.T) {
	srv := startEtcd(t)
	c := newClient(t, srv.Endpoint())
	ctrl, err := fleet.NewController(c, prefix, fleet.WithCommandWait(300*time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		cmd  fleet.Command
		want string
	}{
		{fleet.Command{Action: "reboot"}, `Action = "reboot"`},
		{fleet.Command{Action: sentinel.ActionSetWeights}, "Weight: set_weights needs"},
		{fleet.Command{Action: sentinel.ActionSetWeights, Weight: weight(20000)}, "Weight = 20000"},
		{fleet.Command{Action: sentinel.ActionPause, Weight: weight(1)}, "only set_weights"},
		{fleet.Command{Action: sentinel.ActionPause, Who: "a\x07b"}, "Who"},
		{fleet.Command{Action: sentinel.ActionPause, ID: "a/b"}, "ID"},
	} {
		_, err := ctrl.Issue(ctx, tc.cmd)
		assert.ErrorIs(t, err, fleet.ErrBadCommand, tc.want)
		assert.ErrorContains(t, err, tc.want)
	}
	cmd, err := ctrl.Do(ctx, fleet.Command{Action: sentinel.ActionPause, Who: "alice"})
	require.ErrorIs(t, err, fleet.ErrNotApplied)
	assert.Contains(t, err.Error(), "withdrawn")
	cmds, err := ctrl.Commands(ctx)
	require.NoError(t, err)
	assert.Empty(t, cmds, "%s is gone", cmd.ID)
	_, err = ctrl.Issue(ctx, fleet.Command{ID: "same", Action: sentinel.ActionPause})
	require.NoError(t, err)
	_, err = ctrl.Issue(ctx, fleet.Command{ID: "same", Action: sentinel.ActionAbort})
	assert.ErrorContains(t, err, "exists already")
	_, err = ctrl.Read(ctx)
	assert.ErrorContains(t, err, "no sentinel has led")
	assert.True(t, errors.Is(err, fleet.ErrBadState))
}

// The leader dies after applying a command and before committing it: the
// standby finds it unanswered and applies it, once. The history holds one
// pause, and every replica follows it.
func TestCommandAppliedOnceAcrossFailover(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 3, []string{srv.Endpoint()}, fleet.WithTTL(time.Second))
	aClient := newClient(t, srv.Endpoint())
	a := w.newLeader("sentinel-a", aClient)
	b := w.newLeader("sentinel-b", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	standby := make(chan error, 1)
	go func() { standby <- b.Campaign(ctx) }()
	_, err := w.tick(a, 100)
	require.NoError(t, err)

	ctrl, err := fleet.NewController(newClient(t, srv.Endpoint()), prefix, fleet.WithClock(w.clock))
	require.NoError(t, err)
	cmd, err := ctrl.Issue(ctx, fleet.Command{Action: sentinel.ActionPause, Who: "alice", Reason: "freeze"})
	require.NoError(t, err)
	fleet.SetBeforeCommit(a, func() { aClient.Close() }) // the process dies here
	_, err = w.tick(a, 100)
	require.Error(t, err, "the dead leader's commit fails")
	assert.Equal(t, sentinel.PhasePaused, a.Status().Sentinel.Phase, "it had applied the pause in memory")

	select {
	case err := <-standby:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the standby did not take over")
	}
	for i := 0; i < 5; i++ {
		if _, err = w.tick(b, 100); err == nil {
			break
		}
	}
	require.NoError(t, err)
	got, err := ctrl.Wait(ctx, cmd.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Result)
	assert.True(t, got.Result.Applied)
	assert.Equal(t, "sentinel-b", got.Result.Leader)
	assert.Equal(t, b.Status().Term, got.Result.Term)
	for range 3 {
		_, err = w.tick(b, 100)
		require.NoError(t, err)
	}
	hist, err := ctrl.History(ctx, 0)
	require.NoError(t, err)
	pauses := 0
	for _, e := range hist {
		if e.Action == sentinel.ActionPause {
			pauses++
			assert.Equal(t, "alice", e.Who)
			assert.Equal(t, "freeze", e.Reason)
		}
	}
	assert.Equal(t, 1, pauses, "applied exactly once")
	assert.Equal(t, []sentinel.Phase{sentinel.PhasePaused, sentinel.PhasePaused, sentinel.PhasePaused}, w.appliedPhases())
	for _, r := range w.replicas {
		assert.Equal(t, 1000, r.split.Weight("canary"), "%s holds the paused weight", r.name)
	}
}
