package rescue

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ninelives-go/ninelives/internal/call"
)

// Interceptor rescues a client's calls that the candidate version fails:
// a call of a method that is safe to repeat, which the candidate fails with
// one of Config.Codes or does not answer within the method's hedge delay,
// is sent once more, to the baseline, within a retry budget. Install its
// interceptors last in the chain (nearest the balancer) with
// grpc.WithChainUnaryInterceptor and grpc.WithChainStreamInterceptor. An
// Interceptor is safe for concurrent use and holds no goroutine of its
// own.
type Interceptor struct {
	cfg      *settings
	versions atomic.Pointer[versions]
	budget   *budget
	methods  sync.Map // full method name -> *methodState
	stats    [numCounters]atomic.Int64
}

type versions struct{ candidate, baseline string }

// methodState is what the Interceptor knows of one method.
type methodState struct {
	safe  bool
	delay *estimator // nil unless safe
}

// The counters behind Stats.
const (
	statCalls = iota
	statRescued
	statRescueFailed
	statHedged
	statThrottled
	numCounters
)

// Stats counts what an Interceptor did since New.
type Stats struct {
	// Calls is the number of primary calls it saw, safe or not; each
	// earned the budget BudgetRatio tokens.
	Calls int64
	// Rescued counts the calls the baseline answered after the candidate
	// had failed them; RescueFailed those the baseline failed too (the
	// caller got the baseline's error). Together they are the extra calls,
	// at most BudgetBurst + BudgetRatio × Calls.
	Rescued, RescueFailed int64
	// Hedged counts the rescues sent because the candidate had not answered
	// within the hedge delay (its attempt was cancelled).
	Hedged int64
	// Throttled counts the calls the budget had no token for: the
	// candidate's failure or slowness reached the caller as it would have
	// without the Interceptor.
	Throttled int64
	// Tokens is what the budget holds now.
	Tokens float64
}

// New returns an Interceptor with the given configuration, or an error
// naming the first bad field.
func New(cfg Config) (*Interceptor, error) {
	st, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	s := &Interceptor{cfg: st, budget: newBudget(st.BudgetRatio, st.BudgetBurst)}
	s.versions.Store(&versions{candidate: st.Candidate, baseline: st.Baseline})
	return s, nil
}

// SetVersions changes the candidate and the baseline from the next call
// on, as after a blue/green cut-over. The hedge delays learnt so far are
// kept only when the baseline stays the same.
func (s *Interceptor) SetVersions(candidate, baseline string) error {
	if err := validVersions(candidate, baseline); err != nil {
		return err
	}
	if old := s.versions.Swap(&versions{candidate: candidate, baseline: baseline}); old.baseline != baseline {
		s.methods.Clear()
	}
	return nil
}

// Stats returns the counts so far.
func (s *Interceptor) Stats() Stats {
	return Stats{
		Calls:        s.stats[statCalls].Load(),
		Rescued:      s.stats[statRescued].Load(),
		RescueFailed: s.stats[statRescueFailed].Load(),
		Hedged:       s.stats[statHedged].Load(),
		Throttled:    s.stats[statThrottled].Load(),
		Tokens:       s.budget.available(),
	}
}

// HedgeDelay is the hedge delay the Interceptor has learnt for a full
// method name; false while the baseline has answered the method fewer than
// HedgeMinSamples times, or the method is not safe to repeat.
func (s *Interceptor) HedgeDelay(method string) (time.Duration, bool) {
	m := s.method(method)
	if !m.safe {
		return 0, false
	}
	return m.delay.hedgeDelay()
}

func (s *Interceptor) count(i int) { s.stats[i].Add(1) }

// method returns what is known of a full method name, deciding once
// whether it is safe to repeat.
func (s *Interceptor) method(name string) *methodState {
	if m, ok := s.methods.Load(name); ok {
		return m.(*methodState)
	}
	m := &methodState{}
	if m.safe, _ = s.cfg.methods.Decide(name); m.safe {
		m.delay = &estimator{s: s.cfg}
	}
	actual, _ := s.methods.LoadOrStore(name, m)
	return actual.(*methodState)
}

// The states of a watched call's first attempt.
const (
	waiting   uint32 = iota // no answer yet
	answered                // it answered or failed, or can no longer be rescued
	hedged                  // the hedge delay passed: the attempt was cancelled for a rescue
	throttled               // the hedge delay passed but the budget had no token
)

// watch is one call the Interceptor may rescue, from its first attempt to
// its end: the two steps, allow then end, that unary calls and streams
// share.
type watch struct {
	s      *Interceptor
	m      *methodState
	v      *versions
	ctx    context.Context // the caller's, with the call record
	rec    *call.Record
	own    call.Record        // rec, unless an outer interceptor set one
	actx   context.Context    // the first attempt's: ctx, cancellable if hedged
	cancel context.CancelFunc // nil when actx is ctx
	start  time.Time          // when the wait for the answer began
	timer  Timer              // the hedge timer, if set
	state  atomic.Uint32
}

// allow is the first step, before the first attempt: it counts the call
// and earns the budget its share. It returns the watch of a call that may
// be rescued; or, for a call of a safe method that can only go to the
// baseline (the Split gives it every basis point), the estimator to time
// it for; or neither, for a call left alone (not a primary call, forced to
// a version or endpoint, or of a method that is not safe to repeat).
func (s *Interceptor) allow(ctx context.Context, method string) (*watch, *estimator) {
	ci := call.From(ctx)
	if ci != nil && ci.Role != "" && ci.Role != call.Primary {
		return nil, nil // copies, warm-ups and rescues are never rescued
	}
	s.count(statCalls)
	s.budget.earn()
	if ci != nil && (ci.Version != "" || ci.Endpoint != "") {
		return nil, nil // the caller chose where the call goes
	}
	v := s.versions.Load()
	m := s.method(method)
	switch {
	case !m.safe:
		return nil, nil
	case s.cfg.Split == nil || s.cfg.Split.Weight(v.candidate) > 0:
		return s.watch(ctx, m, v), nil
	case s.cfg.Split.Weight(v.baseline) == call.TotalWeight:
		return nil, m.delay // no call goes to the candidate by the weights
	}
	return nil, nil
}

// watch starts the watch of a call of the safe method m.
func (s *Interceptor) watch(ctx context.Context, m *methodState, v *versions) *watch {
	w := &watch{s: s, m: m, v: v}
	w.ctx, w.rec = call.Recorded(ctx, &w.own)
	w.actx = w.ctx
	if _, ok := m.delay.hedgeDelay(); ok && !s.cfg.DisableHedge {
		w.actx, w.cancel = context.WithCancel(w.ctx)
	}
	return w
}

// arm starts the wait for the answer, and the hedge timer if the first
// attempt can be cancelled.
func (w *watch) arm() {
	w.start = w.s.cfg.Clock.Now()
	if w.cancel != nil {
		d, _ := w.m.delay.hedgeDelay()
		w.timer = w.s.cfg.Clock.AfterFunc(d, w.hedge)
	}
}

// release frees the first attempt's context once it is over.
func (w *watch) release() {
	if w.cancel != nil {
		w.cancel()
	}
}

// hedge runs when the hedge delay has passed without an answer: an attempt
// on the candidate is cancelled, for a rescue, if the budget has a token.
func (w *watch) hedge() {
	if w.state.Load() != waiting || !w.onCandidate() {
		return
	}
	if !w.s.budget.take() {
		if w.state.CompareAndSwap(waiting, throttled) {
			w.s.count(statThrottled)
		}
		return
	}
	if !w.state.CompareAndSwap(waiting, hedged) {
		w.s.budget.refund()
		return
	}
	w.s.count(statHedged)
	w.cancel()
}

// onCandidate reports whether the first attempt went to the candidate by
// the weights (or a fallback), not by force.
func (w *watch) onCandidate() bool {
	return w.rec.Version() == w.v.candidate && !w.rec.Forced()
}

// pending reports whether a hedge cancelled the first attempt and its
// rescue is still to be sent.
func (w *watch) pending() bool { return w.state.Load() == hedged }

// settle ends the watch of a call that can no longer be rescued.
func (w *watch) settle() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.state.CompareAndSwap(waiting, answered)
}

// end is the second step, when the first attempt has answered or failed:
// it learns from the baseline's answers and reports whether the call is
// to be rescued, with the budget's token already taken.
func (w *watch) end(err error) bool {
	if w.timer != nil {
		w.timer.Stop()
	}
	prev := w.state.Swap(answered)
	switch {
	case err == nil:
		if prev == hedged {
			w.s.budget.refund() // it answered as it was cancelled: no rescue
		} else if w.rec.Version() == w.v.baseline {
			w.m.delay.observe(w.s.cfg.Clock.Now().Sub(w.start))
		}
		return false
	case prev == hedged:
		if w.ctx.Err() != nil {
			w.s.budget.refund() // the caller has gone too
			return false
		}
		return true
	case prev == throttled || !w.onCandidate() || !w.s.cfg.codes.rescues(w.ctx, err):
		return false
	case !w.s.budget.take():
		w.s.count(statThrottled)
		return false
	}
	return true
}

// rescueContext is the context of the rescue: the caller's, forced to the
// baseline with the rescue role, filling in the same call record (reset,
// so that it says "" if the rescue never reaches a server).
func (w *watch) rescueContext() context.Context {
	w.rec.Reset()
	return call.Reroute(w.ctx, w.v.baseline, call.Rescue)
}

// rescued counts the rescue's outcome; since is when it was sent.
func (w *watch) rescued(err error, since time.Time) {
	if err != nil {
		w.s.count(statRescueFailed)
		return
	}
	w.s.count(statRescued)
	if w.rec.Version() == w.v.baseline {
		w.m.delay.observe(w.s.cfg.Clock.Now().Sub(since))
	}
}
