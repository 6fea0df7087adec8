package evaluate

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
)

// Env is what every run shares.
type Env struct {
	Demofleet string        // the demofleet program
	Interval  time.Duration // the sentinel's tick (sentinel.WithInterval); 0: its default
	Rescue    bool          // interceptor/rescue in the wiring (-rescue)
}

// Job is one run to make.
type Job struct {
	Scenario *Scenario
	Hog      bool
	Seed     uint64
	Rate     int // calls/s
	// Trace keeps the run's decisions and the harness's events in the
	// result.
	Trace bool
}

// warmupLoad is how long a run's client makes calls before its sentinel
// starts, as a service's client does before a rollout.
const warmupLoad = 2 * time.Second

// Run makes one run of job: its servers, its client, its load and its
// sentinel until the rollout ends, the scenario's limit passes or ctx
// ends.
func Run(ctx context.Context, env *Env, job Job) Result {
	res := Result{Scenario: job.Scenario.Name, Hog: job.Hog, Seed: job.Seed, Rate: job.Rate}
	if err := run(ctx, env, job, &res); err != nil {
		res.Outcome, res.Err = Failed, err.Error()
	}
	return res
}

func run(ctx context.Context, env *Env, job Job, res *Result) error {
	sc := job.Scenario
	names := sc.Wiring.Versions()
	srv, err := startServers(env.Demofleet, names, [2]demoserver.Faults{sc.Baseline, sc.Candidate}, job.Seed, sc.kills())
	if err != nil {
		return err
	}
	defer srv.stop()
	alerts := &alertLog{}
	tick := time.Second // the sentinel's default
	if env.Interval > 0 {
		tick = env.Interval
	}
	opts := []sentinel.Option{sentinel.WithLogger(slog.New(slog.DiscardHandler)),
		sentinel.WithAlerters(alerts), sentinel.WithInterval(tick), sentinel.WithHistory(int(sc.Limit/tick) + 60)}
	st, err := Wire(sc, srv.target, env.Rescue, opts...)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := waitReady(ctx, st, 2*instances); err != nil {
		return err
	}
	call := demoCalls(st.Conn, job.Seed)
	if sc.Wiring == Readme {
		call = healthCalls(st.Conn, job.Seed)
	}
	var t tally
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	loadStart := time.Now()
	load.Go(func() { drive(loadCtx, res.Rate, call, &t) })
	w := &watch{sc: sc, srv: srv, st: st, alerts: alerts, candidate: names[1], trace: job.Trace}
	defer func() {
		stopLoad()
		load.Wait()
		res.Calls, res.FailedCalls, res.Failures, res.TimedOut = t.calls.Load(), t.failed.Load(), t.why(), t.timedOut()
		res.Kept = float64(res.Calls) / time.Since(loadStart).Seconds() / float64(res.Rate)
		if st.Rescue != nil {
			res.Rescued = st.Rescue.Stats().Rescued
		}
		res.FailedAfterKill = t.failedAfterKills(w.kills(), killGrace)
		if job.Trace && len(w.downs) > 0 {
			res.Trace = append(res.Trace, "failed user calls, seconds after the kill before them: "+t.sinceKills(w.kills()))
		}
	}()
	sleep(ctx, warmupLoad)
	return w.run(ctx, res)
}

// killGrace is how long after a kill a call that starts and fails counts
// as one picked before the client saw the kill.
const killGrace = time.Second

// waitReady connects the client and waits up to 15 s for want READY
// endpoints.
func waitReady(ctx context.Context, st *Stack, want int) error {
	st.Conn.Connect()
	deadline := time.Now().Add(15 * time.Second)
	for len(st.Split.ReadyEndpoints("")) < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ninelives: evaluate: only %d of %d servers are READY", len(st.Split.ReadyEndpoints("")), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// alertLog keeps a run's alerts and when they came.
type alertLog struct {
	mu     sync.Mutex
	alerts []alert
}

type alert struct {
	at     time.Time
	reason string
}

func (a *alertLog) Alert(_ context.Context, e sentinel.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.alerts = append(a.alerts, alert{at: time.Now(), reason: e.Reason})
	return nil
}

// notes are the alerts, for a run's trace.
func (a *alertLog) notes() []note {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]note, len(a.alerts))
	for i, al := range a.alerts {
		out[i] = note{al.at, "alert: " + al.reason}
	}
	return out
}

// first is when the first alert whose reason holds s came (zero if none).
func (a *alertLog) first(s string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.alerts {
		if strings.Contains(al.reason, s) {
			return al.at
		}
	}
	return time.Time{}
}
