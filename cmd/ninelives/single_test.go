package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
	"github.com/ninelives-go/ninelives/telemetry"
)

const token = "cli-test-token-0123456789"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// buffer is a writer safe for a watch's goroutine and the test's reads.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// result is one run of the program.
type result struct {
	code        int
	out, errOut string
}

// cli runs the program with args and the environment variables vars
// (name, value pairs).
func cli(t *testing.T, args []string, vars ...string) result {
	t.Helper()
	var out, errOut buffer
	code := run(context.Background(), args, env{out: &out, errOut: &errOut, getenv: getenv(vars...)})
	return result{code, out.String(), errOut.String()}
}

func getenv(vars ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(vars); i += 2 {
			if vars[i] == k {
				return vars[i+1]
			}
		}
		return ""
	}
}

// window is a healthy tick of both versions.
func window(split *balancer.Split) *telemetry.Window {
	w := &telemetry.Window{}
	for _, v := range []string{"stable", "canary"} {
		n := int64(split.Weight(v)/10) + 1
		w.MutableVersion(v).MutableRole(balancer.RolePrimary).Calls = n
	}
	return w
}

// single is one process's sentinel, served by its status page.
type single struct {
	split *balancer.Split
	src   *sentineltest.Source
	clock *sentineltest.Clock
	s     *sentinel.Sentinel
	url   string
}

func newSingle(t *testing.T) *single {
	r := &single{split: balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"}),
		src: new(sentineltest.Source), clock: sentineltest.NewClock(time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC))}
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{100, 2500, 10000}, MinStepDuration: time.Hour})
	require.NoError(t, err)
	r.s, err = sentinel.New(r.split, r.src, c, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet))
	require.NoError(t, err)
	t.Cleanup(func() { r.s.Close() })
	h, err := statuspage.New(r.s, token, statuspage.WithPrefix("/rollout"))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/rollout"
	return r
}

func (r *single) tick() sentinel.Event {
	r.clock.Advance(time.Second)
	r.src.Set(window(r.split), nil)
	return r.s.Tick(context.Background())
}

// The command drives one process's rollout through its status page:
// status, pause, set-weight, resume, promote, history, with the exit code
// of each refusal.
func TestCLIDrivesASingleProcess(t *testing.T) {
	r := newSingle(t)
	r.tick()
	srv := []string{"--server", r.url}
	tok := []string{"NINELIVES_TOKEN", token}

	res := cli(t, append([]string{"status"}, srv...))
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Contains(t, res.out, "phase     progressing, step 1 of 3 (1%)")
	assert.Contains(t, res.out, "plan      [1%] → 25% → 100%")
	assert.Contains(t, res.out, "weights   stable 99%  canary 1%")

	res = cli(t, append([]string{"pause", "--who", "alice", "--reason", "checking"}, srv...), tok...)
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, "pause by alice: the rollout is paused, step 1; stable 99%  canary 1%\n", res.out)
	res = cli(t, append([]string{"pause"}, srv...), tok...)
	assert.Equal(t, exitRefused, res.code, "paused already: %s", res.errOut)
	assert.Contains(t, res.errOut, "pause from paused to paused")

	res = cli(t, append(srv, "set-weight", "2500", "--who", "bob"), tok...)
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, 2500, r.split.Weight("canary"))
	res = cli(t, append([]string{"resume", "--who", "bob"}, srv...), tok...)
	require.Equal(t, exitOK, res.code, res.errOut)
	res = cli(t, append([]string{"promote", "-o", "json", "--who", "carol", "--reason", "ship"}, srv...), tok...)
	require.Equal(t, exitOK, res.code, res.errOut)
	var d done
	require.NoError(t, json.Unmarshal([]byte(res.out), &d))
	assert.Equal(t, sentinel.PhasePromoted, d.Phase)
	require.NotNil(t, d.Event)
	assert.Equal(t, "ship", d.Event.Reason)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	res = cli(t, append([]string{"abort"}, srv...), tok...)
	assert.Equal(t, exitRefused, res.code)
	assert.Contains(t, res.errOut, "final")

	res = cli(t, append([]string{"history"}, srv...))
	require.Equal(t, exitOK, res.code, res.errOut)
	for _, want := range []string{"pause        alice      checking", "set_weights  bob", "resume       bob", "promote      carol      ship"} {
		assert.Contains(t, res.out, want)
	}
	res = cli(t, append([]string{"status", "--output", "json"}, srv...))
	require.Equal(t, exitOK, res.code)
	var v view
	require.NoError(t, json.Unmarshal([]byte(res.out), &v))
	assert.Equal(t, sentinel.PhasePromoted, v.Phase)

	// Another rollout, aborted.
	r2 := newSingle(t)
	r2.tick()
	res = cli(t, []string{"abort", "--server", r2.url, "--reason", "bad dashboards"}, tok...)
	require.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, sentinel.PhaseAborted, r2.s.Status().Phase)
	assert.Equal(t, 0, r2.split.Weight("canary"))
}

// On a terminal, status --watch redraws in place.
func TestWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	var out buffer
	s := settings{output: "text"}
	s.frame(env{out: &out, tty: true}, &view{Status: sentinel.Status{Position: sentinel.Position{Phase: sentinel.PhasePaused}}}, nil)
	assert.True(t, strings.HasPrefix(out.String(), "\x1b[H\x1b[2J"), "%q", out.String())
	assert.Contains(t, out.String(), "phase     paused")
}

// Wrong token, no token, an unreachable server, bad arguments: each has
// its exit code and says what to do, and the token is never echoed.
func TestCLIErrors(t *testing.T) {
	r := newSingle(t)
	r.tick()
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(token+"\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		vars []string
		code int
		want string
	}{
		{"wrong token", []string{"pause", "--server", r.url}, []string{"NINELIVES_TOKEN", "wrong-token-secret-value"}, exitUnauthorized, "refused the token"},
		{"no token", []string{"pause", "--server", r.url}, nil, exitUnauthorized, "NINELIVES_TOKEN"},
		{"token flag", []string{"pause", "--server", r.url, "--token", "flag-secret-0123456789"}, nil, exitUnauthorized, "wrong token"},
		{"unreachable", []string{"status", "--server", "http://127.0.0.1:1/rollout", "--timeout", "2s"}, nil, exitUnreachable, "cannot reach the status API"},
		{"not the page", []string{"status", "--server", r.url + "/nope"}, nil, exitFailed, "no status API"},
		{"unknown command", []string{"reboot", "--server", r.url}, nil, exitUsage, `unknown command "reboot"`},
		{"bad weight", []string{"set-weight", "abc", "--server", r.url}, nil, exitUsage, "basis points"},
		{"no weight", []string{"set-weight", "--server", r.url}, nil, exitUsage, "takes 1 argument"},
		{"no backend", []string{"status"}, nil, exitUsage, "either --server"},
		{"both backends", []string{"status", "--server", r.url, "--etcd", "http://127.0.0.1:1"}, nil, exitUsage, "either --server"},
		{"etcd without prefix", []string{"status", "--etcd", "http://127.0.0.1:1"}, nil, exitUsage, "--prefix"},
		{"bad output", []string{"status", "--server", r.url, "-o", "yaml"}, nil, exitUsage, `--output "yaml"`},
		{"watch a control", []string{"pause", "--watch", "--server", r.url}, nil, exitUsage, "--watch goes with status"},
		{"bad flag", []string{"status", "--nope"}, nil, exitUsage, "flag provided but not defined"},
		{"bad server", []string{"status", "--server", "ftp://x"}, nil, exitUsage, "http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := cli(t, tc.args, tc.vars...)
			assert.Equal(t, tc.code, res.code, res.errOut)
			assert.Contains(t, res.errOut, tc.want)
			for _, secret := range []string{"wrong-token-secret-value", "flag-secret-0123456789", token} {
				assert.NotContains(t, res.errOut+res.out, secret, "the token is never echoed")
			}
		})
	}
	res := cli(t, []string{"pause", "--server", r.url, "--token-file", file, "--who", "dana"})
	assert.Equal(t, exitOK, res.code, res.errOut)
	assert.Equal(t, exitOK, cli(t, []string{"-h"}).code)
}

// status --watch redraws when the rollout changes.
func TestCLIWatchSingleProcess(t *testing.T) {
	r := newSingle(t)
	r.tick()
	ctx, cancel := context.WithCancel(context.Background())
	var out buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"status", "--watch", "--interval", "20ms", "--server", r.url}, env{out: &out, errOut: io.Discard, getenv: getenv()})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "phase     progressing") }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, r.s.Pause(context.Background(), "erin", "look"))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "phase     paused") }, 10*time.Second, 5*time.Millisecond)
	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.Contains(t, out.String(), "--- ", "frames one after another when not a terminal")
}
