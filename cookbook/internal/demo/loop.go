package demo

import "context"

// loop is the run's tick loop and what it has counted so far.
type loop struct {
	d       *Demo
	c       Client
	load    *Load
	res     *Result
	lastSeq uint64
	tail    int // ticks left after the final decision; -1 before it
}

// step makes one interval's calls and one tick of the sentinel, and
// reports whether the run goes on.
func (l *loop) step(ctx context.Context, n int) bool {
	opts := l.d.opts
	if ctx.Err() != nil {
		l.res.Interrupted = true
		return false
	}
	stats := l.load.Interval(ctx, opts.Interval, !opts.Virtual)
	l.res.add(stats)
	if ctx.Err() != nil {
		// Interrupted in the middle of the interval: its calls count, but
		// the sentinel does not judge a part of a tick.
		l.res.Interrupted = true
		return false
	}
	if opts.Virtual {
		l.d.clock.Advance(opts.Interval)
	}
	t := l.tick(ctx, n, stats)
	l.d.view.tick(t)
	if t.Phase.Final() && l.res.FinalTick == 0 {
		l.res.FinalTick = n
		l.tail = opts.Tail
		// The rollout is over: stop copying calls to the candidate.
		_ = l.c.Shadow.SetRate(0)
	}
	if l.tail == 0 || l.d.clock.Since() >= opts.Duration {
		return false
	}
	if l.tail > 0 {
		l.tail--
	}
	return true
}

// tick ticks the sentinel and records the tick.
func (l *loop) tick(ctx context.Context, n int, stats LoadStats) Tick {
	ev := l.c.Sentinel.Tick(ctx)
	st := l.c.Sentinel.Status()
	t := Tick{N: n, At: l.d.clock.Since(), Load: stats, Decision: ev, Phase: st.Phase, Step: st.Step, StepName: st.StepName}
	if k := len(st.History); k > 0 {
		t.Summary = st.History[k-1]
	}
	l.res.Ticks = append(l.res.Ticks, t)
	if l.res.FinalTick == 0 {
		l.res.CandidateCalls += t.Summary.Versions[l.d.rc.Candidate].Calls
	}
	for _, e := range st.Events {
		if e.Seq > l.lastSeq {
			l.lastSeq = e.Seq
			if l.d.rc.OnEvent != nil {
				l.d.rc.OnEvent(l.d.servers, e)
			}
		}
	}
	return t
}
