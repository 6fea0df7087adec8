package fleet_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
)

// hangingReceiver is an alert webhook on loopback that takes every request
// and answers none until it is released (or the request is cancelled).
type hangingReceiver struct {
	srv      *httptest.Server
	client   *http.Client
	got      chan struct{} // one value per request, while there is room
	inflight atomic.Int64  // requests taken and not answered
	release  chan struct{}
	once     sync.Once
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	h := &hangingReceiver{client: &http.Client{}, got: make(chan struct{}, 64), release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.inflight.Add(1)
		defer h.inflight.Add(-1)
		select {
		case h.got <- struct{}{}:
		default:
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		h.open()
		h.srv.Close()
		h.client.CloseIdleConnections()
	})
	return h
}

// open releases every request, now and later.
func (h *hangingReceiver) open() { h.once.Do(func() { close(h.release) }) }

// alerter is a webhook alerter to the receiver that tries once and waits
// as long as the sentinel lets it.
func (h *hangingReceiver) alerter(t *testing.T) sentinel.Alerter {
	a, err := webhook.New(webhook.Config{URL: h.srv.URL + "/hook", Client: h.client, Timeout: time.Hour, Attempts: 1})
	require.NoError(t, err)
	return a
}

// waitRequest waits until the receiver has taken a request.
func (h *hangingReceiver) waitRequest(t *testing.T) {
	t.Helper()
	select {
	case <-h.got:
	case <-time.After(30 * time.Second):
		t.Fatal("no alert reached the receiver")
	}
}

// hungLeader is a leader judging src whose alerts go to the hanging
// receiver, which never answers in time: alerts may take an hour, Close
// closeTimeout.
func hungLeader(t *testing.T, client *clientv3.Client, h *hangingReceiver, src *sentineltest.Source, closeTimeout time.Duration, opts ...fleet.Option) *fleet.Leader {
	t.Helper()
	opts = append([]fleet.Option{fleet.WithClock(newFakeClock()), fleet.WithLogger(quiet), fleet.WithTimeout(time.Second), fleet.WithSource(src),
		fleet.WithSentinelOptions(sentinel.WithAlerters(h.alerter(t)), sentinel.WithAlertTimeout(time.Hour), sentinel.WithCloseTimeout(closeTimeout))}, opts...)
	l, err := fleet.NewLeader(client, prefix, "sentinel-a", initial, canary(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// alertHung makes the leader raise an alert (its metric source fails)
// and waits until the receiver holds it; then the source recovers.
func alertHung(t *testing.T, l *fleet.Leader, h *hangingReceiver, src *sentineltest.Source) {
	t.Helper()
	src.Set(nil, errors.New("the metric source is down"))
	_, err := l.Tick(context.Background())
	require.Error(t, err)
	h.waitRequest(t)
	src.Set(nil, nil)
}

// Close lets go of the leader before it waits for the alerts to drain: a
// Tick called while Close waits on a hanging receiver answers at once
// that it does not lead. (Close used to shut the sentinel down while it
// held the leader's run lock, so every Tick, Campaign and Resign waited on
// the alert receiver.)
func TestCloseLetsGoOfTheLeaderBeforeAlertsDrain(t *testing.T) {
	srv := startEtcd(t)
	client := newClient(t, srv.Endpoint())
	h := newHangingReceiver(t)
	defer h.open() // before the leader's Close runs at cleanup, should the test fail
	src := &sentineltest.Source{}
	l := hungLeader(t, client, h, src, time.Hour)
	require.NoError(t, l.Campaign(context.Background()))
	alertHung(t, l, h, src)

	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	// The lease is revoked last, before the sentinel is shut down.
	require.Eventually(t, func() bool {
		resp, err := client.Leases(context.Background())
		return err == nil && len(resp.Leases) == 0
	}, 30*time.Second, 5*time.Millisecond, "Close revokes the sentinel's lease")

	ticked := make(chan error, 1)
	go func() {
		_, err := l.Tick(context.Background())
		ticked <- err
	}()
	select {
	case err := <-ticked:
		assert.ErrorIs(t, err, fleet.ErrNotLeader)
	case err := <-closed:
		t.Fatalf("Close returned (%v) before a Tick could: the Tick waited on the alert receiver", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Tick waited on Close, which waits on the alert receiver")
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the receiver still held the alert", err)
	default:
	}
	h.open()
	require.NoError(t, <-closed, "the alert was delivered once the receiver answered")
}

// An etcd outage longer than the leader's lease: the leader steps down,
// and once etcd is back it leads and ticks again while the receiver still
// holds the alert it took before the outage; Close then returns within its
// bound and says which alerts it could not deliver.
func TestRecoveryAndCloseDoNotWaitOnTheAlertReceiver(t *testing.T) {
	srv := startEtcd(t)
	h := newHangingReceiver(t)
	defer h.open() // before the leader's Close runs at cleanup, should the test fail
	src := &sentineltest.Source{}
	const closeTimeout = 200 * time.Millisecond
	l := hungLeader(t, newClient(t, srv.Endpoint()), h, src, closeTimeout, fleet.WithTTL(2*time.Second), fleet.WithTimeout(300*time.Millisecond))
	ctx := context.Background()
	require.NoError(t, l.Campaign(ctx))
	alertHung(t, l, h, src)
	_, err := l.Tick(ctx)
	require.NoError(t, err)

	srv.Stop()
	for i := 0; !errors.Is(err, fleet.ErrNotLeader); i++ {
		require.Less(t, i, 500, "the leader never saw its lease expire")
		_, err = l.Tick(ctx)
		require.Error(t, err, "etcd is away")
	}
	require.NoError(t, srv.Restart())
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, l.Campaign(cctx), "the leader campaigns again once etcd is back")
	_, err = l.Tick(ctx)
	for i := 0; err != nil; i++ { // its client reconnects with its own backoff
		require.Less(t, i, 100, "the leader does not tick again: %v", err)
		_, err = l.Tick(ctx)
	}
	st := l.Status()
	assert.True(t, st.Leading)
	assert.Equal(t, int64(2), st.Terms, "a second term")
	assert.Positive(t, h.inflight.Load(), "recovered while the receiver still holds the alert")

	start := time.Now()
	err = l.Close()
	took := time.Since(start)
	var se *sentinel.ShutdownError
	require.ErrorAs(t, err, &se)
	assert.NotEmpty(t, se.Undelivered, "Close names the alerts it could not deliver")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Positive(t, h.inflight.Load(), "Close returned while the receiver still held the alert")
	// Generous: the bound is two etcd timeouts and the close timeout, far
	// below the alert's hour.
	assert.Less(t, took, 30*time.Second)
}

// stuckSource is a metric source whose Collect blocks, ignoring its
// context, until it is released.
type stuckSource struct {
	entered, release chan struct{}
}

func (s *stuckSource) Collect(context.Context) (*telemetry.Window, error) {
	s.entered <- struct{}{}
	<-s.release
	return &telemetry.Window{}, nil
}

// A tick stuck in a metric source that ignores its context does not hold
// Close: it returns within its bound and says the tick was left running.
func TestCloseDoesNotWaitForAStuckTick(t *testing.T) {
	srv := startEtcd(t)
	src := &stuckSource{entered: make(chan struct{}, 1), release: make(chan struct{})}
	l, err := fleet.NewLeader(newClient(t, srv.Endpoint()), prefix, "sentinel-a", initial, canary(t),
		fleet.WithClock(newFakeClock()), fleet.WithLogger(quiet), fleet.WithTimeout(200*time.Millisecond), fleet.WithSource(src),
		fleet.WithSentinelOptions(sentinel.WithCloseTimeout(200*time.Millisecond)))
	require.NoError(t, err)
	require.NoError(t, l.Campaign(context.Background()))
	ticked := make(chan error, 1)
	go func() {
		_, err := l.Tick(context.Background())
		ticked <- err
	}()
	var release sync.Once
	defer release.Do(func() { close(src.release); <-ticked })
	<-src.entered

	err = l.Close()
	assert.ErrorContains(t, err, "a tick still running after 200ms is left to end on its own")
	var se *sentinel.ShutdownError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, []string{"a tick"}, se.Running)
	assert.False(t, l.IsLeader())
	select {
	case err := <-ticked:
		t.Fatalf("the tick ended (%v) before its source was released", err)
	default:
	}
	release.Do(func() { close(src.release) })
	assert.ErrorIs(t, <-ticked, fleet.ErrNotLeader, "the stuck tick, once released, commits nothing")
}
