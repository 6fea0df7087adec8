package sentinel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
	"github.com/ninelives-go/ninelives/telemetry"
)

// receiver is an alert receiver the test holds back: each alert is
// recorded as it arrives, then waits for the gate to open or its context
// to end (hanging, it does not answer before the test ends).
type receiver struct {
	gate    chan struct{}
	stop    chan struct{} // closed when the test ends
	hang    bool
	arrived chan struct{} // one value per alert arrived

	mu  sync.Mutex
	got []sentinel.Event
}

func newReceiver(t *testing.T, hang bool) *receiver {
	r := &receiver{gate: make(chan struct{}), stop: make(chan struct{}), hang: hang, arrived: make(chan struct{}, 10000)}
	t.Cleanup(func() { close(r.stop) })
	return r
}

func (r *receiver) take(ctx context.Context, e sentinel.Event) error {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
	r.arrived <- struct{}{}
	gate := r.gate
	if r.hang {
		gate = r.stop
	}
	select {
	case <-gate:
		return nil
	case <-r.stop:
		return errors.New("the test ended")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *receiver) events() []sentinel.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentinel.Event(nil), r.got...)
}

// goAlerter is a receiver as an Alerter.
type goAlerter struct{ *receiver }

func (a goAlerter) Alert(ctx context.Context, e sentinel.Event) error { return a.take(ctx, e) }

// webhookTo serves a receiver on loopback and returns a webhook.Alerter
// posting to it.
func webhookTo(t *testing.T, r *receiver) sentinel.Alerter {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p struct {
			Event sentinel.Event `json:"event"`
		}
		body, err := io.ReadAll(req.Body) // all of it, so the server sees the client go away
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_ = r.take(req.Context(), p.Event)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close(); <-done })
	wh, err := webhook.New(webhook.Config{URL: "http://" + lis.Addr().String() + "/hook", Attempts: 1, Timeout: time.Minute})
	require.NoError(t, err)
	return wh
}

// chatty alerts n times each tick, and holds.
func chatty(n int) sentinel.Strategy {
	return decideFunc(func(st *sentinel.State) sentinel.Decision {
		d := sentinel.Decision{Action: sentinel.ActionHold, Reason: "chatting"}
		for i := range n {
			d.Alerts = append(d.Alerts, fmt.Sprintf("tick at %s: note %d", st.Now.Format(time.TimeOnly), i))
		}
		return d
	})
}

var receiverModes = []struct {
	name    string
	hang    bool
	alerter func(*testing.T, *receiver) sentinel.Alerter
}{
	{"slow Alerter", false, func(_ *testing.T, r *receiver) sentinel.Alerter { return goAlerter{r} }},
	{"slow webhook", false, webhookTo},
	{"hanging webhook", true, webhookTo},
}

// With a receiver that is behind and a policy raising 64 alerts a tick,
// the abort is still delivered, ahead of the chatter, which is cut to 16 a
// tick, merged and dropped oldest first with a note saying so.
func TestAnAbortIsNeverDroppedBehindChatter(t *testing.T) {
	for _, mode := range receiverModes {
		t.Run(mode.name, func(t *testing.T) {
			rcv := newReceiver(t, mode.hang)
			opts := []sentinel.Option{sentinel.WithAlerters(mode.alerter(t, rcv))}
			if mode.hang {
				opts = append(opts, sentinel.WithAlertTimeout(300*time.Millisecond))
			}
			r := newRig(t, chatty(64), opts...)
			r.tick(healthy())
			<-rcv.arrived // the receiver holds the first alert
			for range 10 {
				r.tick(healthy())
			}
			require.NoError(t, r.s.Abort(context.Background(), "alice", "stop it"))
			if !mode.hang {
				close(rcv.gate)
			}
			require.Eventually(t, func() bool { return countAction(rcv.events(), sentinel.ActionAbort) == 1 }, 20*time.Second, time.Millisecond,
				"the abort reached the receiver")
			got := rcv.events()
			assert.Equal(t, sentinel.ActionAbort, got[1].Action, "the abort went out next, ahead of the chatter queued before it")
			if mode.hang {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				var se *sentinel.ShutdownError
				require.ErrorAs(t, r.s.Shutdown(ctx), &se, "the chatter left is reported")
				if countAction(se.Undelivered, sentinel.ActionAbort) > 0 {
					assert.Equal(t, sentinel.ActionAbort, se.Undelivered[0].Action, "the abort is listed as the alert in flight, not queued again")
				}
				return
			}
			require.NoError(t, r.s.Close())
			got = rcv.events()
			assert.Equal(t, 1, countAction(got, sentinel.ActionAbort))
			assert.LessOrEqual(t, len(got), 2+64, "the in-flight alert, the abort, and at most the queue's 64 of chatter")
			assert.True(t, containsReason(got, "earlier policy alerts dropped or merged: the alert receiver was behind"), "the drops are told")
			assert.True(t, containsReason(got, "and 49 more alerts, merged here (at most 16 a decision)"), "a decision sends at most 16 texts")
		})
	}
}

func countAction(es []sentinel.Event, a sentinel.Action) int {
	n := 0
	for _, e := range es {
		if e.Action == a {
			n++
		}
	}
	return n
}

func containsReason(es []sentinel.Event, text string) bool {
	for _, e := range es {
		if strings.Contains(e.Reason, text) {
			return true
		}
	}
	return false
}

// Close returns within its bound whatever the receiver does, and lists the
// alerts it could not deliver, the abort among them; manual controls after
// it return ErrClosed and move nothing.
func TestCloseIsBoundedAndReportsWhatItCouldNotDeliver(t *testing.T) {
	for _, mode := range receiverModes {
		t.Run(mode.name, func(t *testing.T) {
			rcv := newReceiver(t, true)
			r := newRig(t, chatty(3), sentinel.WithAlerters(mode.alerter(t, rcv)), sentinel.WithCloseTimeout(10*time.Millisecond))
			r.tick(healthy())
			<-rcv.arrived
			r.tick(healthy())
			require.NoError(t, r.s.Abort(context.Background(), "alice", "stop it"))

			err := r.s.Close()
			var se *sentinel.ShutdownError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Empty(t, se.Running)
			var seqs []uint64
			for _, e := range se.Undelivered {
				seqs = append(seqs, e.Seq)
			}
			assert.Equal(t, []uint64{1, 3, 1, 1, 2, 2, 2}, seqs, "the alert in flight, the abort, then the two ticks' chatter")
			assert.Equal(t, sentinel.ActionAbort, se.Undelivered[1].Action)
			assert.Contains(t, err.Error(), "7 alerts not delivered (#1 alert, #3 abort, #1 alert, #1 alert, #2 alert, …)")
			assert.NoError(t, r.s.Close(), "a second Close has nothing left to do")
		})
	}
}

// Manual controls on a closed sentinel return ErrClosed and move nothing;
// Restore too.
func TestManualControlsAfterCloseReturnErrClosed(t *testing.T) {
	r := newRig(t, nil)
	r.tick(healthy())
	cp := r.s.Checkpoint()
	require.NoError(t, r.s.Close())
	before, events := r.split.Weights(), len(r.s.Status().Events)
	ctx := context.Background()
	for name, control := range map[string]func() error{
		"Pause":     func() error { return r.s.Pause(ctx, "alice", "") },
		"Resume":    func() error { return r.s.Resume(ctx, "alice", "") },
		"Promote":   func() error { return r.s.Promote(ctx, "alice", "") },
		"Abort":     func() error { return r.s.Abort(ctx, "alice", "") },
		"SetWeight": func() error { return r.s.SetWeight(ctx, "alice", "", 5000) },
		"Restore":   func() error { return r.s.Restore(cp) },
	} {
		err := control()
		assert.ErrorIs(t, err, sentinel.ErrClosed, name)
	}
	assert.Equal(t, before, r.split.Weights())
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Len(t, r.s.Status().Events, events, "nothing was recorded")
	assert.NotContains(t, r.alerts.actions(), sentinel.ActionAbort)
}

// stuckSource is a metric source that ignores its context until released.
type stuckSource struct {
	entered, release chan struct{}
	sawCancel        chan bool
}

func (s stuckSource) Collect(ctx context.Context) (*telemetryWindow, error) {
	close(s.entered)
	<-s.release
	s.sawCancel <- ctx.Err() != nil
	return healthy(), nil
}

// A tick stuck in a strategy or a source that ignores its context does not
// hold Shutdown up; its context is cancelled, and what it decides once it
// returns is not carried out.
func TestShutdownDoesNotWaitForAStuckTick(t *testing.T) {
	for _, where := range []string{"strategy", "source"} {
		t.Run(where, func(t *testing.T) {
			entered, release, sawCancel := make(chan struct{}), make(chan struct{}), make(chan bool, 1)
			strategy := sentinel.Strategy(decideCtx(func(ctx context.Context, _ *sentinel.State) sentinel.Decision {
				if where == "strategy" {
					close(entered)
					<-release
					sawCancel <- ctx.Err() != nil
				}
				return sentinel.Decision{Action: sentinel.ActionPromote, Reason: "stuck, then promote"}
			}))
			r := newRig(t, strategy)
			if where == "source" {
				r = newRigWithSource(t, stuckSource{entered, release, sawCancel}, strategy)
			}
			ticked := make(chan sentinel.Event, 1)
			go func() { ticked <- r.s.Tick(context.Background()) }()
			<-entered
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := r.s.Shutdown(ctx)
			var se *sentinel.ShutdownError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, []string{"a tick"}, se.Running)
			assert.True(t, errors.Is(err, context.Canceled))

			close(release)
			assert.True(t, <-sawCancel, "the tick's context was cancelled")
			e := <-ticked
			assert.Equal(t, sentinel.ActionHold, e.Action)
			assert.Equal(t, "the sentinel is closed", e.Reason)
			assert.Equal(t, 0, r.split.Weight("canary"), "the promotion was not carried out")
			assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase)
		})
	}
}

type telemetryWindow = telemetry.Window

// decideCtx is a strategy that sees its context.
type decideCtx func(context.Context, *sentinel.State) sentinel.Decision

func (f decideCtx) Name() string { return "func" }
func (f decideCtx) Decide(ctx context.Context, s *sentinel.State) (sentinel.Decision, error) {
	return f(ctx, s), nil
}

// newRigWithSource is newRig with a metric source of the test's own.
func newRigWithSource(t *testing.T, src telemetry.MetricSource, strategy sentinel.Strategy) *rig {
	t.Helper()
	r := &rig{t: t, split: balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0}),
		clock: newFakeClock(), alerts: new(alerts)}
	s, err := sentinel.New(r.split, src, strategy, sentinel.WithClock(r.clock), sentinel.WithLogger(quiet), sentinel.WithAlerters(r.alerts))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	r.s = s
	return r
}

// Every alert reaches the log at Warn, once, not only a decision's own
// event: a hold that raises two alerts (as a tick raises "the candidate is
// down" beside a strategy's decision) logs both.
func TestEveryAlertIsLoggedAtWarn(t *testing.T) {
	l := new(logs)
	r := newRig(t, chatty(2), sentinel.WithLogger(l.logger()))
	r.tick(healthy())
	out := l.String()
	for i := range 2 {
		note := fmt.Sprintf("note %d", i)
		var lines []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, note) {
				lines = append(lines, line)
				assert.Contains(t, line, "level=WARN", "alert %d logged below Warn: %s", i, line)
			}
		}
		assert.Len(t, lines, 1, "alert %d is logged %d times, want once:\n%s", i, len(lines), out)
	}
}

// A policy's alert cannot forge a log line: one with a newline and a
// made-up level is logged as one quoted line at Warn.
func TestAnAlertWithANewlineIsLoggedAsOneLine(t *testing.T) {
	l := new(logs)
	forged := "disk fine\ntime=2026-01-01T00:00:00Z level=ERROR msg=\"rollback ordered by ops\""
	r := newRig(t, decideFunc(func(*sentinel.State) sentinel.Decision {
		return sentinel.Decision{Action: sentinel.ActionHold, Reason: "holding", Alerts: []string{"first", forged}}
	}), sentinel.WithLogger(l.logger()))
	r.tick(healthy())
	out := l.String()
	require.Contains(t, out, `disk fine\ntime=`, "the alert is not in the log, quoted")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		assert.Regexp(t, `^time=\S+ level=WARN msg="ninelives: alert: `, line, "a line the sentinel did not write, or at another level")
	}
}
