package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// primary is a window of n primary calls of each version.
func primary(n int64) *telemetry.Window {
	w := &telemetry.Window{}
	for _, v := range []string{"stable", "canary"} {
		w.MutableVersion(v).MutableRole(balancer.RolePrimary).Calls = n
	}
	return w
}

// A replica whose metric source fails says so: in its status, in a report
// the leader reads, and so in the leader's status and, when no replica can
// count, as the sentinel's source failure, which holds the rollout and
// alerts. (It used to write nothing and log at debug level only, so the
// leader just saw no reports.)
func TestReporterWhoseSourceFailsIsSeen(t *testing.T) {
	srv := startEtcd(t)
	clock := newFakeClock()
	opts := []fleet.Option{fleet.WithClock(clock), fleet.WithLogger(quiet)}
	srcs := map[string]*sentineltest.Source{"replica-a": {}, "replica-b": {}}
	reporters := map[string]*fleet.Reporter{}
	for name, src := range srcs {
		c := newClient(t, srv.Endpoint())
		f, err := fleet.NewFollower(c, prefix, balancer.MustSplit(initial...), opts...)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		r, err := fleet.NewReporter(c, prefix, name, src, f, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		reporters[name] = r
	}
	l, err := fleet.NewLeader(newClient(t, srv.Endpoint()), prefix, "sentinel-a", initial, canary(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	require.NoError(t, l.Campaign(ctx))

	down := errors.New("the meter provider is shut down")
	for _, src := range srcs {
		src.Set(nil, down)
	}
	for name, r := range reporters {
		err := r.Report(ctx)
		require.ErrorIs(t, err, down, name)
		st := r.Status()
		assert.Equal(t, int64(1), st.Failures, name)
		assert.Contains(t, st.SourceError, down.Error(), name)
		assert.Contains(t, st.LastError, down.Error(), name)
		assert.Equal(t, uint64(1), st.Written, "%s wrote a report that carries the failure", name)
	}
	clock.Advance(time.Second)
	ev, err := l.Tick(ctx)
	require.Error(t, err)
	assert.Equal(t, sentinel.ActionSourceFail, ev.Action, "no replica can count: the sentinel's source fails")
	assert.True(t, ev.Alert)
	assert.Contains(t, ev.Reason, "2 of 2 replicas")
	assert.Contains(t, ev.Reason, down.Error())
	st := l.Status()
	assert.Equal(t, 2, st.Source.Failing)
	assert.Contains(t, st.Source.LastSourceError, down.Error())

	// One recovers: the leader judges its figures and still shows the other.
	srcs["replica-a"].Set(primary(10), nil)
	for _, r := range reporters {
		_ = r.Report(ctx)
	}
	assert.Empty(t, reporters["replica-a"].Status().SourceError, "recovered")
	clock.Advance(time.Second)
	ev, err = l.Tick(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, sentinel.ActionSourceFail, ev.Action)
	st = l.Status()
	assert.Equal(t, 1, st.Source.Failing)
	assert.Contains(t, st.Source.LastSourceError, "replica-b")
}
