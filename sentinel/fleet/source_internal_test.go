package fleet

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// calls is a window with n primary calls of version.
func calls(version string, n int64) *telemetry.Window {
	return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		version: {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: n}}},
	}}
}

func etcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := fleettest.Client(srv.Endpoint())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func putReport(t *testing.T, c *clientv3.Client, k keys, replica, epoch string, seq uint64, lease clientv3.LeaseID, segs ...segment) {
	t.Helper()
	b, err := json.Marshal(report{Format: StateFormat, Replica: replica, Epoch: epoch, Seq: seq, Segments: segs})
	require.NoError(t, err)
	var opts []clientv3.OpOption
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(lease))
	}
	_, err = c.Put(context.Background(), k.report(replica, epoch, seq), string(b), opts...)
	require.NoError(t, err)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestSourceCountsEachReportOnce(t *testing.T) {
	c := etcdClient(t)
	k, err := newKeys("/t")
	require.NoError(t, err)
	src, err := NewSource(c, "/t", WithLogger(quietLog))
	require.NoError(t, err)
	ctx := context.Background()
	canary := func(w *telemetry.Window) int64 { return w.Version("canary").Role(balancer.RolePrimary).Calls }

	putReport(t, c, k, "r1", "e1", 1, 0, segment{State: 0, Window: calls("canary", 10)})
	putReport(t, c, k, "r1", "e1", 2, 0, segment{State: 0, Window: calls("canary", 20)})
	putReport(t, c, k, "r2", "e1", 1, 0, segment{State: 0, Window: calls("canary", 5)}, segment{State: 1, Window: calls("canary", 7)})
	w, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(10+20+5+7), canary(w), "every segment counts when no state is singled out")
	assert.Equal(t, 2, src.Stats().Replicas)

	// Written again (a retried write): not counted again. A gap: lost.
	putReport(t, c, k, "r1", "e1", 2, 0, segment{State: 1, Window: calls("canary", 20)})
	putReport(t, c, k, "r1", "e1", 5, 0, segment{State: 1, Window: calls("canary", 3)})
	src.onlyState(1)
	putReport(t, c, k, "r2", "e1", 2, 0, segment{State: 0, Window: calls("canary", 100)}, segment{State: 1, Window: calls("canary", 1)},
		segment{State: 1, Mixed: true, Window: calls("canary", 1000)})
	// A new epoch of r1 (the process restarted) starts from 1 again.
	putReport(t, c, k, "r1", "e2", 1, 0, segment{State: 1, Window: calls("canary", 40)})
	// Malformed: a bad key, bad JSON, a report under another's key.
	_, err = c.Put(ctx, "/t/reports/r3/e1/xyz", "{}")
	require.NoError(t, err)
	_, err = c.Put(ctx, k.report("r4", "e1", 1), "{not json")
	require.NoError(t, err)
	b, _ := json.Marshal(report{Format: StateFormat, Replica: "r9", Epoch: "e1", Seq: 1})
	_, err = c.Put(ctx, k.report("r5", "e1", 1), string(b))
	require.NoError(t, err)

	w, err = src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3+1+40), canary(w), "only the new reports' figures made under state 1")
	st := src.Stats()
	assert.Equal(t, int64(2), st.Lost, "r1/e1 reports 3 and 4 never arrived")
	assert.Equal(t, int64(2), st.LeftOut, "r2's figures under state 0 and its mixed figures")
	assert.Equal(t, int64(3), st.Rejected)
	assert.Contains(t, st.LastBad, "says it is r9/e1/1")
	assert.Equal(t, int64(6), st.Reports)

	// Nothing new: an empty window, nothing counted twice.
	w, err = src.Collect(ctx)
	require.NoError(t, err)
	assert.Zero(t, canary(w))
	assert.Zero(t, src.Stats().Replicas)
}

// A replica that dies takes its unread reports with it when its lease
// expires: its figures stop counting.
func TestDeadReplicaStopsCounting(t *testing.T) {
	c := etcdClient(t)
	k, _ := newKeys("/t")
	src, err := NewSource(c, "/t", WithLogger(quietLog))
	require.NoError(t, err)
	ctx := context.Background()
	dead, err := c.Grant(ctx, 1) // never renewed
	require.NoError(t, err)
	live, err := c.Grant(ctx, 60)
	require.NoError(t, err)
	putReport(t, c, k, "live", "e", 1, live.ID, segment{Window: calls("stable", 10)})
	putReport(t, c, k, "dead", "e", 1, dead.ID, segment{Window: calls("stable", 1000)})
	require.Eventually(t, func() bool {
		r, err := c.Get(ctx, k.reports()+"dead/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 0
	}, 20*time.Second, 10*time.Millisecond, "the dead replica's lease expires")
	w, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(10), w.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.Equal(t, 1, src.Stats().Replicas)
}

func TestKeys(t *testing.T) {
	k, err := newKeys("/ninelives/orders")
	require.NoError(t, err)
	key := k.report("replica-1", "ab12", 300)
	assert.Equal(t, "/ninelives/orders/reports/replica-1/ab12/000000000000012c", key)
	r, e, seq, err := k.parseReport(key)
	require.NoError(t, err)
	assert.Equal(t, []any{"replica-1", "ab12", uint64(300)}, []any{r, e, seq})
	for _, bad := range []string{"/ninelives/orders/reports/r/e", "/ninelives/orders/reports/r/e/0000000000000000", "/ninelives/orders/reports/r!/e/000000000000012c", "/other/reports/r/e/000000000000012c"} {
		_, _, _, err := k.parseReport(bad)
		assert.ErrorIs(t, err, ErrBadState, bad)
	}
}
