package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
)

// payload is the JSON body of an alert.
type payload struct {
	Source string         `json:"source"`
	Text   string         `json:"text"`
	Event  sentinel.Event `json:"event"`
}

// hookServer is a loopback HTTP server that answers with the statuses it is
// given, in turn, and keeps the bodies it got.
type hookServer struct {
	mu       sync.Mutex
	statuses []int
	bodies   []payload
	headers  []http.Header
	srv      *http.Server
	url      string
}

func startHook(t *testing.T, statuses ...int) *hookServer {
	t.Helper()
	h := &hookServer{statuses: statuses}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.url = "http://" + lis.Addr().String() + "/hook"
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = h.srv.Serve(lis) }()
	t.Cleanup(func() { h.srv.Close(); <-done })
	return h
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p payload
	err := json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil && r.Method == http.MethodPost {
		h.bodies = append(h.bodies, p)
		h.headers = append(h.headers, r.Header.Clone())
	}
	code := http.StatusOK
	if len(h.statuses) > 0 {
		code, h.statuses = h.statuses[0], h.statuses[1:]
	}
	w.WriteHeader(code)
}

func (h *hookServer) got() []payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]payload(nil), h.bodies...)
}

func TestWebhookRetriesAfterA500(t *testing.T) {
	h := startHook(t, http.StatusInternalServerError)
	wh, err := webhook.New(webhook.Config{URL: h.url, Backoff: time.Millisecond,
		Header: http.Header{"Authorization": {"Bearer s3cret"}}})
	require.NoError(t, err)
	e := sentinel.Event{Seq: 7, Action: sentinel.ActionRollback, Position: sentinel.Position{Phase: sentinel.PhaseRolledBack, Step: 2}, Reason: "errors: 5.0 % against 0.5 %"}
	require.NoError(t, wh.Alert(context.Background(), e))
	got := h.got()
	require.Len(t, got, 2, "the 500 was retried once")
	assert.Equal(t, got[0], got[1])
	assert.Equal(t, "ninelives", got[1].Source)
	assert.Equal(t, uint64(7), got[1].Event.Seq)
	assert.Equal(t, sentinel.ActionRollback, got[1].Event.Action)
	assert.Contains(t, got[1].Text, "rollback (rolled_back, step 2): errors: 5.0 % against 0.5 %")
	assert.Equal(t, "Bearer s3cret", h.headers[1].Get("Authorization"))
	assert.Equal(t, "application/json", h.headers[1].Get("Content-Type"))
}

func TestWebhookGivesUp(t *testing.T) {
	h := startHook(t, 503, 503, 503)
	wh, err := webhook.New(webhook.Config{URL: h.url, Attempts: 3, Backoff: time.Millisecond})
	require.NoError(t, err)
	err = wh.Alert(context.Background(), sentinel.Event{Seq: 1})
	assert.ErrorContains(t, err, "attempt 3 of 3: answered 503 Service Unavailable")
	assert.Len(t, h.got(), 3)

	h = startHook(t, http.StatusBadRequest)
	wh, err = webhook.New(webhook.Config{URL: h.url, Backoff: time.Millisecond})
	require.NoError(t, err)
	err = wh.Alert(context.Background(), sentinel.Event{Seq: 1})
	assert.ErrorContains(t, err, "attempt 1 of 4: answered 400 Bad Request", "a 4xx is not retried")

	for _, bad := range []webhook.Config{{URL: "ftp://x"}, {URL: "http://"}, {URL: "http://127.0.0.1:1", Attempts: -1}} {
		_, err := webhook.New(bad)
		assert.ErrorIs(t, err, webhook.ErrBadConfig)
	}
}

func TestWebhookThroughTheSentinel(t *testing.T) {
	h := startHook(t, http.StatusInternalServerError)
	wh, err := webhook.New(webhook.Config{URL: h.url, Backoff: time.Millisecond})
	require.NoError(t, err)
	s := startedSentinel(t, sentinel.WithAlerters(wh))
	require.NoError(t, s.Abort(context.Background(), "alice", "bad build"))
	require.NoError(t, s.Close(), "Close delivers what is queued")
	got := h.got()
	require.Len(t, got, 2, "one abort alert, retried once after the 500")
	assert.Equal(t, sentinel.ActionAbort, got[1].Event.Action)
	assert.Equal(t, "alice", got[1].Event.Who)
	assert.Equal(t, sentinel.PhaseAborted, got[1].Event.Phase)
	assert.Contains(t, got[1].Text, "ninelives abort (aborted, step 1)")
}

// startedSentinel is a canary's sentinel on a test clock that has taken
// its first step.
func startedSentinel(t *testing.T, opts ...sentinel.Option) *sentinel.Sentinel {
	t.Helper()
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	src := new(sentineltest.Source)
	src.Set(&telemetry.Window{}, nil)
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	opts = append([]sentinel.Option{sentinel.WithClock(sentineltest.NewClock(time.Unix(1e9, 0))),
		sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	s, err := sentinel.New(split, src, canary, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Equal(t, sentinel.ActionStart, s.Tick(context.Background()).Action)
	return s
}

// A webhook URL often carries its secret (a token in the query string, a
// user and password): no error or log line ever shows it, only the
// scheme, host and path.
func TestWebhookNeverShowsItsSecret(t *testing.T) {
	h := startHook(t, 500, 500, 500, 500, 500, 500)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + lis.Addr().String()
	require.NoError(t, lis.Close())
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	for _, base := range []string{h.url, closed + "/hook"} {
		u, err := url.Parse(base)
		require.NoError(t, err)
		u.User = url.UserPassword("bot", "pa55word")
		u.RawQuery = "token=s3cret&channel=ops"
		u.Fragment = "frag-s3cret"
		wh, err := webhook.New(webhook.Config{URL: u.String(), Attempts: 2, Backoff: time.Millisecond})
		require.NoError(t, err)
		err = wh.Alert(context.Background(), sentinel.Event{Seq: 1})
		require.Error(t, err)
		assert.Contains(t, err.Error(), u.Host+"/hook", "the error names scheme, host and path")
		for _, secret := range []string{"s3cret", "pa55word", "bot:", "channel"} {
			assert.NotContains(t, err.Error(), secret)
		}

		s := startedSentinel(t, sentinel.WithAlerters(wh), sentinel.WithLogger(logger))
		require.NoError(t, s.Abort(context.Background(), "alice", "test"))
		require.NoError(t, s.Close())
	}
	assert.Contains(t, logs.String(), "alerter failed", "the failures were logged")
	for _, secret := range []string{"s3cret", "pa55word", "bot:"} {
		assert.NotContains(t, logs.String(), secret)
	}

	for _, bad := range []string{"ftp://bot:pa55word@example.com/hook?token=s3cret", "http://bot:pa55word@/x?token=s3cret", "http://[::1%zz]/x?token=s3cret", "hook?token=s3cret"} {
		_, err := webhook.New(webhook.Config{URL: bad})
		require.ErrorIs(t, err, webhook.ErrBadConfig, bad)
		assert.NotContains(t, err.Error(), "s3cret", bad)
		assert.NotContains(t, err.Error(), "pa55word", bad)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
