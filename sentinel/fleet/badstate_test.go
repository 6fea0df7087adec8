package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// bareFollower follows the rollout with a Split of its own.
func bareFollower(t *testing.T, endpoint string, opts ...fleet.Option) (*fleet.Follower, *balancer.Split) {
	t.Helper()
	split := balancer.MustSplit(initial...)
	f, err := fleet.NewFollower(newClient(t, endpoint), prefix, split, append([]fleet.Option{fleet.WithLogger(quiet)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	require.NoError(t, f.Start(context.Background()))
	return f, split
}

// waitEvents waits until the follower has seen n watch events.
func waitEvents(t *testing.T, f *fleet.Follower, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return f.Status().Events >= n }, 10*time.Second, time.Millisecond)
}

func TestMalformedOrOutOfOrderStateIsRejected(t *testing.T) {
	srv := startEtcd(t)
	client := newClient(t, srv.Endpoint())
	clock := newFakeClock()
	opts := []fleet.Option{fleet.WithClock(clock), fleet.WithLogger(quiet)}
	a, err := fleet.NewLeader(client, prefix, "sentinel-a", initial, canary(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	followers := make([]*fleet.Follower, 2)
	splits := make([]*balancer.Split, 2)
	for i := range followers {
		followers[i], splits[i] = bareFollower(t, srv.Endpoint())
	}
	ev, err := a.Tick(ctx) // the canary starts: state 1 at 10 %
	require.NoError(t, err)
	require.Equal(t, sentinel.ActionStart, ev.Action)
	good := *a.Status().State
	for _, f := range followers {
		waitEvents(t, f, 1)
		st, ok := f.Applied()
		require.True(t, ok)
		require.Equal(t, good, st)
	}

	encode := func(edit func(*fleet.RolloutState)) string {
		s := good
		s.Weights = append([]balancer.Weight(nil), good.Weights...)
		edit(&s)
		b, err := json.Marshal(s)
		require.NoError(t, err)
		return string(b)
	}
	cases := []struct {
		name, value, want string
	}{
		{"not JSON", "{not json", "not valid JSON"},
		{"unknown field", `{"format":1,"colour":"red"}`, `unknown field "colour"`},
		{"format", encode(func(s *fleet.RolloutState) { s.Format = 2; s.Seq = 9 }), "rollout state format = 2: want 1"},
		{"same seq again", encode(func(s *fleet.RolloutState) { s.Weights[0].Weight, s.Weights[1].Weight = 5000, 5000 }), "seq 1 (term"},
		{"older seq", encode(func(s *fleet.RolloutState) { s.Seq = 0 }), "rollout state seq = 0: want 1 or more"},
		{"deposed leader", encode(func(s *fleet.RolloutState) { s.Seq, s.Term = 2, good.Term-1 }), fmt.Sprintf("below the applied term %d", good.Term)},
		{"weights sum", encode(func(s *fleet.RolloutState) { s.Seq, s.Weights[1].Weight = 2, 500 }), "sum to 9500, want 10000"},
		{"negative weight", encode(func(s *fleet.RolloutState) { s.Seq, s.Weights[0].Weight, s.Weights[1].Weight = 2, 10100, -100 }), "= 10100"},
		{"unknown version", encode(func(s *fleet.RolloutState) { s.Seq, s.Candidate, s.Weights[1].Version = 2, "green", "green" }), `version "green", which the split does not have`},
		{"phase", encode(func(s *fleet.RolloutState) { s.Seq, s.Phase = 2, "sideways" }), `rollout state phase = "sideways"`},
	}
	for i, tc := range cases {
		_, err := client.Put(ctx, prefix+"/state", tc.value)
		require.NoError(t, err)
		for j, f := range followers {
			waitEvents(t, f, int64(2+i))
			fs := f.Status()
			assert.Equal(t, int64(1+i), fs.Rejections, tc.name)
			assert.Contains(t, fs.Rejected, tc.want, tc.name)
			assert.Contains(t, fs.Rejected, "ninelives: bad fleet state", tc.name)
			assert.Equal(t, good, *fs.Applied, "%s: the last good state stays", tc.name)
			assert.Equal(t, 1000, splits[j].Weight("canary"), "%s: the last good weights stay", tc.name)
		}
	}

	// A deleted state keeps the weights too.
	_, err = client.Delete(ctx, prefix+"/state")
	require.NoError(t, err)
	for j, f := range followers {
		waitEvents(t, f, int64(2+len(cases)))
		assert.Equal(t, 1000, splits[j].Weight("canary"))
	}

	// A sentinel taking over a malformed state holds and says why.
	_, err = client.Put(ctx, prefix+"/state", "{not json")
	require.NoError(t, err)
	require.NoError(t, a.Resign(ctx))
	b, err := fleet.NewLeader(newClient(t, srv.Endpoint()), prefix, "sentinel-b", initial, canary(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, b.Campaign(ctx))
	_, err = b.Tick(ctx)
	require.ErrorIs(t, err, fleet.ErrBadState)
	assert.ErrorContains(t, err, prefix+"/state")
	assert.Contains(t, b.Status().Error, "not valid JSON")

	// Once the bad state is deleted, it resumes from its checkpoint and
	// publishes the same weights under the next seq.
	_, err = client.Delete(ctx, prefix+"/state")
	require.NoError(t, err)
	clock.Advance(time.Second)
	_, err = b.Tick(ctx)
	require.NoError(t, err)
	st := b.Status().State
	require.NotNil(t, st)
	assert.Equal(t, uint64(2), st.Seq)
	assert.Equal(t, 1000, st.Weight("canary"))
	assert.Equal(t, 1, st.Step)
	for j, f := range followers {
		require.Eventually(t, func() bool { s, _ := f.Applied(); return s.Seq == 2 }, 10*time.Second, time.Millisecond)
		assert.Equal(t, 1000, splits[j].Weight("canary"))
		assert.Equal(t, int64(len(cases)+1), f.Status().Rejections, "and the bad state written before the takeover")
	}
}
