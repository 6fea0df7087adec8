package promtest

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServerScrapesItsTargets(t *testing.T) {
	var n atomic.Int64
	target, err := NewTarget()
	require.NoError(t, err)
	defer func() { assert.NoError(t, target.Close()) }()
	target.Set(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE demo_total counter\ndemo_total %d\n", n.Load())
	}))
	n.Store(41)

	dir := t.TempDir()
	srv, err := Start(dir, Config{
		Targets:        []string{target.Addr()},
		Job:            "demo",
		ScrapeInterval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	defer srv.Stop()
	assert.True(t, strings.HasPrefix(srv.URL(), "http://127.0.0.1:"), srv.URL())
	assert.FileExists(t, filepath.Join(dir, "prometheus.yml"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitValue(ctx, `demo_total{job="demo"}`, 41))
	n.Store(42)
	require.NoError(t, srv.WaitValue(ctx, `demo_total{job="demo"}`, 42))
	v, ok, err := srv.value(ctx, `up{job="demo"}`)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)

	_, ok, err = srv.value(ctx, `absent_metric_total`)
	require.NoError(t, err)
	assert.False(t, ok, "an empty vector")
	_, _, err = srv.value(ctx, `sum(`)
	assert.ErrorContains(t, err, "parse error")

	// Without a handler the target serves no metrics: the series goes
	// stale and the target stays up.
	target.Set(nil)
	require.NoError(t, srv.WaitValue(ctx, `count(demo_total{job="demo"}) or vector(0)`, 0))
	v, _, err = srv.value(ctx, `up{job="demo"}`)
	require.NoError(t, err)
	assert.Equal(t, 1.0, v)

	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	err = srv.WaitValue(short, `demo_total{job="demo"}`, 7)
	assert.ErrorContains(t, err, "no sample")

	srv.Stop()
	srv.Stop() // twice is fine
	_, _, err = srv.value(ctx, "up")
	assert.Error(t, err, "the server is gone")
}

func TestStartWithoutTheBinaryNamesTheInstallScript(t *testing.T) {
	_, err := Start(t.TempDir(), Config{Binary: "/nonexistent/prometheus"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), installScript)
	assert.Contains(t, err.Error(), "/nonexistent/prometheus")
}

func TestStartRejectsBadConfig(t *testing.T) {
	_, err := Start(t.TempDir(), Config{Targets: []string{"no-port"}})
	assert.ErrorContains(t, err, `ninelives: bad promtest config: Targets[0] = "no-port": want host:port: `)
	// Prometheus takes whole milliseconds: anything else would be written
	// as another interval ("0ms" under one millisecond), so it is refused.
	for _, d := range []time.Duration{-time.Second, time.Nanosecond, 999 * time.Microsecond, 1500 * time.Microsecond} {
		dir := t.TempDir()
		srv, err := Start(dir, Config{ScrapeInterval: d})
		if srv != nil {
			srv.Stop()
		}
		assert.EqualError(t, err, "ninelives: bad promtest config: ScrapeInterval = "+d.String()+": want a whole number of milliseconds, at least 1ms", d)
		assert.NoFileExists(t, filepath.Join(dir, "prometheus.yml"), "refused before anything is written")
	}
}

func TestStartReportsAServerThatExits(t *testing.T) {
	_, err := Start(t.TempDir(), Config{Flags: []string{"--no-such-flag"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before it was ready")
	assert.Contains(t, err.Error(), "no-such-flag", "the server's own message")
}
