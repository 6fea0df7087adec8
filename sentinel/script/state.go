package script

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.starlark.net/starlark"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/internal/grid"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
	"github.com/ninelives-go/ninelives/telemetry"
)

// tickKey is the thread-local key under which a running tick is found by
// the action builtins.
const tickKey = "ninelives.tick"

// tick is one call of on_tick: the state it was given, the actions it
// records, and whether it is still running (the state's functions fail
// after it ends).
type tick struct {
	script  *Script
	ctx     context.Context
	st      *sentinel.State
	rec     *recorder
	ended   bool
	verdict *judge.Verdict // the judge's verdict, computed once per tick
}

func (t *tick) end() { t.ended = true }

// stateValue renders the state as a Starlark struct.
func (t *tick) stateValue(origin time.Time, memory *starlark.Dict) starlark.Value {
	st := t.st
	since := func(at time.Time) starlark.Value {
		if origin.IsZero() || at.IsZero() {
			return starlark.Float(0)
		}
		return starlark.Float(at.Sub(origin).Seconds())
	}
	weights := new(starlark.Dict)
	for _, w := range st.Weights {
		_ = weights.SetKey(starlark.String(w.Version), starlark.MakeInt(w.Weight))
	}
	weights.Freeze()
	d := starlark.StringDict{
		"phase":            starlark.String(st.Phase),
		"step":             starlark.MakeInt(st.Step),
		"step_name":        starlark.String(st.StepName),
		"now":              since(st.Now),
		"step_start":       since(st.StepStart),
		"in_step":          starlark.Float(st.InStep.Seconds()),
		"baseline":         starlark.String(st.Baseline),
		"candidate":        starlark.String(st.Candidate),
		"weights":          weights,
		"candidate_weight": starlark.MakeInt(st.CandidateWeight),
		"target_weight":    starlark.MakeInt(st.TargetWeight),
		"window":           windowValue(st.Window, st.Baseline, st.Candidate),
		"step_window":      windowValue(st.StepWindow, st.Baseline, st.Candidate),
		"judged":           judgedValue(st),
		"step_calls":       starlark.MakeInt64(st.StepCalls),
		"serving":          servingValue(st.Serving),
		"dry_run":          starlark.Bool(st.DryRun),
		"verdict":          verdictValue(st.Verdict),
		"memory":           memory,
		"judge":            t.builtin("judge", t.judgeFn),
		"errors":           t.builtin("errors", t.testFn(judge.TestErrors)),
		"latency":          t.builtin("latency", t.testFn(judge.TestLatency)),
		"shadow":           t.builtin("shadow", t.testFn(judge.TestShadow)),
		"budget":           t.builtin("budget", t.budgetFn),
		"quantile":         t.builtin("quantile", t.quantileFn),
		"mann_whitney":     t.builtin("mann_whitney", t.mannWhitneyFn),
		"histogram":        t.builtin("histogram", t.histogramFn),
	}
	return structOf("state", d)
}

type builtinFn = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// builtin wraps a function of the state so that it fails once the tick has
// ended.
func (t *tick) builtin(name string, fn builtinFn) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		if t.ended {
			return nil, fmt.Errorf("state.%s() belongs to the tick that made it; call it on the state of this tick", name)
		}
		return fn(th, b, args, kw)
	})
}

// judgeVerdict is the judge's verdict now, or the state's when the state
// carries no judge.
func (t *tick) judgeVerdict() judge.Verdict {
	if t.verdict == nil {
		v := t.st.Verdict
		if t.st.Judge != nil {
			v = t.st.Judge.Verdict()
		}
		t.verdict = &v
	}
	return *t.verdict
}

func (t *tick) judgeFn(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs("state.judge", args, kw); err != nil {
		return nil, err
	}
	return verdictValue(t.judgeVerdict()), nil
}

func (t *tick) testFn(test string) builtinFn {
	return func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs("state."+test, args, kw); err != nil {
			return nil, err
		}
		for _, v := range t.judgeVerdict().Tests {
			if v.Test == test {
				return verdictValue(v), nil
			}
		}
		return starlark.None, nil
	}
}

func (t *tick) budgetFn(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs("state.budget", args, kw); err != nil {
		return nil, err
	}
	var b judge.Budget
	if t.st.Judge != nil {
		b = t.st.Judge.Budget()
	} else {
		for _, v := range t.st.Verdict.Tests {
			if v.Evidence == nil {
				continue
			}
			switch v.Test {
			case judge.TestErrors:
				b.Errors = v.Evidence.Alpha
			case judge.TestLatency:
				b.Latency = v.Evidence.Alpha
			case judge.TestShadow:
				b.Shadow = v.Evidence.Alpha
			}
		}
	}
	return structOf("budget", starlark.StringDict{
		"errors":  starlark.Float(b.Errors),
		"latency": starlark.Float(b.Latency),
		"shadow":  starlark.Float(b.Shadow),
	}), nil
}

// windowOf returns the tick's or the step's window by name.
func (t *tick) windowOf(fn, name string) (*telemetry.Window, error) {
	switch name {
	case "step":
		return t.st.StepWindow, nil
	case "tick":
		return t.st.Window, nil
	}
	return nil, fmt.Errorf("%s: window = %q, want \"step\" or \"tick\"", fn, name)
}

func (t *tick) quantileFn(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var version string
	var qArg realNumber
	window := "step"
	if err := starlark.UnpackArgs("state.quantile", args, kw, "version", &version, "q", &qArg, "window?", &window); err != nil {
		return nil, err
	}
	q := float64(qArg)
	w, err := t.windowOf("state.quantile", window)
	if err != nil {
		return nil, err
	}
	h := w.Version(version).Role(balancer.RolePrimary).Latency
	if err := guard.Charge(th, "state.quantile()", histogramBytes(h)); err != nil {
		return nil, err
	}
	return quantileValue("state.quantile", h, q)
}

func (t *tick) histogramFn(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var version string
	window, role := "tick", string(balancer.RolePrimary)
	if err := starlark.UnpackArgs("state.histogram", args, kw, "version", &version, "window?", &window, "role?", &role); err != nil {
		return nil, err
	}
	w, err := t.windowOf("state.histogram", window)
	if err != nil {
		return nil, err
	}
	if !balancer.Role(role).Known() {
		return nil, fmt.Errorf("state.histogram: role = %q, want %q, %q, %q or %q", role, balancer.RolePrimary, balancer.RoleShadow, balancer.RoleWarmup, balancer.RoleRescue)
	}
	h := w.Version(version).Role(balancer.Role(role)).Latency
	if err := guard.Charge(th, "state.histogram()", histogramBytes(h)); err != nil {
		return nil, err
	}
	return histogramValue{h: h.Clone()}, nil
}

func (t *tick) mannWhitneyFn(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	window := "step"
	if err := starlark.UnpackArgs("state.mann_whitney", args, kw, "window?", &window); err != nil {
		return nil, err
	}
	w, err := t.windowOf("state.mann_whitney", window)
	if err != nil {
		return nil, err
	}
	c := w.Version(t.st.Candidate).Role(balancer.RolePrimary).Latency
	b := w.Version(t.st.Baseline).Role(balancer.RolePrimary).Latency
	if err := guard.Charge(th, "state.mann_whitney()", 2*(histogramBytes(c)+histogramBytes(b))); err != nil {
		return nil, err
	}
	ch, bh := grid.Buckets(c), grid.Buckets(b)
	r, err := judge.MannWhitney(ch, bh)
	if err != nil {
		return nil, inBuiltin("state.mann_whitney", err)
	}
	return structOf("mann_whitney", starlark.StringDict{
		"u":           starlark.Float(finite(r.U)),
		"mean":        starlark.Float(finite(r.Mean)),
		"variance":    starlark.Float(finite(r.Variance)),
		"z":           starlark.Float(finite(r.Z)),
		"prob_slower": starlark.Float(finite(r.ProbSlower)),
		"candidate":   starlark.MakeUint64(r.Candidate),
		"baseline":    starlark.MakeUint64(r.Baseline),
	}), nil
}

// windowValue renders a window as a frozen dict version → figures, with
// the baseline and the candidate first and always present.
func windowValue(w *telemetry.Window, baseline, candidate string) *starlark.Dict {
	names := []string{baseline, candidate}
	for _, v := range w.VersionNames() {
		if !slices.Contains(names, v) {
			names = append(names, v)
		}
	}
	d := starlark.NewDict(len(names))
	for _, v := range names {
		_ = d.SetKey(starlark.String(v), figuresValue(w.Figures(v)))
	}
	d.Freeze()
	return d
}

// judgedValue renders the candidate's primary calls of this tick's window
// as the judge saw them (State.JudgedCandidate), as window's figures are.
func judgedValue(st *sentinel.State) starlark.Value {
	r := st.JudgedCandidate()
	w := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		st.Candidate: {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: &r}},
	}}
	return figuresValue(w.Figures(st.Candidate))
}

func figuresValue(f telemetry.Figures) starlark.Value {
	return structOf("figures", starlark.StringDict{
		"calls":              starlark.MakeInt64(f.Calls),
		"errors":             starlark.MakeInt64(f.Errors),
		"error_rate":         starlark.Float(f.ErrorRate),
		"p50":                starlark.Float(f.P50),
		"p90":                starlark.Float(f.P90),
		"p99":                starlark.Float(f.P99),
		"shadow_comparisons": starlark.MakeInt64(f.ShadowComparisons),
		"shadow_mismatches":  starlark.MakeInt64(f.ShadowMismatches),
		"fallbacks":          starlark.MakeInt64(f.Fallbacks),
	})
}

// readyOrUnknown is the candidate's READY endpoints, or -1 when the router
// does not list endpoints.
func readyOrUnknown(sv sentinel.Serving) int {
	if !sv.Listed {
		return -1
	}
	return sv.Ready
}

// servingValue renders what the candidate served over the last ticks.
func servingValue(sv sentinel.Serving) starlark.Value {
	return structOf("serving", starlark.StringDict{
		"ready":       starlark.MakeInt(readyOrUnknown(sv)),
		"calls":       starlark.MakeInt64(sv.Calls),
		"fallbacks":   starlark.MakeInt64(sv.Fallbacks),
		"expected":    starlark.Float(finite(sv.Expected)),
		"span":        starlark.Float(sv.Span.Seconds()),
		"ok":          starlark.Bool(sv.OK),
		"down":        starlark.Bool(sv.Down),
		"down_for":    starlark.Float(sv.DownFor.Seconds()),
		"downs":       starlark.MakeInt(sv.Downs),
		"unavailable": starlark.Bool(sv.Unavailable),
		"lost":        starlark.MakeInt64(sv.Lost),
		"reason":      starlark.String(sv.Reason),
		"verdict":     verdictValue(judge.Unavailable(sv.Reason)),
	})
}

func verdictValue(v judge.Verdict) starlark.Value {
	var stat, thr, alpha float64
	evidence := starlark.Value(starlark.None)
	if e := v.Evidence; e != nil {
		stat, thr, alpha = e.Statistic, e.Threshold, e.Alpha
		evidence = evidenceValue(e)
	}
	tests := make(starlark.Tuple, len(v.Tests))
	for i, t := range v.Tests {
		tests[i] = verdictValue(t)
	}
	return verdictVal{v: v, s: structOf("verdict", starlark.StringDict{
		"outcome":   starlark.String(v.Outcome.String()),
		"reason":    starlark.String(v.Reason),
		"test":      starlark.String(v.Test),
		"statistic": starlark.Float(finite(stat)),
		"threshold": starlark.Float(finite(thr)),
		"alpha":     starlark.Float(finite(alpha)),
		"evidence":  evidence,
		"tests":     tests,
	})}
}

func evidenceValue(e *judge.Evidence) starlark.Value {
	sample := func(s judge.Sample) starlark.Value {
		return structOf("sample", starlark.StringDict{
			"samples": starlark.MakeInt64(s.Samples),
			"events":  starlark.MakeInt64(s.Events),
			"rate":    starlark.Float(finite(s.Rate)),
			"p50":     starlark.Float(finite(s.P50)),
			"p90":     starlark.Float(finite(s.P90)),
			"p99":     starlark.Float(finite(s.P99)),
		})
	}
	return structOf("evidence", starlark.StringDict{
		"method":         starlark.String(e.Method),
		"statistic":      starlark.Float(finite(e.Statistic)),
		"threshold":      starlark.Float(finite(e.Threshold)),
		"alpha":          starlark.Float(finite(e.Alpha)),
		"looks":          starlark.MakeInt(e.Looks),
		"failed_at_look": starlark.MakeInt(e.FailedAtLook),
		"candidate":      sample(e.Candidate),
		"baseline":       sample(e.Baseline),
		"step_samples":   starlark.MakeInt64(e.StepSamples),
		"tolerance":      starlark.Float(finite(e.Tolerance)),
		"pass_statistic": starlark.Float(finite(e.PassStatistic)),
		"pass_threshold": starlark.Float(finite(e.PassThreshold)),
		"prob_slower":    starlark.Float(finite(e.ProbSlower)),
		"z":              starlark.Float(finite(e.Z)),
	})
}
