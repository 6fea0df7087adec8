package sentinel

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ServingConfig sets how the sentinel tells whether the candidate serves
// (contract 8). The zero value takes every default.
type ServingConfig struct {
	// Span is how far back the evidence of serving reaches (default 5 s):
	// a step advances, and a rollout promotes, only when the candidate
	// served calls in the ticks that ended within it, none of its picks
	// fell back to another version in them, and it has a READY endpoint
	// now (when the router lists endpoints; a *balancer.Split does). A
	// duration, so that it means the same at any tick interval, whoever
	// ticks (Run, a release lifecycle, a fleet's leader); the last tick
	// counts whatever its length.
	Span time.Duration
	// RollbackAfter is how long the candidate may be down before the
	// strategies roll it back as unavailable (default 2 minutes).
	RollbackAfter time.Duration
}

// withDefaults fills the zero fields and names the first bad one.
func (c ServingConfig) withDefaults() (ServingConfig, error) {
	err := config.FillDefaults(ErrBadOption, config.Setting[time.Duration]{Field: "ServingConfig.Span", V: &c.Span, Default: 5 * time.Second})
	if err == nil {
		err = config.FillDefaults(ErrBadOption, config.Setting[time.Duration]{Field: "ServingConfig.RollbackAfter", V: &c.RollbackAfter, Default: 2 * time.Minute})
	}
	return c, err
}

// WithServing sets how the sentinel tells whether the candidate serves.
func WithServing(c ServingConfig) Option { return optionFunc(func(o *options) { o.serving = c }) }

// Serving is what the candidate served over the ticks of the last
// ServingConfig.Span, as a strategy sees it in State.Serving (contract 8).
type Serving struct {
	// Listed is set when the router lists endpoints (a *balancer.Split with
	// clients does); Ready then counts the candidate's READY endpoints now.
	// Without them the candidate is judged on its calls alone.
	Listed bool `json:"listed"`
	Ready  int  `json:"ready"`
	// Calls and Fallbacks are the candidate's primary calls and its picks
	// that fell back to another version for want of a ready endpoint, over
	// the ticks that ended within the last ServingConfig.Span, which
	// lasted Span (from the start of the first of them). Expected is
	// how many calls its weights would have given it out of all the calls
	// then.
	Calls     int64         `json:"calls"`
	Fallbacks int64         `json:"fallbacks"`
	Expected  float64       `json:"expected"`
	Span      time.Duration `json:"span"`
	// OK: the candidate served calls in those ticks, none of its picks
	// fell back, and it has a ready endpoint if the router can tell. A
	// step advances, and a rollout promotes, only then.
	OK bool `json:"ok"`
	// Down: there is evidence that the candidate cannot serve: it has no
	// ready endpoint, or its picks fell back and it served none on this
	// tick, or it served none where its weight would have given it at
	// least 10.
	Down bool `json:"down"`
	// DownFor is how long the candidate has not served: from the start of
	// the first tick it was down until it is OK again; 0 while it serves.
	// A Checkpoint carries it (Checkpoint.Down) to the sentinel that
	// restores it, which counts it on and ends it only once the candidate
	// has served through a whole Span after the restore.
	DownFor time.Duration `json:"downFor,omitempty"`
	// Downs is how many times, in DownFor, the candidate was seen going
	// down after serving calls again: more than once when it comes back
	// and goes again too soon to serve through a Span (a crash loop does,
	// and DownFor counts it whole). A crash and restart within one tick,
	// or of some of its servers only, is not seen.
	Downs int `json:"downs,omitempty"`
	// Unavailable is set while the candidate is down and has not served
	// for ServingConfig.RollbackAfter: the strategies roll it back as
	// unavailable (judge.Unavailable(Reason) is their verdict).
	Unavailable bool `json:"unavailable,omitempty"`
	// Reason says all this in one line, as "canary has no ready
	// endpoints; 0 calls in the last 5s".
	Reason string `json:"reason"`
	// Lost counts the candidate's calls, over the rollout, that its
	// servers left unanswered as they went down (telemetry's
	// VersionStats.Unanswered: Unavailable before the server sent
	// anything) and that were put down to the loss instead of being
	// judged: the judge's errors test does not see them, and an outage
	// takes its course (a hold, and after RollbackAfter a rollback as
	// unavailable). Only the rollout's first loss is forgiven so: its
	// first outage, from the tick the candidate is first seen down to the
	// first it is not; or, when it first loses ready endpoints with calls
	// unanswered (one server of several died), that tick and the next.
	// Calls lost after that (a crash loop, which serves between its
	// crashes; a later outage or server lost; a candidate that goes on
	// losing calls) are judged with the others, and so are calls lost
	// while it loses no ready endpoint. Those are held from the judge
	// for one look, in case the endpoints are seen gone only on the next
	// tick, and a step does not advance, nor the rollout end, while some
	// are held.
	Lost int64 `json:"lost,omitempty"`
}

// minExpectedSilence is how many calls the candidate's weight must have
// given it before a silence is evidence that it is down: a healthy
// candidate gets none of 10 expected calls with probability e⁻¹⁰.
const minExpectedSilence = 10

// servedTick is what one tick's window says of the candidate.
type servedTick struct {
	since, at    time.Time // the previous tick (or the start), and this one
	calls, falls int64
	expected     float64
}

// servingTracker keeps the candidate's calls of the ticks within the last
// ServingConfig.Span and the streak of ticks it has not served. The sentinel's lock guards it.
type servingTracker struct {
	cfg       ServingConfig
	ticks     []servedTick
	last      time.Time // the previous tick, or the start
	downSince time.Time // zero while the candidate serves
	downs     int       // the times it went down since downSince
	served    bool      // it served calls on a tick not down since it last went down
	lastReady int       // the last tick's ready endpoints (0 before the first)
	alerted   bool      // the streak has alerted
	alertedAt time.Time // the last alert that the candidate is down
	// settled is when a streak restored from a checkpoint may end: the
	// record begins at the restore, and a candidate that was down must
	// serve through a whole span of it, as it must of an unbroken record,
	// before it counts as serving again (a crash loop taken over on one
	// of its up ticks is not taken for a candidate back in service).
	settled time.Time
	now     Serving

	// The candidate's unanswered calls (Serving.Lost). held are the last
	// used look's, kept from the judge for one look in case the outage
	// they announce shows only on the next tick; given are the held ones
	// this tick gives back; forgive is where the rollout stands in its
	// one forgiven outage; out is what this tick's look leaves out.
	held, given int64
	forgive     forgiveness
	out         leftOut
}

// forgiveness is where a rollout stands in the one outage whose
// unanswered calls are put down to it, named as checkpoints keep it.
type forgiveness string

const (
	forgiveNotYet forgiveness = ""           // no loss yet
	forgiving     forgiveness = "forgiving"  // down since the first outage began
	stragglers    forgiveness = "stragglers" // it lost ready endpoints on the last tick
	forgiveOver   forgiveness = "over"       // no more
)

// leftOut is what a tick's look leaves out of the candidate's primary
// figures: n calls, all of them errors (negative: calls held from the last
// look go back in), and, on a tick whose lost calls were put down to the
// outage, its latencies: theirs run to the moment the connection broke,
// which says nothing of how fast the candidate answers, and a window's
// histogram cannot tell them from the others.
type leftOut struct {
	n       int64
	latency bool
}

// from returns r, the candidate's primary figures of a tick, with what o
// leaves out left out: the calls out of Calls, Errors and the Unavailable
// code (never below zero), and the latencies when o says so. r's maps are
// not changed.
func (o leftOut) from(r telemetry.RoleStats) telemetry.RoleStats {
	n := o.n
	if n > 0 {
		n = min(n, r.Errors, r.Calls)
	}
	r.Calls -= n
	r.Errors -= n
	if n != 0 && r.Codes != nil {
		r.Codes = maps.Clone(r.Codes)
		r.Codes[codes.Unavailable] = max(r.Codes[codes.Unavailable]-n, 0)
	}
	if o.latency {
		r.Latency = telemetry.Histogram{}
	}
	return r
}

// observe adds one tick's window: the candidate's primary calls and
// fallbacks, against all the primary calls and its weight over the tick.
// ended is how long a streak of not serving lasted when this tick ends it.
func (t *servingTracker) observe(now time.Time, w *telemetry.Window, candidate string, weight, ready int) (ended time.Duration) {
	c := w.Version(candidate)
	tk := servedTick{since: t.last, at: now, calls: c.Role(balancer.RolePrimary).Calls, falls: c.Fallbacks}
	tk.expected = float64(primaryCalls(w)) * float64(weight) / balancer.TotalWeight
	t.last = now
	t.ticks = append(t.ticks, tk)
	t.ticks = t.ticks[t.stale(now):]
	down := t.downSince
	lost := t.now.Lost
	t.now = t.summary(now, candidate, ready)
	t.now.Lost = lost
	r := c.Role(balancer.RolePrimary)
	// Fewer ready endpoints than on the last tick (a router that lists
	// none is judged on Down alone; the first tick knows no last).
	dropped := ready >= 0 && ready < t.lastReady
	t.lastReady = ready
	forgave := t.settleLost(min(max(c.Unanswered, 0), r.Errors, r.Calls), dropped)
	switch {
	case t.forgive == forgiving && t.now.Lost > 0:
		t.now.Reason += fmt.Sprintf("; %d calls left unanswered as it went down, put down to the outage", t.now.Lost)
	case forgave:
		// Not down: no step advances on a look that left calls out.
		t.now.OK = false
		t.now.Reason += fmt.Sprintf("; %d calls left unanswered as it lost ready endpoints, put down to the loss", t.now.Lost)
	case t.held > 0:
		// A step must not advance, nor the rollout end, on a look that
		// left calls out to be judged on the next.
		t.now.OK = false
		t.now.Reason += fmt.Sprintf("; %d calls left unanswered, judged on the next tick", t.held)
	}
	if !down.IsZero() && t.downSince.IsZero() {
		return now.Sub(down)
	}
	return 0
}

// settleLost decides what becomes of the candidate's u unanswered calls
// of this tick and the ones held from the last look, and reports whether
// it forgave any. They are put down to the rollout's first loss: its
// first outage, from the tick the candidate is first seen down to the
// first tick it is not; or, if it lost ready endpoints first (dropped: a
// server of several died) with calls unanswered, that tick and the next,
// for the calls picked before the client saw the loss. So a crash loop,
// which serves between its crashes, is forgiven its first crash only, a
// server lost after that is judged, and a candidate that keeps leaving
// calls unanswered is judged on them from the second tick after its
// first loss. A drop with no call lost forgives nothing and spends
// nothing. Otherwise the calls are held from the judge for one look (in
// case the endpoints are seen gone only on the next tick) and then judged.
func (t *servingTracker) settleLost(u int64, dropped bool) bool {
	t.given = 0
	forgive := false
	switch t.forgive {
	case forgiveNotYet:
		switch {
		case t.now.Down:
			t.forgive, forgive = forgiving, true
		case dropped && u+t.held > 0:
			t.forgive, forgive = stragglers, true
		}
	case forgiving:
		if forgive = t.now.Down; !forgive {
			t.forgive = forgiveOver
		}
	case stragglers: // the tick after a lost endpoint: its stragglers, or an outage
		if t.now.Down {
			t.forgive, forgive = forgiving, true
		} else {
			t.forgive, forgive = forgiveOver, u > 0
		}
	}
	if forgive {
		n := u + t.held
		t.now.Lost += n
		t.out = leftOut{n: u, latency: u > 0}
		t.held = 0
		return n > 0 && !t.now.Down
	}
	t.given = t.held
	t.out = leftOut{n: u - t.held}
	t.held = u
	return false
}

// leftOutLook undoes this tick's settlement of the calls held from the
// last look when the sentinel leaves this tick's look out: they stay held
// for the next look that is used, and this tick's own go with its look.
func (t *servingTracker) leftOutLook() {
	t.held, t.given = t.given, 0
}

// stale counts the ticks, oldest first, that ended ServingConfig.Span or
// longer before now; the last tick is never stale.
func (t *servingTracker) stale(now time.Time) int {
	n := 0
	for n < len(t.ticks)-1 && now.Sub(t.ticks[n].at) >= t.cfg.Span {
		n++
	}
	return n
}

// primaryCalls counts every version's primary calls in w.
func primaryCalls(w *telemetry.Window) int64 {
	var n int64
	for _, v := range w.VersionNames() {
		n += w.Version(v).Role(balancer.RolePrimary).Calls
	}
	return n
}

// summary judges the last ticks and carries the streak on.
func (t *servingTracker) summary(now time.Time, candidate string, ready int) Serving {
	sv := Serving{Listed: ready >= 0, Ready: max(ready, 0), Span: now.Sub(t.ticks[0].since)}
	for _, tk := range t.ticks {
		sv.Calls += tk.calls
		sv.Fallbacks += tk.falls
		sv.Expected += tk.expected
	}
	last := t.ticks[len(t.ticks)-1]
	why := downCause(sv, last, candidate)
	sv.Down = why != ""
	sv.OK = !sv.Down && sv.Calls > 0 && sv.Fallbacks == 0 && (last.calls > 0 || last.expected < 3) && !now.Before(t.settled)
	switch {
	case sv.OK:
		t.downSince, t.alerted, t.downs, t.served = time.Time{}, false, 0, false
	case sv.Down && t.downSince.IsZero():
		t.downSince = last.since // it did not serve through this tick
	}
	switch {
	case sv.Down && (t.downs == 0 || t.served):
		t.downs, t.served = t.downs+1, false
	case !sv.Down && last.calls > 0:
		t.served = true
	}
	if !t.downSince.IsZero() {
		sv.DownFor, sv.Downs = now.Sub(t.downSince), t.downs
	}
	sv.Unavailable = sv.Down && sv.DownFor >= t.cfg.RollbackAfter
	sv.Reason = servingReason(sv, candidate, why, t.cfg.Span)
	return sv
}

// downCause says why the candidate is down, or "" when nothing says so:
// no ready endpoint, its picks falling back with no call served on the
// last tick, or no call where its weight would have given it some.
func downCause(sv Serving, last servedTick, candidate string) string {
	switch {
	case sv.Listed && sv.Ready == 0:
		return candidate + " has no ready endpoints"
	case last.falls > 0 && last.calls == 0:
		return fmt.Sprintf("%s's picks fall back to other versions (%d in the last %v)", candidate, sv.Fallbacks, tenths(sv.Span))
	case sv.Calls == 0 && sv.Expected >= minExpectedSilence:
		return fmt.Sprintf("%s served no call where its weight would have given it about %.0f", candidate, sv.Expected)
	}
	return ""
}

// tenths rounds d to a tenth of a second, as the reasons show spans: a
// real tick lasts 1.002345s, which is noise to the reader.
func tenths(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// servingReason says in one line how the candidate serves; span is
// ServingConfig.Span.
func servingReason(sv Serving, candidate, why string, span time.Duration) string {
	calls := fmt.Sprintf("%d calls in the last %v", sv.Calls, tenths(sv.Span))
	var parts []string
	switch {
	case why != "":
		parts = append(parts, why, calls)
	case sv.OK && sv.Ready > 0:
		parts = append(parts, fmt.Sprintf("%s served %s on %d ready endpoints", candidate, calls, sv.Ready))
	case sv.OK:
		parts = append(parts, fmt.Sprintf("%s served %s", candidate, calls))
	case sv.Fallbacks > 0:
		parts = append(parts, fmt.Sprintf("%s's picks fell back to other versions (%d) in the last %v", candidate, sv.Fallbacks, tenths(sv.Span)), calls)
	default:
		parts = append(parts, fmt.Sprintf("%s served %s", candidate, calls), "too few to say it serves")
	}
	switch {
	case sv.DownFor > sv.Span && sv.Downs > 1:
		parts = append(parts, fmt.Sprintf("not serving for %v, down %d times in it (it comes back and goes again before it serves for %v)", tenths(sv.DownFor), sv.Downs, span))
	case sv.DownFor > sv.Span:
		parts = append(parts, fmt.Sprintf("not serving for %v", tenths(sv.DownFor)))
	}
	return strings.Join(parts, "; ")
}

// downAlert is the one alert of a streak of ticks the candidate is down,
// or "" when there is none to raise now. A streak alerts once it covers
// all the ticks of the last ServingConfig.Span (a blip shorter than that
// does not), once, and not within RollbackAfter of the previous streak's alert,
// so that a candidate that comes back and goes again raises no storm.
func (t *servingTracker) downAlert(now time.Time, candidate string) string {
	sv := t.now
	if !sv.Down || t.alerted || t.ticks[0].since.Before(t.downSince) {
		return ""
	}
	t.alerted = true
	if !t.alertedAt.IsZero() && now.Sub(t.alertedAt) < t.cfg.RollbackAfter {
		return ""
	}
	t.alertedAt = now
	return fmt.Sprintf("%s; the rollout holds, and rolls %s back as unavailable if it does not serve again within %v",
		sv.Reason, candidate, t.cfg.RollbackAfter)
}

// readyEndpoints counts the candidate's READY endpoints, or -1 when the
// router lists none at all (it cannot tell).
func readyEndpoints(r Router, candidate string) int {
	el, ok := r.(endpointLister)
	if !ok {
		return -1
	}
	all := el.Endpoints("")
	if len(all) == 0 {
		return -1
	}
	n := 0
	for _, e := range all {
		if e.Version == candidate && e.State == connectivity.Ready {
			n++
		}
	}
	return n
}
