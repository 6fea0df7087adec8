package evaluate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// poll is how often a run's watch reads the rollout's status.
const poll = 50 * time.Millisecond

// fixWord is a word the alert naming the fix for missing shadow data
// holds: the proto option to mark.
const fixWord = "idempotency_level"

// watch follows a run's rollout: it starts the sentinel, carries out the
// scenario's events as they fall due, and notes what the result needs.
type watch struct {
	sc        *Scenario
	srv       *servers
	st        *Stack
	alerts    *alertLog
	candidate string
	trace     bool

	start    time.Time
	reached  map[int]time.Time // when the rollout first reached each step
	done     []bool            // the events carried out
	breakAt  time.Time
	downs    []span // from each kill of the candidate until its servers are ready again after the restore
	restored bool   // the last kill's restore carried out
	notes    []note // the events carried out, for the trace
}

// span is a stretch of time; a zero to is open.
type span struct{ from, to time.Time }

type note struct {
	at   time.Time
	what string
}

// run runs the sentinel until the rollout ends or the scenario's limit
// passes, and fills res.
func (w *watch) run(ctx context.Context, res *Result) error {
	runCtx, cancel := context.WithTimeout(ctx, w.sc.Limit)
	defer cancel()
	w.start = time.Now()
	w.reached = map[int]time.Time{0: w.start}
	w.done = make([]bool, len(w.sc.Events))
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = w.st.Sentinel.Run(runCtx)
	}()
	defer func() { cancel(); <-ended }()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ended:
			w.finish(res)
			return nil
		case <-t.C:
		}
		if err := w.step(time.Now()); err != nil {
			return err
		}
		if w.sc.Wiring == Readme && !w.alerts.first(fixWord).IsZero() {
			cancel() // the README's rollout holds: its alert is the end
		}
	}
}

// step carries out the events that have fallen due.
func (w *watch) step(now time.Time) error {
	st := w.st.Sentinel.Status()
	for k := 1; k <= st.Step; k++ {
		if _, ok := w.reached[k]; !ok {
			w.reached[k] = now
		}
	}
	var lastTick time.Time
	if n := len(st.History); n > 0 {
		lastTick = st.History[n-1].Time
	}
	for i, ev := range w.sc.Events {
		from, ok := w.reached[ev.Step]
		due := from.Add(ev.After)
		// A break waits for the first tick after it is due, so that the
		// next window is the break's.
		if w.done[i] || !ok || now.Before(due) || ev.Break && !lastTick.After(due) {
			continue
		}
		at := time.Now() // a kill is as old as the calls it fails
		if err := w.srv.do(ev); err != nil {
			return err
		}
		if ev.Do != Kill {
			at = time.Now()
		}
		w.done[i] = true
		w.mark(ev, at)
	}
	if n := len(w.downs); w.restored && n > 0 && w.downs[n-1].to.IsZero() && len(w.st.Split.ReadyEndpoints(w.candidate)) > 0 {
		w.downs[n-1].to = now
	}
	return nil
}

// mark records what an event carried out at now means for the result.
func (w *watch) mark(ev Event, now time.Time) {
	w.notes = append(w.notes, note{now, ev.String()})
	switch {
	case ev.Break:
		w.breakAt = now
	case ev.Do == Kill:
		if n := len(w.downs); n > 0 && w.downs[n-1].to.IsZero() {
			w.downs[n-1].to = now // not seen ready since its restore: down until this kill
		}
		w.downs, w.restored = append(w.downs, span{from: now}), false
	case ev.Do == Restore:
		w.restored = true
	}
}

// finish fills res from the rollout's end.
func (w *watch) finish(res *Result) {
	st := w.st.Sentinel.Status()
	end := time.Now()
	res.Outcome = outcomeOf(st.Phase)
	decided := end
	for _, e := range st.Events {
		if e.Phase.Final() {
			res.Reason, res.Why, decided = e.Reason, why(e), e.Time
		}
	}
	from := w.start
	if !w.breakAt.IsZero() {
		from = w.breakAt
	} else if w.hasBreak() && res.Outcome == RolledBack {
		res.BeforeBreak, res.Why = true, res.Why+" before the break"
	}
	res.CandidateCalls = callsBetween(st.History, w.candidate, from, decided)
	res.Decided = decided.Sub(from)
	res.MovedWhileDown = w.movedWhileDown(st.Events, end)
	if at := w.alerts.first(fixWord); !at.IsZero() {
		res.FixAlert = at.Sub(w.start)
	}
	if w.trace {
		res.Trace = append(w.traceOf(st.Events), fmt.Sprintf("shadow: %+v; %s", w.st.Shadow.Stats(), copyFailures(w.st.Shadow.Mismatches())))
		for _, t := range st.Verdict.Tests {
			if t.Evidence != nil && t.Evidence.Clustering != nil {
				res.Trace = append(res.Trace, fmt.Sprintf("clustering ρ (centre, tails): %.4f", t.Evidence.Clustering))
			}
		}
	}
}

// traceOf lists the decisions and the harness's events, by time since the
// start.
func (w *watch) traceOf(events []sentinel.Event) []string {
	notes := append(slices.Clone(w.notes), w.alerts.notes()...)
	for _, e := range events {
		notes = append(notes, note{e.Time, fmt.Sprintf("%s (step %d, %s %d bp): %s", e.Action, e.Step, w.candidate, e.Weight(w.candidate), e.Reason)})
		if s := latencyEvidence(e.Verdict); s != "" {
			notes = append(notes, note{e.Time, "  " + s})
		}
	}
	slices.SortStableFunc(notes, func(a, b note) int { return a.at.Compare(b.at) })
	lines := make([]string, len(notes))
	for i, n := range notes {
		lines[i] = fmt.Sprintf("%7.1fs %s", n.at.Sub(w.start).Seconds(), n.what)
	}
	return lines
}

func (w *watch) hasBreak() bool {
	for _, ev := range w.sc.Events {
		if ev.Break {
			return true
		}
	}
	return false
}

// movedWhileDown reports whether the rollout advanced or promoted while
// the candidate was down: from a kill until its servers were ready again
// (or end).
func (w *watch) movedWhileDown(events []sentinel.Event, end time.Time) bool {
	for _, d := range w.downs {
		to := d.to
		if to.IsZero() {
			to = end
		}
		for _, e := range events {
			moves := e.Action == sentinel.ActionAdvance || e.Action == sentinel.ActionSetWeights || e.Action == sentinel.ActionPromote
			if moves && !e.Time.Before(d.from) && !e.Time.After(to) {
				return true
			}
		}
	}
	return false
}

// kills are the times the candidate was killed.
func (w *watch) kills() []time.Time {
	at := make([]time.Time, len(w.downs))
	for i, d := range w.downs {
		at[i] = d.from
	}
	return at
}

// callsBetween sums the candidate's primary calls of the ticks in
// (from, to].
func callsBetween(history []sentinel.TickSummary, candidate string, from, to time.Time) int64 {
	var n int64
	for _, h := range history {
		if h.Time.After(from) && !h.Time.After(to) {
			n += h.Versions[candidate].Calls
		}
	}
	return n
}

func outcomeOf(p sentinel.Phase) Outcome {
	switch p {
	case sentinel.PhasePromoted:
		return Promoted
	case sentinel.PhaseRolledBack:
		return RolledBack
	case sentinel.PhaseAborted:
		return Aborted
	}
	return Held
}

// why names the test behind a final decision: the verdict's test (and
// the latency test's part), or "policy" when no test decided.
func why(e sentinel.Event) string {
	v := e.Verdict
	switch {
	case v == nil || v.Test == "":
		return "policy"
	case v.Evidence != nil && v.Evidence.Part != "":
		return v.Test + "/" + v.Evidence.Part
	}
	return v.Test
}

// copyFailures counts the codes of the recent copies that failed where
// their primaries did not, and of those primaries.
func copyFailures(ms []shadow.Mismatch) string {
	codes := map[string]int{}
	for _, m := range ms {
		if m.Result == shadow.ResultShadowError {
			codes[m.PrimaryCode+" → "+m.ShadowCode]++
		}
	}
	return fmt.Sprintf("recent copies failed (primary → copy): %v", codes)
}

// latencyEvidence says, in one line, where the latency test of a
// decision's verdict stands: its e-value, and each tail's calls above the
// thresholds; "" when the verdict has no latency test.
func latencyEvidence(v *judge.Verdict) string {
	if v == nil {
		return ""
	}
	for _, t := range v.Tests {
		ev := t.Evidence
		if t.Test != judge.TestLatency || ev == nil {
			continue
		}
		s := fmt.Sprintf("latency: e-value %.3g (threshold %g, %d looks, since look %d, ρ %.3f)", ev.Statistic, ev.Threshold, ev.Looks, ev.SinceLook, ev.Clustering)
		for _, q := range ev.Tail {
			s += fmt.Sprintf("; %s e-value %.3g over %d looks: candidate %d of %d above %.1fms, baseline %d of %d above %.1fms",
				q.Name, q.Statistic, q.Looks, q.CandidateAbove, q.CandidateCalls, 1000*q.CandidateThreshold, q.BaselineAbove, q.BaselineCalls, 1000*q.BaselineThreshold)
		}
		return s
	}
	return ""
}
