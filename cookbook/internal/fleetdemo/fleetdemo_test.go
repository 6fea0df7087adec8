package fleetdemo

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTwoClaimsOfAPrefixCannotBothPass claims one prefix from several
// runs at once: exactly one claim holds, and the others are refused with
// the prefix's name.
func TestTwoClaimsOfAPrefixCannotBothPass(t *testing.T) {
	srv, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	defer srv.Stop()
	endpoints := []string{srv.Endpoint()}
	prefix := NewPrefix(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	require.NoError(t, claimPrefix(context.Background(), endpoints, prefix, "run 1"))
	err = claimPrefix(context.Background(), endpoints, prefix, "run 2")
	require.Error(t, err, "a second claim of the same prefix")
	assert.EqualError(t, err, "ninelives: etcd already holds 1 keys under "+prefix+
		" (an earlier run's rollout, or another run's claim?): use another prefix")

	c, err := fleettest.Client(endpoints...)
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Get(context.Background(), prefix+OwnerKey)
	require.NoError(t, err)
	require.Len(t, r.Kvs, 1)
	assert.Equal(t, "run 1", string(r.Kvs[0].Value), "the first claim holds")

	// Claims at the same moment: one wins.
	prefix = NewPrefix(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = claimPrefix(context.Background(), endpoints, prefix, fmt.Sprintf("run %d", i)) })
	}
	wg.Wait()
	var won int
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.ErrorContains(t, err, "under "+prefix+" ")
		}
	}
	assert.Equal(t, 1, won, "exactly one of the runs claims the prefix: %v", errs)
}

func TestRegressionsAreTheSharedOnesButDiff(t *testing.T) {
	for _, r := range demo.Regressions {
		got, err := ParseRegression(string(r))
		if r == demo.RegressionDiff {
			assert.ErrorContains(t, err, "diff would go unseen")
			continue
		}
		require.NoError(t, err, r)
		assert.Equal(t, r, got)
	}
}
