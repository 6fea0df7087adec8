package script

import (
	"errors"
	"fmt"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
	"github.com/ninelives-go/ninelives/telemetry"
)

// rateTest is a script's own sequential test of a rate against a tolerance
// (judge.RateTest's method): rate_test(tolerance, alpha, min_samples,
// min_step_samples). Its methods observe(samples, events), verdict(),
// failed() and begin_step() work as judge.RateTest's. It changes as it
// observes, so a script keeps it in state.memory; one made at a script's
// top level is frozen with the globals and cannot observe.
type rateTest struct {
	t      *judge.RateTest
	desc   string
	frozen bool
}

var (
	_ starlark.HasAttrs   = (*rateTest)(nil)
	_ starlark.HasAttrs   = histogramValue{}
	_ starlark.HasAttrs   = verdictVal{}
	_ starlark.Comparable = verdictVal{}
	_ guard.Sizer         = (*rateTest)(nil)
	_ guard.Sizer         = histogramValue{}
	_ guard.Sizer         = verdictVal{}
)

// rateTestBytes bounds what a rate test takes: its settings, and three
// numbers for each of its mixture's components.
const rateTestBytes = 1 << 10

// SizeBound implements guard.Sizer, for the memory cap.
func (r *rateTest) SizeBound() int64 { return rateTestBytes + int64(len(r.desc)) }

// verdictVal is a verdict as a script sees it: a read-only struct of its
// fields (outcome, reason, test, …), which the course actions take as the
// evidence of their decision (rollback(reason, verdict = v)).
type verdictVal struct {
	v judge.Verdict
	s *starlarkstruct.Struct
}

func (x verdictVal) String() string                           { return x.s.String() }
func (verdictVal) Type() string                               { return "verdict" }
func (x verdictVal) Freeze()                                  { x.s.Freeze() }
func (verdictVal) Truth() starlark.Bool                       { return starlark.True }
func (x verdictVal) Hash() (uint32, error)                    { return x.s.Hash() }
func (x verdictVal) Attr(name string) (starlark.Value, error) { return x.s.Attr(name) }
func (x verdictVal) AttrNames() []string                      { return x.s.AttrNames() }

// SizeBound implements guard.Sizer, for the memory cap.
func (x verdictVal) SizeBound() int64 { return verdictBytes(x.v) }

// verdictBytes bounds what a verdict takes: its fields and evidence, its
// texts, and the verdicts it sums up.
func verdictBytes(v judge.Verdict) int64 {
	n := int64(1<<10 + len(v.Reason) + len(v.Test))
	for _, t := range v.Tests {
		n += verdictBytes(t)
	}
	return n
}

// verdictBuiltin is verdict(outcome, reason, test = "", like = None,
// tests = ()): a verdict a script makes for the decision it backs (promote,
// rollback, … take verdict = …): its outcome ("pass", "fail" or
// "inconclusive"), reason and test's name, with the evidence of the verdict
// like, and the verdicts it sums up.
func verdictBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var outcome, reason, test string
	var like starlark.Value = starlark.None
	var tests starlark.Iterable = starlark.Tuple{}
	if err := starlark.UnpackArgs("verdict", args, kw, "outcome", &outcome, "reason", &reason, "test?", &test, "like?", &like, "tests?", &tests); err != nil {
		return nil, err
	}
	var v judge.Verdict
	if err := v.Outcome.UnmarshalText([]byte(outcome)); err != nil {
		return nil, fmt.Errorf("verdict: outcome = %q, want \"pass\", \"fail\" or \"inconclusive\"", outcome)
	}
	v.Reason, v.Test = reason, test
	if like != starlark.None {
		l, ok := like.(verdictVal)
		if !ok {
			return nil, fmt.Errorf("verdict: like is of type %s, want a verdict or None", like.Type())
		}
		v.Evidence = l.v.Evidence
	}
	it := tests.Iterate()
	defer it.Done()
	var x starlark.Value
	for i := 0; it.Next(&x); i++ {
		t, ok := x.(verdictVal)
		if !ok {
			return nil, fmt.Errorf("verdict: tests[%d] is of type %s, want a verdict", i, x.Type())
		}
		v.Tests = append(v.Tests, t.v)
	}
	if err := guard.Charge(th, "verdict()", 2*verdictBytes(v)); err != nil {
		return nil, err
	}
	return verdictValue(v), nil
}

// CompareSameType compares two verdicts field by field, as structs compare.
func (x verdictVal) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return starlark.CompareDepth(op, x.s, y.(verdictVal).s, depth)
}

func rateTestBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var toleranceArg, alphaArg realNumber
	var minSamples, minStep int64
	if err := starlark.UnpackArgs("rate_test", args, kw, "tolerance", &toleranceArg, "alpha", &alphaArg,
		"min_samples?", &minSamples, "min_step_samples?", &minStep); err != nil {
		return nil, err
	}
	tolerance := float64(toleranceArg)
	alpha := float64(alphaArg)
	t, err := judge.NewRateTest(alpha, judge.RateConfig{Tolerance: tolerance, MinSamples: minSamples, MinStepSamples: minStep})
	if err != nil {
		return nil, inBuiltin("rate_test", err)
	}
	cfg := t.Config()
	return &rateTest{t: t, desc: fmt.Sprintf("rate_test(tolerance = %v, alpha = %v, min_samples = %d, min_step_samples = %d)",
		cfg.Tolerance, alpha, cfg.MinSamples, cfg.MinStepSamples)}, nil
}

func (r *rateTest) String() string        { return r.desc }
func (r *rateTest) Type() string          { return "rate_test" }
func (r *rateTest) Freeze()               { r.frozen = true }
func (r *rateTest) Truth() starlark.Bool  { return starlark.True }
func (r *rateTest) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: rate_test") }
func (r *rateTest) AttrNames() []string {
	return []string{"begin_step", "failed", "observe", "verdict"}
}

func (r *rateTest) Attr(name string) (starlark.Value, error) {
	switch name {
	case "observe":
		return starlark.NewBuiltin("observe", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var samples, events int64
			if err := starlark.UnpackArgs("rate_test.observe", args, kw, "samples", &samples, "events", &events); err != nil {
				return nil, err
			}
			if r.frozen {
				return nil, fmt.Errorf("rate_test.observe: the test is frozen (made at the top level?); keep it in state.memory")
			}
			if err := r.t.Observe(samples, events); err != nil {
				return nil, inBuiltin("rate_test.observe", err)
			}
			return starlark.None, nil
		}).BindReceiver(r), nil
	case "begin_step":
		return starlark.NewBuiltin("begin_step", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs("rate_test.begin_step", args, kw); err != nil {
				return nil, err
			}
			if r.frozen {
				return nil, fmt.Errorf("rate_test.begin_step: the test is frozen (made at the top level?); keep it in state.memory")
			}
			r.t.BeginStep()
			return starlark.None, nil
		}).BindReceiver(r), nil
	case "verdict":
		return starlark.NewBuiltin("verdict", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs("rate_test.verdict", args, kw); err != nil {
				return nil, err
			}
			return verdictValue(r.t.Verdict()), nil
		}).BindReceiver(r), nil
	case "failed":
		return starlark.NewBuiltin("failed", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs("rate_test.failed", args, kw); err != nil {
				return nil, err
			}
			return starlark.Bool(r.t.Failed()), nil
		}).BindReceiver(r), nil
	}
	return nil, nil
}

// histogramValue is a version's latency histogram, read-only: count, sum,
// min, max (seconds), quantile(q), count_above(seconds) and merge(other).
type histogramValue struct{ h telemetry.Histogram }

func (histogramValue) Type() string          { return "histogram" }
func (histogramValue) Freeze()               {}
func (histogramValue) Truth() starlark.Bool  { return starlark.True }
func (histogramValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: histogram") }
func (v histogramValue) String() string {
	return fmt.Sprintf("histogram(count = %d, p50 = %s, p99 = %s)", v.h.Count, starlark.Float(finite(v.h.P50())), starlark.Float(finite(v.h.P99())))
}

// SizeBound implements guard.Sizer: what the histogram takes, for the
// memory cap and for the charges of the builtins that make one.
func (v histogramValue) SizeBound() int64 { return histogramBytes(v.h) }

// histogramBytes is what a copy of h takes, with its window when merged.
func histogramBytes(h telemetry.Histogram) int64 { return 8*int64(len(h.Counts)) + 512 }

func (histogramValue) AttrNames() []string {
	return []string{"count", "count_above", "max", "merge", "min", "quantile", "sum"}
}

func (v histogramValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "count":
		return starlark.MakeUint64(v.h.Count + v.h.ZeroCount), nil
	case "sum":
		return starlark.Float(finite(v.h.Sum)), nil
	case "min":
		return starlark.Float(finite(v.h.Min)), nil
	case "max":
		return starlark.Float(finite(v.h.Max)), nil
	case "quantile":
		return starlark.NewBuiltin("quantile", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var qArg realNumber
			if err := starlark.UnpackArgs("histogram.quantile", args, kw, "q", &qArg); err != nil {
				return nil, err
			}
			q := float64(qArg)
			return quantileValue("histogram.quantile", v.h, q)
		}).BindReceiver(v), nil
	case "count_above":
		return starlark.NewBuiltin("count_above", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var xArg realNumber
			if err := starlark.UnpackArgs("histogram.count_above", args, kw, "seconds", &xArg); err != nil {
				return nil, err
			}
			x := float64(xArg)
			return starlark.MakeUint64(v.h.CountAbove(x)), nil
		}).BindReceiver(v), nil
	case "merge":
		return starlark.NewBuiltin("merge", func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
			var o histogramValue
			if err := starlark.UnpackArgs("histogram.merge", args, kw, "other", &o); err != nil {
				return nil, err
			}
			if err := guard.Charge(th, "histogram.merge()", 2*(v.SizeBound()+o.SizeBound())); err != nil {
				return nil, err
			}
			return mergeHistograms(v.h, o.h)
		}).BindReceiver(v), nil
	}
	return nil, nil
}

// Unpack lets a builtin take a histogram argument.
func (v *histogramValue) Unpack(x starlark.Value) error {
	h, ok := x.(histogramValue)
	if !ok {
		return fmt.Errorf("got %s, want histogram", x.Type())
	}
	*v = h
	return nil
}

// mergeHistograms adds histograms up in order, as windows add up (the
// lower scale wins); none is changed.
func mergeHistograms(hs ...telemetry.Histogram) (starlark.Value, error) {
	acc := new(telemetry.Window)
	for _, h := range hs {
		w := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"": {
			Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Latency: h.Clone()}},
		}}}
		if err := acc.Merge(w); err != nil {
			return nil, inBuiltin("merge_histograms", err)
		}
	}
	return histogramValue{h: acc.Version("").Role(balancer.RolePrimary).Latency}, nil
}

// mergeHistogramsBuiltin is merge_histograms(histograms): their sum, added
// in order. Each histogram is charged before it is merged: a copy of it
// and its window.
func mergeHistogramsBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Iterable
	if err := starlark.UnpackArgs("merge_histograms", args, kw, "histograms", &seq); err != nil {
		return nil, err
	}
	var hs []telemetry.Histogram
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	for i := 0; it.Next(&x); i++ {
		h, ok := x.(histogramValue)
		if !ok {
			return nil, fmt.Errorf("merge_histograms: element %d is of type %s, want a histogram", i, x.Type())
		}
		if err := guard.Charge(th, "merge_histograms()", 2*h.SizeBound()); err != nil {
			return nil, err
		}
		hs = append(hs, h.h)
	}
	return mergeHistograms(hs...)
}

// quantileValue is h's q-quantile, None when h is empty.
func quantileValue(fn string, h telemetry.Histogram, q float64) (starlark.Value, error) {
	if !(q >= 0 && q <= 1) {
		return nil, fmt.Errorf("%s: q = %v, want 0 ≤ q ≤ 1", fn, q)
	}
	x := h.Quantile(q)
	if h.Empty() || math.IsNaN(x) || math.IsInf(x, 0) {
		return starlark.None, nil
	}
	return starlark.Float(x), nil
}

// realNumber unpacks a builtin's argument that may be an int or a float.
type realNumber float64

// Unpack implements starlark.Unpacker.
func (r *realNumber) Unpack(v starlark.Value) error {
	f, ok := starlark.AsFloat(v)
	if !ok {
		return fmt.Errorf("got %s, want a number", v.Type())
	}
	*r = realNumber(f)
	return nil
}

// finite returns x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// builtinError is the failure of a builtin: its name, then the fault. A
// config error shows its field, value and reason without its kind, since
// the script's Error that carries it leads with the prefix.
type builtinError struct {
	fn  string
	err error
}

func inBuiltin(fn string, err error) error { return &builtinError{fn: fn, err: err} }

func (e *builtinError) Error() string {
	var ce *config.Error
	if errors.As(e.err, &ce) {
		return e.fn + ": " + (&config.Error{Field: ce.Field, Value: ce.Value, Reason: ce.Reason, Err: ce.Err}).Error()
	}
	return e.fn + ": " + e.err.Error()
}

func (e *builtinError) Unwrap() error { return e.err }
