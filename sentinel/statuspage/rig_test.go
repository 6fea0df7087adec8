package statuspage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
	"github.com/ninelives-go/ninelives/telemetry"
)

const testToken = "s3cret-token-0123456789"

type (
	fakeClock  = sentineltest.Clock
	fakeSource = sentineltest.Source
)

// shadowLog stands in for the shadow interceptor as the status's source of
// mismatch samples and noisy fields.
type shadowLog struct {
	mu         sync.Mutex
	mismatches []shadow.Mismatch
	noisy      map[string][]string
}

func (s *shadowLog) add(m shadow.Mismatch) {
	s.mu.Lock()
	s.mismatches = append(s.mismatches, m)
	s.mu.Unlock()
}

func (s *shadowLog) Mismatches() []shadow.Mismatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]shadow.Mismatch(nil), s.mismatches...)
}

func (s *shadowLog) NoisyFields() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, v := range s.noisy {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func (s *shadowLog) Stats() shadow.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return shadow.Stats{Candidate: "canary", Baseline: "stable", Rate: 0.2,
		Comparisons: map[string]int64{shadow.ResultMatch: 40, shadow.ResultMismatch: int64(len(s.mismatches))},
		Dropped:     map[string]int64{}}
}

// expHist is an exponential histogram (scale 3) of n values of v seconds.
func expHist(n uint64, v float64) telemetry.Histogram {
	if n == 0 {
		return telemetry.Histogram{}
	}
	idx := int32(math.Ceil(math.Log2(v)*8)) - 1
	return telemetry.Histogram{Count: n, Sum: float64(n) * v, Min: v, Max: v, Scale: 3, Offset: idx, Counts: []uint64{n}}
}

// window is one tick's calls and errors per version, all at one latency.
func window(baseCalls, baseErrs, candCalls, candErrs int64, baseLat, candLat float64) *telemetry.Window {
	role := func(calls, errs int64, lat float64) *telemetry.VersionStats {
		return &telemetry.VersionStats{Roles: map[balancer.Role]*telemetry.RoleStats{
			balancer.RolePrimary: {Calls: calls, Errors: errs, Latency: expHist(uint64(calls), lat)},
		}}
	}
	return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		"stable": role(baseCalls, baseErrs, baseLat),
		"canary": role(candCalls, candErrs, candLat),
	}}
}

// rig is a real sentinel (canary strategy) on a fake clock and source,
// served by the status handler on a loopback test server.
type rig struct {
	t      *testing.T
	split  *balancer.Split
	src    *fakeSource
	clock  *fakeClock
	shadow *shadowLog
	s      *sentinel.Sentinel
	h      *statuspage.Handler
	srv    *httptest.Server
}

func newRig(t *testing.T, opts ...statuspage.Option) *rig {
	t.Helper()
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: time.Minute, MinStepCalls: 100})
	require.NoError(t, err)
	return newRigWith(t, canary, opts...)
}

// newRigWith is newRig with a strategy of the test's own.
func newRigWith(t *testing.T, strategy sentinel.Strategy, opts ...statuspage.Option) *rig {
	t.Helper()
	r := &rig{t: t,
		split:  balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"}),
		src:    new(fakeSource),
		clock:  sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		shadow: &shadowLog{noisy: map[string][]string{"/ninelives.demo.v1.DemoService/GetItem": {"generated_at"}}},
	}
	var err error
	r.s, err = sentinel.New(r.split, r.src, strategy,
		sentinel.WithClock(r.clock),
		sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.s.Close() })
	r.h, err = statuspage.New(r.s, testToken, append([]statuspage.Option{statuspage.WithShadow(r.shadow)}, opts...)...)
	require.NoError(t, err)
	r.srv = httptest.NewServer(r.h)
	t.Cleanup(r.srv.Close)
	return r
}

// tick moves the clock a second and ticks the sentinel on w.
func (r *rig) tick(w *telemetry.Window) sentinel.Event {
	r.clock.Advance(time.Second)
	r.src.Set(w, nil)
	return r.s.Tick(context.Background())
}

// start ticks the rollout into its first step (1 % to the canary) and a few
// ticks more, so the history has figures.
func (r *rig) start() {
	r.t.Helper()
	for range 5 {
		r.tick(window(900, 9, 100, 0, 0.025, 0.020))
	}
	require.Equal(r.t, sentinel.PhaseProgressing, r.s.Status().Phase)
	require.Equal(r.t, 100, r.split.Weight("canary"))
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (rp reply) errorText(t *testing.T) string {
	t.Helper()
	var e statuspage.ErrorBody
	require.NoError(t, json.Unmarshal(rp.body, &e), "body %s", rp.body)
	return e.Error
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request; hdr holds extra headers as name, value pairs.
func (r *rig) do(method, path, token, body string, hdr ...string) reply {
	r.t.Helper()
	return doURL(r.t, method, r.srv.URL+path, token, body, hdr...)
}

func doURL(t *testing.T, method, url, token, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// A header named once replaces the default; named twice, it is sent
	// twice; with an empty value, it is left out.
	seen := map[string]bool{}
	for i := 0; i+1 < len(hdr); i += 2 {
		switch {
		case hdr[i+1] == "":
			req.Header.Del(hdr[i])
		case seen[hdr[i]]:
			req.Header.Add(hdr[i], hdr[i+1])
		default:
			req.Header.Set(hdr[i], hdr[i+1])
		}
		seen[hdr[i]] = true
	}
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	require.NoError(t, err)
	return reply{code: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}
