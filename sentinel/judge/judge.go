package judge

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ninelives-go/ninelives/internal/config"
)

var (
	// ErrBadConfig is wrapped by every error for a setting New or
	// NewRateTest rejects.
	ErrBadConfig = errors.New("ninelives: bad judge config")
	// ErrBadLook is wrapped by every error for a look Observe rejects.
	ErrBadLook = errors.New("ninelives: bad look")
	// ErrBadState is wrapped by every error for saved statistics Restore
	// rejects.
	ErrBadState = errors.New("ninelives: bad judge state")
)

// Config sets up a Judge. The zero Config is valid: every zero field takes
// its default.
type Config struct {
	// Alpha is the probability of a false rollback over the whole rollout,
	// all tests and all looks together, when the candidate is as good as the
	// baseline. Default 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// Shares splits Alpha between the enabled tests, in proportion to
	// their shares. Default errors 0.5, latency 0.4, shadow 0.1.
	Shares Shares `json:"shares,omitzero"`
	// Restarts spends part of each test's α on restarts, so that a
	// regression that begins late is caught about as fast as one present
	// from the start. Default: half of it, over the first 1,800
	// informative looks.
	Restarts Restarts `json:"restarts,omitzero"`
	// Errors, Latency and Shadow tune each test.
	Errors  ErrorConfig    `json:"errors,omitzero"`
	Latency LatencyConfig  `json:"latency,omitzero"`
	Shadow  MismatchConfig `json:"shadow,omitzero"`
	// DisableLatency leaves the latency test out (the errors test is always
	// on).
	DisableLatency bool `json:"disableLatency,omitempty"`
	// EnableShadow adds the shadow mismatch test; it needs shadow traffic.
	EnableShadow bool `json:"enableShadow,omitempty"`
}

// Shares are the relative parts of Alpha each test gets. Zero fields take
// the defaults; a disabled test's share goes to the others.
type Shares struct {
	Errors  float64 `json:"errors,omitempty"`
	Latency float64 `json:"latency,omitempty"`
	Shadow  float64 `json:"shadow,omitempty"`
}

// Budget is how a Judge spends its Alpha: each enabled test's level. They
// sum to Alpha; a disabled test has 0.
type Budget struct {
	Errors  float64 `json:"errors"`
	Latency float64 `json:"latency"`
	Shadow  float64 `json:"shadow"`
}

const defaultAlpha = 0.01

// withDefaults fills the zero fields and validates, naming the field in
// errors.
func (c Config) withDefaults() (Config, error) {
	if c.Alpha == 0 {
		c.Alpha = defaultAlpha
	}
	if err := checkAlpha("Alpha", c.Alpha); err != nil {
		return c, err
	}
	for _, s := range []struct {
		name string
		v    *float64
		def  float64
	}{{"Errors", &c.Shares.Errors, 0.5}, {"Latency", &c.Shares.Latency, 0.4}, {"Shadow", &c.Shares.Shadow, 0.1}} {
		if *s.v == 0 {
			*s.v = s.def
		}
		if !(*s.v > 0) || math.IsInf(*s.v, 0) {
			return c, config.Errorf(ErrBadConfig, "Shares."+s.name, *s.v, "want a positive finite share")
		}
	}
	var err error
	if c.Restarts, err = c.Restarts.withDefaults(); err != nil {
		return c, err
	}
	if c.Errors, err = c.Errors.withDefaults(); err != nil {
		return c, config.Under(ErrBadConfig, "Errors", err)
	}
	if c.Latency, err = c.Latency.withDefaults(); err != nil {
		return c, config.Under(ErrBadConfig, "Latency", err)
	}
	if c.Shadow, err = c.Shadow.withDefaults(); err != nil {
		return c, config.Under(ErrBadConfig, "Shadow", err)
	}
	return c, nil
}

// budget splits Alpha between the enabled tests.
func (c Config) budget() Budget {
	total := c.Shares.Errors
	if !c.DisableLatency {
		total += c.Shares.Latency
	}
	if c.EnableShadow {
		total += c.Shares.Shadow
	}
	b := Budget{Errors: c.Alpha * c.Shares.Errors / total}
	if !c.DisableLatency {
		b.Latency = c.Alpha * c.Shares.Latency / total
	}
	if c.EnableShadow {
		b.Shadow = c.Alpha * c.Shares.Shadow / total
	}
	return b
}

// checkAlpha checks a test's level.
func checkAlpha(field string, alpha float64) error {
	if !(alpha > 0 && alpha < 1) {
		return config.Errorf(ErrBadConfig, field, alpha, "want a probability strictly between 0 and 1")
	}
	return nil
}

// Look holds one look's figures: what each version did since the previous
// look. The candidate's share of the traffic must not change inside a look;
// end a look whenever the weights change.
type Look struct {
	Candidate Figures       `json:"candidate"`
	Baseline  Figures       `json:"baseline"`
	Shadow    ShadowFigures `json:"shadow,omitzero"`
}

// Figures are one version's calls in a look.
type Figures struct {
	Calls   int64   `json:"calls"`
	Errors  int64   `json:"errors"`
	Latency Buckets `json:"latency,omitzero"`
}

// ShadowFigures are the candidate's shadow comparisons in a look:
// compared responses (matches plus mismatches) and the mismatches.
type ShadowFigures struct {
	Comparisons int64 `json:"comparisons"`
	Mismatches  int64 `json:"mismatches"`
	// Errors counts the copies that failed where their primary did not,
	// and PrimaryErrors the copies whose primary failed where they did
	// not (or failed otherwise). The shadow test compares the two: the
	// same calls at the same moment, so an outage both versions share
	// fails both alike and does not count against the candidate.
	Errors        int64 `json:"errors,omitempty"`
	PrimaryErrors int64 `json:"primaryErrors,omitempty"`
}

// Judge holds the tests of one rollout and combines their verdicts. It is
// deterministic: the same looks give the same verdicts. Feed it every look
// of the rollout with Observe, call BeginStep when the candidate's share
// changes; a new rollout takes a new Judge.
//
// A Judge is not safe for concurrent use.
type Judge struct {
	cfg     Config
	budget  Budget
	errors  *errorTest
	latency *latencyTest // nil when disabled
	shadow  *RateTest    // nil unless enabled: the mismatches
	// shadowErrors, with shadow, tests the copies that failed on one side
	// only: that the candidate's side fails no more often than the
	// primary's (McNemar's pairs, sequentially).
	shadowErrors *RateTest
	rejected     error
}

// New returns a Judge for cfg, or an error naming the first bad field.
func New(cfg Config) (*Judge, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	j := &Judge{cfg: cfg, budget: cfg.budget()}
	j.errors = newErrorTest(j.budget.Errors, cfg.Errors, cfg.Restarts)
	if !cfg.DisableLatency {
		j.latency = newLatencyTest(j.budget.Latency, cfg.Latency, cfg.Restarts)
	}
	if cfg.EnableShadow {
		j.shadow = newRateTest(j.budget.Shadow/2, cfg.Shadow.rate(), cfg.Restarts)
		j.shadowErrors = newRateTest(j.budget.Shadow/2, pairedErrors, cfg.Restarts)
	}
	return j, nil
}

// Config returns the Judge's configuration with the defaults filled in.
func (j *Judge) Config() Config { return j.cfg }

// Budget returns each test's share of Alpha.
func (j *Judge) Budget() Budget { return j.budget }

// Observe adds one look to every enabled test. A look with a bad figure is
// rejected as a whole, with an error naming the field, and the Verdict is
// Inconclusive until the next valid look (unless a test has already
// failed). Figures of disabled tests are ignored.
func (j *Judge) Observe(l Look) error {
	if err := j.check(l); err != nil {
		j.rejected = err
		return err
	}
	j.rejected = nil
	// The checks above are the tests' own, so these cannot fail.
	_ = j.errors.Observe(l.Candidate.Calls, l.Candidate.Errors, l.Baseline.Calls, l.Baseline.Errors)
	if j.latency != nil {
		_ = j.latency.Observe(l.Candidate.Latency, l.Baseline.Latency)
	}
	if j.shadow != nil {
		_ = j.shadow.Observe(l.Shadow.Comparisons, l.Shadow.Mismatches)
		_ = j.shadowErrors.Observe(l.Shadow.Errors+l.Shadow.PrimaryErrors, l.Shadow.Errors)
	}
	return nil
}

func (j *Judge) check(l Look) error {
	if err := j.errors.check(l.Candidate.Calls, l.Candidate.Errors, l.Baseline.Calls, l.Baseline.Errors); err != nil {
		return err
	}
	if j.latency != nil {
		if err := j.latency.check(l.Candidate.Latency, l.Baseline.Latency); err != nil {
			return err
		}
	}
	if j.shadow == nil {
		return nil
	}
	if err := j.shadow.check(l.Shadow.Comparisons, l.Shadow.Mismatches); err != nil {
		return err
	}
	return checkPairs(l.Shadow, j.shadowErrors.st.n)
}

// BeginStep starts a new step of the rollout in every test: the per-step
// sample counts that Pass needs restart; the evidence and the α budget
// carry over.
func (j *Judge) BeginStep() {
	j.errors.BeginStep()
	if j.latency != nil {
		j.latency.BeginStep()
	}
	if j.shadow != nil {
		j.shadow.BeginStep()
		j.shadowErrors.BeginStep()
	}
}

// Failed reports whether any test has failed.
func (j *Judge) Failed() bool {
	return j.errors.Failed() || (j.latency != nil && j.latency.Failed()) || (j.shadow != nil && (j.shadow.Failed() || j.shadowErrors.Failed()))
}

// Verdict combines the enabled tests' verdicts: Fail if any test failed
// (the first of errors, latency, shadow, with its evidence); Inconclusive
// if the last look was rejected; Pass if every test passes; Inconclusive
// otherwise, with the reasons of the tests that do not pass yet. Tests
// holds every enabled test's own verdict.
func (j *Judge) Verdict() Verdict {
	tests := make([]Verdict, 0, 3)
	tests = append(tests, j.errors.Verdict())
	if j.latency != nil {
		tests = append(tests, j.latency.Verdict())
	}
	if j.shadow != nil {
		tests = append(tests, j.shadowVerdict())
	}
	for _, t := range tests {
		if t.Outcome == Fail {
			return Verdict{Outcome: Fail, Test: t.Test, Reason: t.Reason, Evidence: t.Evidence, Tests: tests}
		}
	}
	if j.rejected != nil {
		return Verdict{Reason: "look rejected: " + j.rejected.Error(), Tests: tests}
	}
	var waiting []string
	for _, t := range tests {
		if t.Outcome != Pass {
			waiting = append(waiting, t.Reason)
		}
	}
	if len(waiting) > 0 {
		return Verdict{Reason: strings.Join(waiting, " | "), Tests: tests}
	}
	names := make([]string, len(tests))
	for i, t := range tests {
		names[i] = t.Test
	}
	return Verdict{Outcome: Pass, Reason: "every test passes (" + strings.Join(names, ", ") + ")", Tests: tests}
}

// pairedErrors tests the copies that failed on one side only: under "the
// candidate fails no more often than the primary" each such pair is the
// candidate's with probability at most ½, whatever both sides' rate. It
// may fail after 10 pairs and never holds a step back.
var pairedErrors = RateConfig{Tolerance: 0.5, MinSamples: 10}

// checkPairs checks a look's failed-on-one-side counts.
func checkPairs(sh ShadowFigures, cum int64) error {
	switch {
	case sh.Errors < 0:
		return config.Errorf(ErrBadLook, "shadow errors", sh.Errors, "want a count ≥ 0")
	case sh.PrimaryErrors < 0:
		return config.Errorf(ErrBadLook, "shadow primaryErrors", sh.PrimaryErrors, "want a count ≥ 0")
	case sh.Errors+sh.PrimaryErrors < sh.Errors || cum+sh.Errors+sh.PrimaryErrors < cum:
		return config.Errorf(ErrBadLook, "shadow errors", sh.Errors, "overflows the running total %d", cum)
	}
	return nil
}

// shadowVerdict is the shadow test's: the paired errors' Fail (Part
// "errors"), or else the mismatches' verdict.
func (j *Judge) shadowVerdict() Verdict {
	p := j.shadowErrors
	if !p.Failed() {
		return j.shadow.Verdict()
	}
	v := p.Verdict()
	ev := v.Evidence
	ev.Part = partErrors
	v.Reason = fmt.Sprintf("shadow: the candidate fails copies of calls its primaries served: of %d copies that failed on one side only, %d failed on the candidate's (%s against at most half); "+
		"e-value %s, threshold %s (α = %s over the rollout), reached at look %d, evidence since look %d",
		ev.Candidate.Samples, ev.Candidate.Events, Percent(ev.Candidate.Rate), Number(ev.Statistic), Number(ev.Threshold), Percent(p.alpha), ev.FailedAtLook, ev.SinceLook)
	return v
}
