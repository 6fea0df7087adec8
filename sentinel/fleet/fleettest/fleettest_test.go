package fleettest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStopAndRestartKeepTheData(t *testing.T) {
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	defer srv.Stop()
	c, err := fleettest.Client(srv.Endpoint())
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	rev0 := srv.Revision()
	_, err = c.Put(ctx, "k", "v")
	require.NoError(t, err)
	assert.Equal(t, rev0+1, srv.Revision(), "one write, one revision")
	assert.True(t, srv.IsLeader(), "a one-member cluster leads itself")

	srv.Stop()
	assert.False(t, srv.Running())
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = c.Get(short, "k")
	cancel()
	assert.Error(t, err, "nothing answers while the member is stopped")

	require.NoError(t, srv.Restart())
	var got string
	for range 50 { // the client reconnects with its own backoff
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		resp, err := c.Get(wctx, "k")
		cancel()
		if err == nil && len(resp.Kvs) == 1 {
			got = string(resp.Kvs[0].Value)
			break
		}
	}
	assert.Equal(t, "v", got, "the data survived the restart")
}

func TestClusterElectsOneLeader(t *testing.T) {
	members, err := fleettest.StartCluster(t.TempDir(), 3)
	require.NoError(t, err)
	defer func() {
		for _, m := range members {
			m.Stop()
		}
	}()
	require.Len(t, fleettest.Endpoints(members), 3)
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range members {
			if m.IsLeader() {
				n++
			}
		}
		return n == 1
	}, 10*time.Second, time.Millisecond)
	_, err = fleettest.StartCluster(t.TempDir(), 0)
	assert.ErrorContains(t, err, "cluster of 0 members")
}
