package fleet_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// background runs calls on every replica until stop is called (at most
// 50,000 a replica), counting failures.
func (w *world) background() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range w.replicas {
		client := demov1.NewDemoServiceClient(r.cc)
		wg.Go(func() {
			for range 50000 {
				select {
				case <-done:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
				cancel()
				r.calls.Add(1)
				if err != nil {
					r.failed.Add(1)
				}
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// reportAll makes every replica report at once and returns how many failed.
func (w *world) reportAll() int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, r := range w.replicas {
		wg.Go(func() {
			if r.reporter.Report(context.Background()) != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// etcd stops under load and starts again: every replica keeps its weights
// and says so while it is away, no call fails, the figures made meanwhile
// are reported when it is back, and the rollout goes on.
func TestEtcdStoppedAndRestartedUnderLoad(t *testing.T) {
	srv := startEtcd(t)
	w := newWorld(t, 5, []string{srv.Endpoint()}, fleet.WithTTL(10*time.Second), fleet.WithTimeout(300*time.Millisecond))
	a := w.newLeader("sentinel-a", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	var ev sentinel.Event
	var err error
	for range 2 {
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	require.Equal(t, 1, ev.Step)
	stop := w.background()
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	srv.Stop()
	changes := map[string][]int{}
	for _, r := range w.replicas {
		changes[r.name] = r.weightChanges()
	}
	for range 2 {
		w.clock.Advance(time.Second)
		assert.Equal(t, len(w.replicas), w.reportAll(), "no report goes through while etcd is away")
		_, err := a.Tick(ctx)
		assert.Error(t, err, "the leader cannot read the reports")
	}
	for _, r := range w.replicas {
		fs := r.follower.Status()
		assert.False(t, fs.Reachable, r.name)
		assert.NotEmpty(t, fs.Error, r.name)
		assert.False(t, fs.Since.IsZero(), r.name)
		assert.Equal(t, 1000, r.split.Weight("canary"), "%s keeps its weights", r.name)
		assert.True(t, r.reporter.Status().Pending, "%s holds its report", r.name)
	}

	require.NoError(t, srv.Restart())
	// Bounded: the clients reconnect with their own backoff.
	for i := 0; i < 50 && w.reportAll() > 0; i++ {
	}
	for _, r := range w.replicas {
		assert.Equal(t, changes[r.name], r.weightChanges(), "%s changed no weight while etcd was away", r.name)
		assert.True(t, r.follower.Status().Reachable, r.name)
		assert.False(t, r.reporter.Status().Pending, r.name)
	}
	stop()
	stopped = true
	for i := 0; i < 50; i++ { // the leader's client reconnects too
		if _, err = a.Tick(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)

	// The rollout goes on to the end.
	for i := 0; i < 20 && !ev.Phase.Final(); i++ {
		ev, err = w.tick(a, 100)
		require.NoError(t, err)
	}
	require.Equal(t, sentinel.PhasePromoted, ev.Phase, ev.Reason)
	st := a.Status()
	assert.Zero(t, st.Source.Lost, "no report lost")
	assert.Zero(t, st.Source.Rejected)
	assert.Equal(t, int64(1), st.Terms, "the leader kept its lease through the outage")
	var calls int64
	for _, r := range w.replicas {
		calls += r.calls.Load()
		assert.Equal(t, []int{1000, 5000, 10000}, r.weightChanges(), r.name)
	}
	assert.Zero(t, w.failures(), "no call failed because etcd was away (%d calls)", calls)
	t.Logf("%d calls, none failed", calls)
}

// etcd stops for longer than the leases' TTL: every client sees its lease
// expire, but etcd, once back, renews the leases it had. The replicas keep
// theirs, so the reports they wrote just before the outage, which the
// leader had not read yet, are still there when the leader returns:
// none is lost. (A replica used to take a new lease, and its unread
// reports left etcd with the old one.) The leader keeps its lease too,
// and with it its election key: it leads again in the same term.
func TestReportsOutliveAnOutageLongerThanTheLease(t *testing.T) {
	srv := startEtcd(t)
	const ttl = failoverTTL
	w := newWorld(t, 2, []string{srv.Endpoint()}, fleet.WithTTL(ttl))
	a := w.newLeader("sentinel-a", newClient(t, srv.Endpoint()))
	ctx := context.Background()
	require.NoError(t, a.Campaign(ctx))
	for range 2 {
		_, err := w.tick(a, 100)
		require.NoError(t, err)
	}
	term := a.Status().Term
	leases := map[string]int64{}
	for _, r := range w.replicas {
		leases[r.name] = r.reporter.Status().Lease
	}
	// Figures the leader has not read when etcd stops.
	w.clock.Advance(time.Second)
	w.load(100)
	require.Empty(t, w.report())

	srv.Stop()
	time.Sleep(ttl + time.Second) // every client's lease expires on its side (not an assertion: a wait)
	require.NoError(t, srv.Restart())
	// The leader sees its lease expire and campaigns again, reading no
	// report yet.
	_, err := a.Tick(ctx)
	campaign := func() {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for i := 0; a.Campaign(cctx) != nil; i++ { // its client reconnects with its own backoff
			require.Less(t, i, 100, "the leader does not campaign again")
		}
	}
	if errors.Is(err, fleet.ErrNotLeader) {
		campaign()
	}
	for i := 0; i < 50 && w.reportAll() > 0; i++ {
	}
	for _, r := range w.replicas {
		assert.Equal(t, leases[r.name], r.reporter.Status().Lease, "%s kept its lease", r.name)
	}
	time.Sleep(2 * ttl) // a lease nobody renewed would be gone by now
	for i := 0; i < 100; i++ {
		if !a.IsLeader() {
			campaign()
		}
		if _, err = a.Tick(ctx); err == nil {
			break
		}
	}
	require.NoError(t, err)
	assert.Equal(t, term, a.Status().Term, "the leader kept its lease, and with it its election key")
	st := a.Status().Source
	assert.Zero(t, st.Lost, "no report lost")
	assert.Zero(t, st.Rejected)
}
