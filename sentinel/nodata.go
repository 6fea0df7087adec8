package sentinel

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/method"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ShadowReporter tells the sentinel what became of the shadow copies that
// the judge's shadow test reads, so that it can say why the test has no
// data; *shadow.Interceptor is one.
type ShadowReporter interface {
	Stats() shadow.Stats
}

// WithShadow gives the sentinel the shadow interceptor whose copies the
// judge's shadow test (judge.Config.EnableShadow) reads, and the full
// names of the gRPC services whose calls it copies ("orders.v1.Orders",
// as the protobuf registry knows them). With them the sentinel says why
// the test has no data: New warns when no method of the services is marked
// safe to copy, and the alert of a test without data names the cause (no
// method safe to copy, a rate of 0, copies to another version, copies that
// never reach the metric source) and the fix. New rejects a service the
// registry does not know.
func WithShadow(sh ShadowReporter, services ...string) Option {
	return optionFunc(func(c *options) { c.shadow, c.shadowServices = sh, services })
}

// WithNoDataAlert sets how long a test of the judge may go without data
// before the sentinel alerts, once, with the cause and the fix (default
// 30 s). The rollout holds all the while, as it does on no data.
func WithNoDataAlert(after time.Duration) Option {
	return optionFunc(func(c *options) { c.noDataAfter = after })
}

// checkShadow checks WithShadow's services against the protobuf registry
// and warns, when the judge's shadow test is on, about what will leave it
// without data: no shadow interceptor given, or services none of whose
// methods is marked safe to copy.
func (c *options) checkShadow() error {
	for i, svc := range c.shadowServices {
		if _, err := serviceOf(svc); err != nil {
			return config.Errorf(ErrBadOption, fmt.Sprintf("WithShadow services[%d]", i), svc,
				"no such service in the protobuf registry (import its generated Go package, and give the full name, as \"orders.v1.Orders\")")
		}
	}
	if !c.judge.EnableShadow {
		return nil
	}
	if isNil(c.shadow) {
		c.logger.Warn("ninelives: judge.Config.EnableShadow is on, but the sentinel was given no shadow interceptor (WithShadow): " +
			"the shadow test has data only if a shadow.Interceptor copying to " + c.candidate + ", with Config.Metrics set to the telemetry the source reads, " +
			"is in the client's interceptor chain; without it every step holds, and the sentinel alerts after " + c.noDataAfter.String())
		return nil
	}
	for _, svc := range c.shadowServices {
		if safe, unsafe := methodsOf(svc); len(safe) == 0 {
			c.logger.Warn("ninelives: "+noSafeMethod(svc, unsafe)+"; unless shadow.Config.Methods lists some, the shadow test will have no data: "+shadowFix,
				"service", svc)
		}
	}
	return nil
}

// shadowFix is what to do when no method is safe to copy.
const shadowFix = "mark idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT on the methods that are safe to repeat, " +
	"or list them in shadow.Config.Methods, or turn shadow judging off (judge.Config.EnableShadow)"

func noSafeMethod(svc string, unsafe []string) string {
	return fmt.Sprintf("no method of %s is marked safe to copy (%s: no idempotency_level)", svc, strings.Join(unsafe, ", "))
}

// serviceOf finds a service in the protobuf registry.
func serviceOf(name string) (protoreflect.ServiceDescriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, not a service", name, d)
	}
	return sd, nil
}

// methodsOf sorts a service's methods into those marked safe to repeat and
// the others, by the rule the shadow interceptor follows.
func methodsOf(svc string) (safe, unsafe []string) {
	sd, err := serviceOf(svc)
	if err != nil {
		return nil, nil
	}
	ms := sd.Methods()
	for i := range ms.Len() {
		m := ms.Get(i)
		if method.SafeToRepeat(m) {
			safe = append(safe, string(m.Name()))
		} else {
			unsafe = append(unsafe, string(m.Name()))
		}
	}
	return safe, unsafe
}

// silence is a streak of ticks without data for a test.
type silence struct {
	since   time.Time    // zero while data flows
	alerted bool         // the streak has alerted
	stats   shadow.Stats // the shadow interceptor's counts when it began
	falls   int64        // the baseline's fallbacks since
}

// dataWatch notices the judge's tests going without data, and says why,
// and calls recorded past telemetry's method cap. The sentinel's lock
// guards it.
type dataWatch struct {
	cfg        *options
	shadow     silence
	baseline   silence
	overflowed bool // the rollout has alerted on calls past the method cap
}

// observe adds a tick and returns the alerts to raise now: at most one per
// streak of ticks without data that has lasted the set time.
func (d *dataWatch) observe(now time.Time, w *telemetry.Window, p Position) []string {
	b, c := w.Version(p.Baseline), w.Version(p.Candidate)
	var alerts []string
	shadowOn := d.cfg.judge.EnableShadow && p.Weight(p.Baseline) > 0
	if a := d.step(&d.shadow, now, shadowOn, hasCopies(shadowFigures(c)), d.shadowStats, func() string { return d.shadowCause(p.Candidate) }); a != "" {
		alerts = append(alerts, fmt.Sprintf("the judge's shadow test has had no comparison for %v, and every step holds: %s", now.Sub(d.shadow.since).Round(time.Second), a))
	}
	d.baseline.falls += b.Fallbacks
	baseOn := p.Weight(p.Baseline) > 0 && c.Role(balancer.RolePrimary).Calls > 0
	if a := d.step(&d.baseline, now, baseOn, b.Role(balancer.RolePrimary).Calls > 0, nil, func() string { return d.baselineCause(p) }); a != "" {
		alerts = append(alerts, a)
	}
	if a := d.overflow(w); a != "" {
		alerts = append(alerts, a)
	}
	return alerts
}

// overflow returns an alert, once a rollout, when the window counts calls
// recorded past telemetry's method cap: they are judged, but their methods
// are lost to dashboards.
func (d *dataWatch) overflow(w *telemetry.Window) string {
	n := w.Overflow.OtherMethods
	if n == 0 || d.overflowed {
		return ""
	}
	d.overflowed = true
	return fmt.Sprintf("the metric source recorded %d calls of this window under rpc.method %q, past telemetry's method cap: "+
		"the judge counts them, but dashboards cannot tell their methods apart; raise the cap (telemetry.WithMethodCap) above the methods the client calls", n, "other")
}

// step carries a streak on: on (the test should have data), has (it had
// some this tick). It returns the cause when the streak alerts now.
func (d *dataWatch) step(s *silence, now time.Time, on, has bool, snapshot func() shadow.Stats, cause func() string) string {
	if !on || has {
		if has && s.alerted {
			d.cfg.logger.Info("ninelives: a test has data again", "after", now.Sub(s.since))
		}
		*s = silence{}
		return ""
	}
	if s.since.IsZero() {
		*s = silence{since: now, falls: s.falls}
		if snapshot != nil {
			s.stats = snapshot()
		}
	}
	if s.alerted || now.Sub(s.since) < d.cfg.noDataAfter {
		return ""
	}
	s.alerted = true
	return cause()
}

// hasCopies reports whether a look holds any copy the shadow test weighs.
func hasCopies(sh judge.ShadowFigures) bool {
	return sh.Comparisons+sh.Errors+sh.PrimaryErrors > 0
}

func (d *dataWatch) shadowStats() shadow.Stats {
	if isNil(d.cfg.shadow) {
		return shadow.Stats{}
	}
	return d.cfg.shadow.Stats()
}

// shadowCause says why the shadow test has had no comparison since the
// streak began, from what the shadow interceptor counted meanwhile.
func (d *dataWatch) shadowCause(candidate string) string {
	if isNil(d.cfg.shadow) {
		return "the sentinel was given no shadow interceptor (WithShadow) to tell why: put a shadow.Interceptor copying to " + candidate +
			", with Config.Metrics set to the telemetry the source reads, in the client's interceptor chain, or turn shadow judging off (judge.Config.EnableShadow)"
	}
	now, was := d.cfg.shadow.Stats(), d.shadow.stats
	dropped := deltas(now.Dropped, was.Dropped)
	compared := sum(deltas(now.Comparisons, was.Comparisons))
	switch {
	case now.Candidate != candidate:
		return fmt.Sprintf("the shadow interceptor copies to %q, not to the candidate %q: set shadow.Config.Candidate (or SetCandidate)", now.Candidate, candidate)
	case now.Rate == 0:
		return "the shadow interceptor's rate is 0: set shadow.Config.Rate (or SetRate)"
	case compared > 0:
		return fmt.Sprintf("the shadow interceptor compared %d copies, but none reached the metric source: set shadow.Config.Metrics to the telemetry the source reads", compared)
	case dropped[shadow.DropUnsafeMethod] > 0 && sum(dropped) == dropped[shadow.DropUnsafeMethod]:
		return d.unsafeCause(dropped[shadow.DropUnsafeMethod])
	case sum(dropped) > 0:
		return fmt.Sprintf("the shadow interceptor dropped every copy (%s): see shadow.Stats and the shadow.Drop reasons", counts(dropped))
	}
	return "the shadow interceptor saw no call to copy: put it in the client's interceptor chain (grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()) and its stream interceptor)"
}

// unsafeCause says that no method called is safe to copy, naming the
// services given and their methods without an idempotency_level.
func (d *dataWatch) unsafeCause(n int64) string {
	var named []string
	for _, svc := range d.cfg.shadowServices {
		if _, unsafe := methodsOf(svc); len(unsafe) > 0 {
			named = append(named, fmt.Sprintf("%s (%s: no idempotency_level)", svc, strings.Join(unsafe, ", ")))
		}
	}
	what := "no method called is safe to copy"
	if len(named) > 0 {
		what = "no method of " + strings.Join(named, " or ") + " that was called is safe to copy"
	}
	return fmt.Sprintf("%s (%d copies dropped as %s): %s", what, n, shadow.DropUnsafeMethod, shadowFix)
}

// baselineCause says that the baseline served no call while the candidate
// served some: the judge compares them over the same seconds.
func (d *dataWatch) baselineCause(p Position) string {
	why := "no call reached it"
	if d.baseline.falls > 0 {
		why = fmt.Sprintf("its picks fell back to other versions (%d): it has no ready endpoint", d.baseline.falls)
	}
	return fmt.Sprintf("the judge's tests have had no %s call for %v while %s served some: they compare %s with %s over the same seconds, so these seconds tell them nothing; %s",
		p.Baseline, d.cfg.noDataAfter, p.Candidate, p.Candidate, p.Baseline, why)
}

// deltas is now − was, per key, for the keys that grew.
func deltas(now, was map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, n := range now {
		if n > was[k] {
			out[k] = n - was[k]
		}
	}
	return out
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// counts renders counts by reason, sorted: "concurrency 3, timeout 1".
func counts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
