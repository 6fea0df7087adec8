package fleetdemo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// loop ticks until the rollout is over (and a tail of two ticks), the
// run's time is up, or ctx ends.
func (r *runner) loop(ctx context.Context) error {
	r.start = time.Now()
	fmt.Fprintf(r.opts.Out, "%d replicas × %d calls/s; canary 10%% → 25%% → 50%% → 100%%; regression at 25%%: %s\n\n",
		r.opts.Replicas, r.opts.Rate, r.opts.Regression.Describe())
	for tick := 1; ; tick++ {
		if ctx.Err() != nil {
			r.res.Interrupted = true
			return nil
		}
		if time.Since(r.start) > r.opts.Duration || tick > int(r.opts.Duration/r.opts.Interval)+60 {
			return nil
		}
		more, err := r.step(ctx, tick)
		if err != nil || !more {
			return err
		}
	}
}

// step is one tick: every replica's calls for one interval, their
// reports, the leader's tick; it reports whether the run goes on.
func (r *runner) step(ctx context.Context, tick int) (bool, error) {
	r.res.Ticks = tick
	r.clk.Advance(r.opts.Interval)
	served, failed := r.calls(ctx)
	if ctx.Err() != nil {
		// Interrupted in the middle of the interval: its calls count, but
		// the leader does not judge a part of a tick.
		r.res.Interrupted = true
		return false, nil
	}
	if r.res.Phase.Final() {
		r.res.TailCanaryCalls += served["canary"]
	}
	for _, rep := range r.reps {
		_ = rep.Reporter.Report(ctx) // a failure keeps the figures for the next report
	}
	l := r.leading()
	if l == nil {
		r.noLeader(ctx, tick)
		return true, nil
	}
	r.leaderless = false
	r.takeover(l)
	before := l.leader.Status().State
	ev, err := l.leader.Tick(ctx)
	if err != nil {
		fmt.Fprintf(r.opts.Out, "%4ds  %s: %v\n", tick, l.name, err)
		return true, nil
	}
	if err := r.propagate(ctx, l, before); err != nil {
		if ctx.Err() != nil {
			r.res.Interrupted = true
			return false, nil
		}
		return false, err
	}
	r.res.Phase = ev.Phase
	if ev.Action != sentinel.ActionHold {
		r.res.Decisions = append(r.res.Decisions, Decision{Tick: tick, Sentinel: l.name, Event: ev})
	}
	fmt.Fprintf(r.opts.Out, "%4ds  %-10s %-22s canary %-4s on every replica | calls %4d, canary %4d, failed %3d | %s\n",
		tick, l.name, demo.PhaseLabel(ev.Phase, ev.Step, ev.StepName), plan.Label(r.reps[0].Split.Weight("canary")),
		sum(served), served["canary"], failed, demo.DecisionLabel(ev))
	r.react(tick, l, ev)
	if ev.Phase.Final() {
		if r.tail++; r.tail > 2 {
			return false, nil
		}
	}
	return true, nil
}

// calls makes every replica's calls for one interval, at once, and counts
// them by the version that served them.
func (r *runner) calls(ctx context.Context) (served map[string]int64, failed int64) {
	stats := make([]demo.LoadStats, len(r.reps))
	var wg sync.WaitGroup
	for i, rep := range r.reps {
		wg.Go(func() { stats[i] = rep.load.Interval(ctx, r.opts.Interval, !r.opts.Virtual) })
	}
	wg.Wait()
	served = map[string]int64{}
	for _, s := range stats {
		r.res.Calls += s.Calls
		r.res.Failed += s.Failed
		failed += s.Failed
		for v, n := range s.Served {
			served[v] += n
		}
	}
	return served, failed
}

// noLeader is a tick without a leader. After the planned kill the standby
// waits for the dead leader's lease to expire; otherwise a live sentinel
// lost its lease (on a machine too busy to renew it in time), which the
// run counts. Either way the sentinels that no longer campaign campaign
// again, as fleet.Leader.Run does.
func (r *runner) noLeader(ctx context.Context, tick int) {
	why := "the standby waits for the dead leader's lease to expire"
	if r.killedAt.IsZero() || r.res.Takeover != 0 {
		why = "a sentinel's lease expired before it was renewed; the sentinels campaign again"
		if !r.leaderless {
			r.res.LostLeases++
		}
	}
	r.leaderless = true
	for _, s := range r.sentinels {
		if !s.killed && !s.campaigning.Load() && !s.leader.IsLeader() {
			r.campaign(s)
		}
	}
	fmt.Fprintf(r.opts.Out, "%4ds  no leader yet (%s)\n", tick, why)
	if r.opts.Virtual {
		waitLeader(ctx, func() bool { return r.leading() != nil }, 3*r.opts.TTL)
	}
}

// takeover notes, once, the step the standby resumed after the kill.
func (r *runner) takeover(l *sent) {
	if r.killedAt.IsZero() || r.res.Takeover != 0 {
		return
	}
	r.res.Takeover = time.Unix(0, l.won.Load()).Sub(r.killedAt)
	if st := l.leader.Status(); st.State != nil {
		r.res.TakeoverStep, r.res.TakeoverWeight = st.State.Step, st.State.Weight("canary")
	}
	fmt.Fprintf(r.opts.Out, "      %s took over after %v, resuming step %d at %d bp\n", l.name, r.res.Takeover.Round(time.Millisecond),
		r.res.TakeoverStep, r.res.TakeoverWeight)
}

// propagate waits, when the leader's tick published a new state, until
// every replica has applied it.
func (r *runner) propagate(ctx context.Context, l *sent, before *fleet.RolloutState) error {
	after := l.leader.Status().State
	if after == nil || (before != nil && after.Seq == before.Seq) {
		return nil
	}
	committed := time.Now()
	if err := waitApplied(ctx, r.reps, after.Seq); err != nil {
		return err
	}
	r.res.Propagation = max(r.res.Propagation, time.Since(committed))
	return nil
}

// react does what the run does on a decision: it notes the rollback, turns
// the canary bad at its second step, and kills the leader in the middle of
// the first.
func (r *runner) react(tick int, l *sent, ev sentinel.Event) {
	res, opts := r.res, r.opts
	switch {
	case ev.Action == sentinel.ActionRollback && res.RollbackTick == 0:
		res.RollbackTick = tick
		switch {
		case r.regressionAt.IsZero():
		case opts.Virtual: // the ticks' time, and the real propagation
			res.ToAllZero = time.Duration(tick-res.RegressionTick)*opts.Interval + res.Propagation
		default: // every replica has applied the rollback by now
			res.ToAllZero = time.Since(r.regressionAt)
		}
	case ev.Step == 2 && res.RegressionTick == 0 && opts.Regression != demo.RegressionNone && ev.Phase == sentinel.PhaseProgressing:
		res.RegressionTick, r.regressionAt = tick, time.Now()
		r.servers.SetFaults("canary", opts.Regression.Faults())
		fmt.Fprintf(opts.Out, "      the canary turns bad: %s\n", opts.Regression.Describe())
	case opts.KillLeader && res.KilledAt == 0 && ev.Step == 1 && ev.Action == sentinel.ActionHold:
		res.KilledAt, res.StepAtKill, r.killedAt = tick, ev.Step, time.Now()
		l.killed = true
		l.client.Close() // the leader's process dies: its lease is left to expire
		fmt.Fprintf(opts.Out, "      %s is killed in the middle of step %d\n", l.name, ev.Step)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
