package sim

import (
	"fmt"
	"strings"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// JudgePolicy rolls back when a judge.Judge fails. It starts a new
// step of the Judge at each step of the scenario and holds on a rejected
// look.
type JudgePolicy struct {
	Judge *judge.Judge
}

// JudgeFactory makes a JudgePolicy with a fresh Judge of cfg for each run.
func JudgeFactory(cfg judge.Config) Factory {
	return func() (Policy, error) {
		j, err := judge.New(cfg)
		if err != nil {
			return nil, err
		}
		return &JudgePolicy{Judge: j}, nil
	}
}

// Observe feeds the look to the Judge.
func (p *JudgePolicy) Observe(t Tick) bool {
	if t.StepStart {
		p.Judge.BeginStep()
	}
	if err := p.Judge.Observe(t.Look); err != nil {
		return false
	}
	return p.Judge.Failed()
}

// Why names the failing test, and for latency its part: "errors",
// "latency p99", "latency centre".
func (p *JudgePolicy) Why() string {
	v := p.Judge.Verdict()
	if v.Evidence != nil && v.Evidence.Part != "" {
		return v.Test + " " + v.Evidence.Part
	}
	return v.Test
}

// FixedThreshold is a Flagger-style rule: every Interval seconds it checks
// the candidate's figures over the last Interval seconds; a check fails
// when the error rate is above MaxErrorRate, or (when MaxP99 > 0) the 99th
// percentile latency, interpolated within histogram buckets as
// Prometheus' histogram_quantile does, is above MaxP99 seconds, or the
// window holds no candidate call. Failed checks add up over the rollout
// (a passing check does not reset them, as in Flagger's scheduler), and it
// rolls back at the check that makes Threshold failures. (Flagger itself
// acts at the following interval; the simulation credits it the earlier
// time.)
type FixedThreshold struct {
	Interval     int     // seconds between checks, and the window; Flagger's default 60
	MaxErrorRate float64 // Flagger's request-success-rate min 99 % ⇒ 0.01
	MaxP99       float64 // Flagger's request-duration max 500 ms ⇒ 0.5; 0 = no latency check
	Threshold    int     // failed checks before rollback; 5

	seconds, failed int
	calls, errors   int64
	hist            []uint64
}

// Flagger returns the rule with Flagger's defaults: checks every minute
// over a one-minute window, error rate over 1 % or p99 over 500 ms fails a
// check, rollback at the fifth failed check.
func Flagger() *FixedThreshold {
	return &FixedThreshold{Interval: 60, MaxErrorRate: 0.01, MaxP99: 0.5, Threshold: 5}
}

// FlaggerFactory makes Flagger() for each run.
func FlaggerFactory() (Policy, error) { return Flagger(), nil }

// Describe states the rule exactly.
func (f *FixedThreshold) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "every %d s, over the candidate's last %d s: a check fails when the error rate is above %g %%", f.Interval, f.Interval, 100*f.MaxErrorRate)
	if f.MaxP99 > 0 {
		fmt.Fprintf(&b, " or the p99 latency (histogram_quantile interpolation) is above %g ms", 1000*f.MaxP99)
	}
	fmt.Fprintf(&b, " or there is no call; failed checks accumulate over the rollout (a passing check does not reset them) and the candidate is rolled back at the check that makes %d failures (Flagger itself acts one interval later; the simulation credits it the earlier time)", f.Threshold)
	return b.String()
}

// Observe adds the look to the window and checks at each interval.
func (f *FixedThreshold) Observe(t Tick) bool {
	c := t.Look.Candidate
	if f.hist == nil {
		f.hist = make([]uint64, len(c.Latency.Counts))
	}
	f.calls += c.Calls
	f.errors += c.Errors
	for i, n := range c.Latency.Counts {
		if i < len(f.hist) {
			f.hist[i] += n
		}
	}
	if t.SecondEnd {
		f.seconds++
	}
	if !t.SecondEnd || f.seconds < f.Interval {
		return false
	}
	fail := f.calls == 0 || float64(f.errors)/float64(f.calls) > f.MaxErrorRate
	if f.MaxP99 > 0 && !fail {
		p99 := judge.Buckets{Bounds: c.Latency.Bounds, Counts: f.hist}.Quantile(0.99)
		fail = p99 > f.MaxP99
	}
	if fail {
		f.failed++
	}
	f.seconds, f.calls, f.errors = 0, 0, 0
	clear(f.hist)
	return f.failed >= f.Threshold
}
