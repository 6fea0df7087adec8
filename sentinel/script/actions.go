package script

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
)

// Limits on what one tick may say. A tick's alerts stay well below the
// sentinel's alert queue (64 of a policy's alerts): more are merged into
// the last one kept.
const (
	maxScriptAlerts    = 16
	maxScriptLogs      = 64
	maxScriptMessageLn = 2048
)

// recorder collects the actions of one tick.
type recorder struct {
	script string
	phase  sentinel.Phase

	action   sentinel.Action // "" until an action that sets the course
	call     string          // that action's name
	pos      string          // and where it was called
	weight   int
	stepName string
	reason   string
	verdict  *judge.Verdict // the evidence the action gave, if any

	alerts, logs []string
	alertsCut    int // alerts past maxScriptAlerts, merged into the last
}

// message adds a line to alerts or logs, within the limits.
func (r *recorder) message(to *[]string, msg string) error {
	switch {
	case to == &r.alerts && len(r.alerts) >= maxScriptAlerts:
		r.alertsCut++
		return nil
	case to == &r.logs && len(r.logs) >= maxScriptLogs:
		return fmt.Errorf("more than %d log lines in one tick", maxScriptLogs)
	}
	if len(msg) > maxScriptMessageLn {
		cut := maxScriptMessageLn
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	*to = append(*to, msg)
	return nil
}

// set records the tick's one action that sets the course.
func (r *recorder) set(th *starlark.Thread, call string, a sentinel.Action, weight int, stepName, reason string) error {
	pos := callerPos(th)
	if r.action != "" {
		return fmt.Errorf("%s() after %s() at %s: a tick takes one action that sets the course (set_weight, set_weights, promote, rollback, pause, hold)", call, r.call, r.pos)
	}
	if reason == "" {
		reason = fmt.Sprintf("script %s: %s", r.script, call)
	}
	r.action, r.call, r.pos, r.weight, r.stepName, r.reason = a, call, pos, weight, stepName, reason
	return nil
}

// setWith records the course as set does, with the verdict it rests on.
func (r *recorder) setWith(th *starlark.Thread, call string, a sentinel.Action, weight int, stepName, reason string, v *judge.Verdict) error {
	if err := r.set(th, call, a, weight, stepName, reason); err != nil {
		return err
	}
	r.verdict = v
	return nil
}

// callerPos is where the running builtin was called from.
func callerPos(th *starlark.Thread) string {
	if th.CallStackDepth() < 2 {
		return "?"
	}
	return th.CallFrame(1).Pos.String()
}

// decision turns the recorded actions into the tick's Decision.
func (r *recorder) decision(st *sentinel.State) sentinel.Decision {
	if r.alertsCut > 0 {
		r.alerts[len(r.alerts)-1] += fmt.Sprintf(" (and %d more alerts of this tick merged here: at most %d a tick)", r.alertsCut, maxScriptAlerts)
	}
	d := sentinel.Decision{Action: r.action, Weight: r.weight, StepName: r.stepName, Reason: r.reason, Verdict: r.verdict, Alerts: r.alerts, Logs: r.logs}
	switch r.action {
	case "":
		d.Action = sentinel.ActionHold
		d.Reason = fmt.Sprintf("script %s took no action", r.script)
	case sentinel.ActionAdvance:
		if st.Phase == sentinel.PhasePending {
			d.Action = sentinel.ActionStart
		}
	}
	return d
}

// tickOf finds the running tick, or says that actions belong in on_tick.
func tickOf(th *starlark.Thread, name string) (*tick, error) {
	t, _ := th.Local(tickKey).(*tick)
	if t == nil || t.ended {
		return nil, fmt.Errorf("%s() may be called only while on_tick runs", name)
	}
	return t, nil
}

// actionBuiltins are the actions a script calls.
var actionBuiltins = map[string]builtinFn{
	"set_weight":  setWeightBuiltin,
	"set_weights": setWeightsBuiltin,
	"promote":     courseBuiltin("promote", sentinel.ActionPromote),
	"rollback":    courseBuiltin("rollback", sentinel.ActionRollback),
	"pause":       courseBuiltin("pause", sentinel.ActionPause),
	"hold":        courseBuiltin("hold", sentinel.ActionHold),
	"alert":       messageBuiltin("alert", func(r *recorder) *[]string { return &r.alerts }),
	"log":         messageBuiltin("log", func(r *recorder) *[]string { return &r.logs }),
}

func courseBuiltin(name string, a sentinel.Action) builtinFn {
	return func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		t, err := tickOf(th, name)
		if err != nil {
			return nil, err
		}
		var reason string
		var verdict starlark.Value = starlark.None
		if err := starlark.UnpackArgs(name, args, kw, "reason?", &reason, "verdict?", &verdict); err != nil {
			return nil, err
		}
		v, err := verdictArg(name, verdict)
		if err != nil {
			return nil, err
		}
		return starlark.None, t.rec.setWith(th, name, a, 0, "", reason, v)
	}
}

// verdictArg reads an action's verdict argument: nil for None.
func verdictArg(name string, verdict starlark.Value) (*judge.Verdict, error) {
	if verdict == starlark.None {
		return nil, nil
	}
	x, ok := verdict.(verdictVal)
	if !ok {
		return nil, fmt.Errorf("%s: verdict is of type %s, want a verdict (state.verdict, state.serving.verdict, a rate_test's verdict()) or None", name, verdict.Type())
	}
	return &x.v, nil
}

func messageBuiltin(name string, to func(*recorder) *[]string) builtinFn {
	return func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		t, err := tickOf(th, name)
		if err != nil {
			return nil, err
		}
		if len(kw) > 0 {
			return nil, fmt.Errorf("%s: unexpected keyword argument %s", name, kw[0][0])
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("%s: missing message", name)
		}
		if err := t.rec.message(to(t.rec), joinMessage(args)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return starlark.None, nil
	}
}

// joinMessage joins a message's parts with spaces, as print does, but
// stops past the longest message kept, so that neither a long string nor
// a large value is copied or printed whole.
func joinMessage(args starlark.Tuple) string {
	var b strings.Builder
	for i, a := range args {
		if b.Len() > maxScriptMessageLn {
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		s, ok := starlark.AsString(a)
		if !ok {
			s = guard.Bounded(a, maxScriptMessageLn)
		}
		b.WriteString(s[:min(len(s), maxScriptMessageLn+1)])
	}
	return b.String()
}

// weightArg reads a weight in basis points.
func weightArg(fn, what string, v starlark.Value) (int, error) {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0, fmt.Errorf("%s: %s is of type %s (%s), want an int in basis points (0..%d)", fn, what, v.Type(), guard.Bounded(v, 256), balancer.TotalWeight)
	}
	n, ok := i.Int64()
	if !ok || n < 0 || n > balancer.TotalWeight {
		return 0, fmt.Errorf("%s: %s = %s, want 0..%d basis points", fn, what, i, balancer.TotalWeight)
	}
	return int(n), nil
}

func setWeightBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "set_weight")
	if err != nil {
		return nil, err
	}
	var bp starlark.Value
	var reason, step string
	var verdict starlark.Value = starlark.None
	if err := starlark.UnpackArgs("set_weight", args, kw, "weight", &bp, "reason?", &reason, "step?", &step, "verdict?", &verdict); err != nil {
		return nil, err
	}
	w, err := weightArg("set_weight", "weight", bp)
	if err != nil {
		return nil, err
	}
	v, err := verdictArg("set_weight", verdict)
	if err != nil {
		return nil, err
	}
	if step == "" {
		step = plan.Label(w)
	}
	if reason == "" {
		reason = fmt.Sprintf("script %s: candidate to %s", t.rec.script, plan.Label(w))
	}
	return starlark.None, t.rec.setWith(th, "set_weight", sentinel.ActionAdvance, w, step, reason, v)
}

func setWeightsBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "set_weights")
	if err != nil {
		return nil, err
	}
	var weights *starlark.Dict
	var reason, step string
	var verdict starlark.Value = starlark.None
	if err := starlark.UnpackArgs("set_weights", args, kw, "weights", &weights, "reason?", &reason, "step?", &step, "verdict?", &verdict); err != nil {
		return nil, err
	}
	v, err := verdictArg("set_weights", verdict)
	if err != nil {
		return nil, err
	}
	st := t.st
	current := make(map[string]int, len(st.Weights))
	for _, w := range st.Weights {
		current[w.Version] = w.Weight
	}
	known := func(v string) bool {
		_, ok := current[v]
		return ok || v == st.Baseline || v == st.Candidate
	}
	if n := weights.Len(); n > len(current)+2 {
		return nil, fmt.Errorf("set_weights: weights name %d versions; the split has %d", n, len(current))
	}
	given := make(map[string]int, weights.Len())
	for _, item := range weights.Items() {
		v, ok := starlark.AsString(item[0])
		if !ok {
			return nil, fmt.Errorf("set_weights: key %s is of type %s, want a version name", guard.Bounded(item[0], 256), item[0].Type())
		}
		if !known(v) {
			return nil, fmt.Errorf("set_weights: version %q is not in the split (it has %s)", v, versionList(st))
		}
		w, err := weightArg("set_weights", fmt.Sprintf("weights[%q]", v), item[1])
		if err != nil {
			return nil, err
		}
		given[v] = w
	}
	cand, ok := given[st.Candidate]
	if !ok {
		return nil, fmt.Errorf("set_weights: weights %s do not name the candidate %q", guard.Bounded(weights, 256), st.Candidate)
	}
	others := 0
	for v, w := range current {
		if v == st.Baseline || v == st.Candidate {
			continue
		}
		if g, ok := given[v]; ok && g != w {
			return nil, fmt.Errorf("set_weights: weights[%q] = %d, but the sentinel moves only the baseline and the candidate: keep it at %d", v, g, w)
		}
		others += w
	}
	if cand+others > balancer.TotalWeight {
		return nil, fmt.Errorf("set_weights: the candidate's %d and the other versions' %d add up to more than %d", cand, others, balancer.TotalWeight)
	}
	if b, ok := given[st.Baseline]; ok && b+cand+others != balancer.TotalWeight {
		return nil, fmt.Errorf("set_weights: weights %s add up to %d with the other versions, want %d", guard.Bounded(weights, 256), b+cand+others, balancer.TotalWeight)
	}
	if reason == "" {
		reason = fmt.Sprintf("script %s: candidate weight set to %d bp", t.rec.script, cand)
	}
	return starlark.None, t.rec.setWith(th, "set_weights", sentinel.ActionSetWeights, cand, step, reason, v)
}

func versionList(st *sentinel.State) string {
	var vs []string
	for _, w := range st.Weights {
		vs = append(vs, fmt.Sprintf("%q", w.Version))
	}
	for _, v := range []string{st.Baseline, st.Candidate} {
		if q := fmt.Sprintf("%q", v); !slices.Contains(vs, q) {
			vs = append(vs, q)
		}
	}
	return strings.Join(vs, ", ")
}

func stepLabelBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var bp starlark.Value
	if err := starlark.UnpackArgs("step_label", args, kw, "weight", &bp); err != nil {
		return nil, err
	}
	w, err := weightArg("step_label", "weight", bp)
	if err != nil {
		return nil, err
	}
	return starlark.String(plan.Label(w)), nil
}

func percentBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var xArg realNumber
	if err := starlark.UnpackArgs("percent", args, kw, "fraction", &xArg); err != nil {
		return nil, err
	}
	x := float64(xArg)
	return starlark.String(judge.Percent(x)), nil
}

func numberBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var xArg realNumber
	if err := starlark.UnpackArgs("number", args, kw, "x", &xArg); err != nil {
		return nil, err
	}
	x := float64(xArg)
	return starlark.String(judge.Number(finite(x))), nil
}

func durationBuiltin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var xArg realNumber
	if err := starlark.UnpackArgs("duration", args, kw, "seconds", &xArg); err != nil {
		return nil, err
	}
	x := float64(xArg)
	if math.IsNaN(x) || math.Abs(x) > float64(math.MaxInt64)/1e9 {
		return nil, fmt.Errorf("duration: %v seconds is out of range", x)
	}
	return starlark.String(time.Duration(x * float64(time.Second)).Round(time.Microsecond).String()), nil
}

// paramsValue turns a script's parameters into a frozen struct.
func paramsValue(p map[string]any) (starlark.Value, error) {
	d := make(starlark.StringDict, len(p))
	for k, v := range p {
		if k == "" {
			return nil, config.Errorf(ErrBadOption, "WithParams", "", "want a name for each param")
		}
		sv, err := toStarlark(reflect.ValueOf(v), fmt.Sprintf("params[%q]", k))
		if err != nil {
			return nil, err
		}
		d[k] = sv
	}
	s := structOf("params", d)
	s.Freeze()
	return s, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// toStarlark converts a Go parameter value; path names it in errors.
func toStarlark(v reflect.Value, path string) (starlark.Value, error) {
	if !v.IsValid() {
		return starlark.None, nil
	}
	if v.Type() == durationType {
		return starlark.Float(time.Duration(v.Int()).Seconds()), nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return starlark.None, nil
		}
		return toStarlark(v.Elem(), path)
	case reflect.Bool:
		return starlark.Bool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return starlark.MakeInt64(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return starlark.MakeUint64(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return starlark.Float(v.Float()), nil
	case reflect.String:
		return starlark.String(v.String()), nil
	case reflect.Slice, reflect.Array:
		out := make([]starlark.Value, v.Len())
		for i := range out {
			e, err := toStarlark(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		l := starlark.NewList(out)
		l.Freeze()
		return l, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, config.Errorf(ErrBadOption, path, nil, "of type %s, want string keys", v.Type())
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		d := starlark.NewDict(len(keys))
		for _, k := range keys {
			e, err := toStarlark(v.MapIndex(k), fmt.Sprintf("%s[%q]", path, k.String()))
			if err != nil {
				return nil, err
			}
			_ = d.SetKey(starlark.String(k.String()), e)
		}
		d.Freeze()
		return d, nil
	}
	return nil, config.Errorf(ErrBadOption, path, nil, "of type %s, want nil, a bool, a number, a string, a time.Duration, or a slice or map of these", v.Type())
}
