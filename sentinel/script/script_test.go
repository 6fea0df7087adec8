package script_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/telemetry"
)

// mustScript compiles src as name or fails the test.
func mustScript(t *testing.T, name, src string, opts ...script.Option) *script.Script {
	t.Helper()
	s, err := script.New(name, src, opts...)
	require.NoError(t, err)
	return s
}

// scriptErr asserts err is a *script.Error and returns it.
func scriptErr(t *testing.T, err error) *script.Error {
	t.Helper()
	require.Error(t, err)
	var se *script.Error
	require.ErrorAs(t, err, &se, "%v", err)
	return se
}

// judged is a judge after n looks of w.
func judged(t *testing.T, n int, w *telemetry.Window) *judge.Judge {
	t.Helper()
	j, err := judge.New(judge.Config{})
	require.NoError(t, err)
	for range n {
		c := w.Version("canary").Role(balancer.RolePrimary)
		b := w.Version("stable").Role(balancer.RolePrimary)
		require.NoError(t, j.Observe(judge.Look{
			Candidate: judge.Figures{Calls: c.Calls, Errors: c.Errors},
			Baseline:  judge.Figures{Calls: b.Calls, Errors: b.Errors},
		}))
	}
	return j
}

// progressing is a state in step 2 at 5 %, 30 s into the step, with w as
// this tick's window and the step's.
func progressing(j *judge.Judge, w *telemetry.Window) *sentinel.State {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &sentinel.State{Position: sentinel.Position{Phase: sentinel.PhaseProgressing, Step: 2, StepName: "5%", StepStart: start.Add(60 * time.Second), Baseline: "stable", Candidate: "canary", Weights: []balancer.Weight{{Version: "stable", Weight: 9500}, {Version: "canary", Weight: 500}}}, Now: start.Add(90 * time.Second), InStep: 30 * time.Second, CandidateWeight: 500, Window: w, StepWindow: w, StepCalls: w.Version("canary").Role(balancer.RolePrimary).Calls}
	if j != nil {
		st.Judge = j
		st.Verdict = j.Verdict()
	}
	return st
}

func decide(t *testing.T, s *script.Script, st *sentinel.State) sentinel.Decision {
	t.Helper()
	d, err := s.Decide(context.Background(), st)
	require.NoError(t, err)
	return d
}

func TestScriptSeesTheState(t *testing.T) {
	s := mustScript(t, "look.star", `
def on_tick(state):
    c = state.window[state.candidate]
    b = state.step_window[state.baseline]
    log("phase", state.phase, state.step, state.step_name, state.in_step, state.now, state.step_start)
    log("weights", state.weights, state.candidate_weight, state.step_calls, state.dry_run)
    log("candidate", c.calls, c.errors, c.error_rate, c.p50 > 0, c.fallbacks, "baseline", b.calls, b.errors)
    log("verdict", state.verdict.outcome, state.verdict.test, len(state.verdict.tests))
    e = state.errors()
    log("errors", e.outcome, e.evidence.candidate.samples, e.evidence.threshold, e.alpha == state.budget().errors)
    log("latency", state.latency() != None, "shadow", state.shadow())
    log("judge", state.judge().outcome)
    log("quantile", state.quantile(state.candidate, 0.5, window = "tick") == c.p50, state.quantile("nobody", 0.5))
    mw = state.mann_whitney()
    log("mann_whitney", mw.candidate, mw.baseline, mw.prob_slower)
    log("params", params.limit, params.name, params.wait, params.list, params.nested["a"])
    log("label", step_label(50), TOTAL_WEIGHT, math.sqrt(16.0))
`, script.WithParams(map[string]any{"limit": 3, "name": "x", "wait": 90 * time.Second,
		"list": []int{1, 2}, "nested": map[string]any{"a": true}}))
	w := window(900, 4, 100, 1, 0.02, 0.02)
	d := decide(t, s, progressing(judged(t, 3, w), w))
	assert.Equal(t, sentinel.ActionHold, d.Action)
	assert.Equal(t, "script look.star took no action", d.Reason)
	assert.Equal(t, []string{
		`phase progressing 2 5% 30.0 30.0 0.0`,
		`weights {"stable": 9500, "canary": 500} 500 100 False`,
		`candidate 100 1 0.01 True 0 baseline 900 4`,
		`verdict inconclusive  2`,
		`errors inconclusive 300 180.0 True`,
		`latency True shadow None`,
		`judge inconclusive`,
		`quantile True None`,
		`mann_whitney 100 900 0.5`,
		`params 3 x 90.0 [1, 2] True`,
		`label 0.5% 10000 4.0`,
	}, d.Logs)
}

func TestScriptNowCountsFromTheRolloutStart(t *testing.T) {
	s := mustScript(t, "now.star", `
def on_tick(state):
    log(str(state.now), str(state.step_start), str(state.in_step))
`)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &sentinel.State{Position: sentinel.Position{Phase: sentinel.PhasePending, StepStart: start, Baseline: "stable", Candidate: "canary"}, Now: start.Add(5 * time.Second), InStep: 5 * time.Second}
	assert.Equal(t, []string{"5.0 0.0 5.0"}, decide(t, s, st).Logs)
	st = &sentinel.State{Position: sentinel.Position{Phase: sentinel.PhaseProgressing, Step: 1, StepStart: start.Add(60 * time.Second), Baseline: "stable", Candidate: "canary"}, Now: start.Add(75 * time.Second), InStep: 15 * time.Second}
	assert.Equal(t, []string{"75.0 60.0 15.0"}, decide(t, s, st).Logs)
}

func TestScriptActionsMakeDecisions(t *testing.T) {
	w := window(900, 0, 100, 0, 0.02, 0.02)
	cases := []struct {
		src   string
		phase sentinel.Phase
		want  sentinel.Decision
	}{
		{`set_weight(100)`, sentinel.PhasePending,
			sentinel.Decision{Action: sentinel.ActionStart, Weight: 100, StepName: "1%", Reason: "script a.star: candidate to 1%"}},
		{`set_weight(2500, reason = "why", step = "quarter")`, sentinel.PhaseProgressing,
			sentinel.Decision{Action: sentinel.ActionAdvance, Weight: 2500, StepName: "quarter", Reason: "why"}},
		{`set_weights({"canary": 700, "stable": 9300})`, sentinel.PhaseProgressing,
			sentinel.Decision{Action: sentinel.ActionSetWeights, Weight: 700, Reason: "script a.star: candidate weight set to 700 bp"}},
		{`set_weights({"canary": 10000}, step = "cutover", reason = "all in")`, sentinel.PhaseProgressing,
			sentinel.Decision{Action: sentinel.ActionSetWeights, Weight: 10000, StepName: "cutover", Reason: "all in"}},
		{`promote("good")`, sentinel.PhaseProgressing, sentinel.Decision{Action: sentinel.ActionPromote, Reason: "good"}},
		{`rollback(reason = "bad")`, sentinel.PhaseProgressing, sentinel.Decision{Action: sentinel.ActionRollback, Reason: "bad"}},
		{`pause()`, sentinel.PhaseProgressing, sentinel.Decision{Action: sentinel.ActionPause, Reason: "script a.star: pause"}},
		{`hold("wait")`, sentinel.PhaseProgressing, sentinel.Decision{Action: sentinel.ActionHold, Reason: "wait"}},
		{`alert("look", 1)
    log("a")
    print("b")
    hold("wait")`, sentinel.PhaseProgressing,
			sentinel.Decision{Action: sentinel.ActionHold, Reason: "wait", Alerts: []string{"look 1"}, Logs: []string{"a", "b"}}},
	}
	for _, c := range cases {
		s := mustScript(t, "a.star", "def on_tick(state):\n    "+c.src+"\n")
		st := progressing(nil, w)
		st.Phase = c.phase
		assert.Equal(t, c.want, decide(t, s, st), c.src)
	}
}

func TestScriptRejectsBadActions(t *testing.T) {
	w := window(900, 0, 100, 0, 0.02, 0.02)
	cases := map[string]string{
		"promote()\n    rollback()":                   `a.star:3:13: rollback() after promote() at a.star:2:12: a tick takes one action`,
		"hold()\n    hold()":                          `a.star:3:9: hold() after hold() at a.star:2:9`,
		"set_weight(20000)":                           `set_weight: weight = 20000, want 0..10000 basis points (in on_tick)`,
		"set_weight(25.0)":                            `set_weight: weight is of type float (25.0), want an int`,
		`set_weights({"stable": 10000})`:              `do not name the candidate "canary"`,
		`set_weights({"other": 1})`:                   `version "other" is not in the split (it has "stable", "canary")`,
		`set_weights({"canary": 100, "stable": 100})`: `add up to 200 with the other versions, want 10000`,
		`set_weights({"canary": 100}, 3)`:             `set_weights: for parameter reason: got int, want string`,
		"return 1":                                    `on_tick returned a value of type int; it decides by calling actions`,
		"[log(str(i)) for i in range(100)]":           `log: more than 64 log lines in one tick`,
		"alert()":                                     `alert: missing message`,
		"x = 1 // 0":                                  `a.star:2:11: floored division by zero (in on_tick)`,
	}
	for src, want := range cases {
		s := mustScript(t, "a.star", "def on_tick(state):\n    "+src+"\n")
		_, err := s.Decide(context.Background(), progressing(nil, w))
		se := scriptErr(t, err)
		assert.Contains(t, se.Error(), want, src)
		assert.True(t, strings.HasPrefix(se.Error(), "ninelives: script a.star"), se.Error())
	}
}

func TestScriptStateIsReadOnlyButMemoryPersists(t *testing.T) {
	w := window(900, 0, 100, 0, 0.02, 0.02)
	for src, want := range map[string]string{
		`state.phase = "promoted"`:     "can't assign to .phase field of struct",
		`state.weights["canary"] = 1`:  "cannot insert into frozen hash table",
		`state.window["canary"].calls`: "", // reading is fine
		`params.x = 1`:                 "can't assign to .x field of struct",
	} {
		s := mustScript(t, "ro.star", "def on_tick(state):\n    "+src+"\n", script.WithParams(map[string]any{"x": 0}))
		_, err := s.Decide(context.Background(), progressing(nil, w))
		if want == "" {
			assert.NoError(t, err, src)
			continue
		}
		assert.ErrorContains(t, err, want, src)
	}

	s := mustScript(t, "mem.star", `
def on_tick(state):
    m = state.memory
    m["ticks"] = m.get("ticks", 0) + 1
    if "first" not in m:
        m["first"] = state.now
    if m["ticks"] == 1:
        m["judge"] = state.judge
    elif m["ticks"] == 3:
        m["judge"]()  # a function of an old tick's state
    log("tick", m["ticks"], "since", m["first"])
`)
	st := progressing(nil, w)
	assert.Equal(t, []string{"tick 1 since 30.0"}, decide(t, s, st).Logs)
	st.Now = st.Now.Add(time.Second)
	assert.Equal(t, []string{"tick 2 since 30.0"}, decide(t, s, st).Logs)
	_, err := s.Decide(context.Background(), st)
	assert.ErrorContains(t, err, "state.judge() belongs to the tick that made it")
	assert.Equal(t, []string{"tick 4 since 30.0"}, decide(t, s, st).Logs, "what a failing tick changed stays")

	// A new rollout (a pending state that began at another time) starts
	// with empty memory; the same rollout keeps it.
	pending := &sentinel.State{Position: sentinel.Position{Phase: sentinel.PhasePending, StepStart: st.Now, Baseline: "stable", Candidate: "canary"}, Now: st.Now}
	assert.Equal(t, []string{"tick 1 since 0.0"}, decide(t, s, pending).Logs)
	assert.Equal(t, []string{"tick 2 since 0.0"}, decide(t, s, pending).Logs)
}

func TestScriptLoadErrorsCarryFileLineCol(t *testing.T) {
	pos := regexp.MustCompile(`^ninelives: script bad\.star:\d+:\d+: `)
	cases := map[string]string{
		"def on_tick(state)\n    pass\n":                       `bad.star:2:1: got newline, want ':'`,
		"def on_tick(state):\n    return nope\n":               `bad.star:2:12: undefined: nope`,
		"def on_tick(state):\n    x = 1\n    return y + z\n":   `bad.star:3:12: undefined: y; bad.star:3:16: undefined: z`,
		"def on_tick(state):\n    while True:\n        pass\n": `bad.star:2:5: this Starlark dialect does not support while loops`,
		"x = 1 // 0\ndef on_tick(state):\n    pass\n":          `bad.star:1:7: floored division by zero`,
		"def on_tick(state, extra):\n    pass\n":               `bad.star:1:1: on_tick takes (state, extra), want exactly one parameter`,
		"def on_tick():\n    pass\n":                           `bad.star:1:1: on_tick takes no parameter, want exactly one parameter`,
		"promote()\ndef on_tick(state):\n    pass\n":           `bad.star:1:8: promote() may be called only while on_tick runs`,
	}
	for src, want := range cases {
		_, err := script.New("bad.star", src)
		se := scriptErr(t, err)
		assert.Regexp(t, pos, se.Error(), src)
		assert.Contains(t, se.Error(), want, src)
	}
	for src, want := range map[string]string{
		"def tick(state):\n    pass\n": "ninelives: script bad.star: on_tick is not defined; a script defines def on_tick(state)",
		"on_tick = 3\n":                "ninelives: script bad.star: on_tick is of type int, want a function def on_tick(state)",
	} {
		_, err := script.New("bad.star", src)
		assert.EqualError(t, err, want)
	}

	// From a file, positions carry the path.
	path := filepath.Join(t.TempDir(), "policy.star")
	require.NoError(t, os.WriteFile(path, []byte("def on_tick(state):\n    rollback(\n"), 0o600))
	_, err := script.Load(path)
	se := scriptErr(t, err)
	assert.True(t, strings.HasPrefix(se.Error(), "ninelives: script "+path+":3:1: "), se.Error())
	_, err = script.Load(filepath.Join(t.TempDir(), "missing.star"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestScriptRejectsBadOptions(t *testing.T) {
	ok := "def on_tick(state):\n    pass\n"
	for want, opts := range map[string][]script.Option{
		"WithSteps = 0: want at least 1":                                            {script.WithSteps(0)},
		"WithTimeout = -1s: want a positive duration":                               {script.WithTimeout(-time.Second)},
		`params["c"]: of type chan int`:                                             {script.WithParams(map[string]any{"c": make(chan int)})},
		`params["m"]: of type map[int]int, want string keys`:                        {script.WithParams(map[string]any{"m": map[int]int{1: 1}})},
		`params["l"][1]: of type func()`:                                            {script.WithParams(map[string]any{"l": []any{1, func() {}}})},
		"opts[0]: the option is nil":                                                {nil},
		`WithLibrary = "": want a library name`:                                     {script.WithLibrary("", "x = 1")},
		`ninelives: bad script option: WithParams = "": want a name for each param`: {script.WithParams(map[string]any{"": 1})},
	} {
		_, err := script.New("a.star", ok, opts...)
		assert.ErrorIs(t, err, script.ErrBadOption, want)
		assert.ErrorContains(t, err, want)
	}
	_, err := script.New("", ok)
	assert.ErrorContains(t, err, `ninelives: bad script option: name = "": want the script's file name`)
	_, err = script.Canary(sentinel.CanaryConfig{Steps: []int{500, 100}})
	assert.ErrorContains(t, err, "Steps[1] = 100")
	_, err = script.Builtin("nope.star")
	assert.ErrorContains(t, err, `ninelives: bad script option: name = "nope.star": no such built-in script (there are ["bluegreen.star" "canary.star"])`)
}

func TestScriptSandboxStopsEndlessLoops(t *testing.T) {
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))

	// A loop without end is stopped by the step limit.
	s := mustScript(t, "loop.star", `
def on_tick(state):
    for i in range(1 << 62):
        pass
`, script.WithSteps(100_000))
	_, err := s.Decide(context.Background(), st)
	se := scriptErr(t, err)
	assert.ErrorIs(t, err, script.ErrSteps)
	assert.Equal(t, "ninelives: script loop.star:3:5: stopped at the limit of 100000 steps (in on_tick)", se.Error())
	assert.Contains(t, se.Backtrace, "loop.star:3:5: in on_tick")

	// Without a step limit or a memory budget to speak of (each step is
	// charged 32 bytes), the time limit stops it.
	s = mustScript(t, "loop.star", `
def on_tick(state):
    for i in range(1 << 62):
        pass
`, script.WithSteps(1<<62), script.WithMemory(1<<60), script.WithTimeout(20*time.Millisecond))
	_, err = s.Decide(context.Background(), st)
	assert.ErrorIs(t, err, script.ErrTimeout)
	assert.ErrorContains(t, err, "stopped at the time limit of 20ms (in on_tick)")

	// So is the context's end.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Decide(ctx, st)
	assert.ErrorIs(t, err, context.Canceled)

	// The top level runs under the same limits.
	_, err = script.New("top.star", "x = [i for i in range(1 << 62)]\ndef on_tick(state):\n    pass\n", script.WithSteps(10_000))
	assert.ErrorIs(t, err, script.ErrSteps)
	assert.ErrorContains(t, err, "top.star:1:")

	// Recursion, the other way to loop, is not allowed at all.
	s = mustScript(t, "rec.star", `
def f(n):
    return f(n + 1)
def on_tick(state):
    f(0)
`)
	_, err = s.Decide(context.Background(), st)
	assert.ErrorContains(t, err, "rec.star:3:12: function f called recursively (in f)")
}

func TestScriptSandboxHasNoFilesNetworkOrClock(t *testing.T) {
	for src, want := range map[string]string{
		`open("/etc/passwd")`:           "undefined: open",
		`time.now()`:                    "undefined: time",
		`os.getenv("HOME")`:             "undefined: os",
		`http.get("http://127.0.0.1/")`: "undefined: http",
	} {
		_, err := script.New("sand.star", "def on_tick(state):\n    "+src+"\n")
		se := scriptErr(t, err)
		assert.Equal(t, "sand.star:2:5", se.Pos, src)
		assert.Contains(t, se.Msg, want)
	}
	for _, module := range []string{"os", "time", "/etc/passwd", "@stdlib//json"} {
		_, err := script.New("sand.star", `load("`+module+`", "x")`+"\ndef on_tick(state):\n    pass\n")
		se := scriptErr(t, err)
		assert.Equal(t, "sand.star:1:1", se.Pos)
		assert.Contains(t, se.Msg, `load("`+module+`"): no such library; a script may load only the libraries its host gives (none)`)
	}
	// Only what the host gives can be loaded.
	lib := script.WithLibrary("gates", "def healthy(v):\n    return v.outcome == \"pass\"\n")
	s := mustScript(t, "lib.star", `
load("gates", "healthy")
def on_tick(state):
    if not healthy(state.verdict):
        hold("not yet")
`, lib)
	d := decide(t, s, progressing(nil, window(900, 0, 100, 0, 0.02, 0.02)))
	assert.Equal(t, "not yet", d.Reason)
	_, err := script.New("lib.star", `load("os", "x")`+"\ndef on_tick(state):\n    pass\n", lib)
	assert.ErrorContains(t, err, `no such library; a script may load only the libraries its host gives ("gates")`)
	_, err = script.New("lib.star", `load("a", "x")`+"\ndef on_tick(state):\n    pass\n",
		script.WithLibrary("a", `load("b", "y")`+"\nx = y"), script.WithLibrary("b", `load("a", "x")`+"\ny = x"))
	assert.ErrorContains(t, err, "through a cycle")
	_, err = script.New("lib.star", `load("a", "x")`+"\ndef on_tick(state):\n    pass\n",
		script.WithLibrary("a", "x = ("))
	assert.ErrorContains(t, err, "ninelives: script a:1:6: ")
}

func TestScriptRuntimeErrorHoldsTheRolloutAndAlerts(t *testing.T) {
	s := mustScript(t, "fragile.star", `
def on_tick(state):
    if state.phase == "pending":
        set_weight(100)
        return
    ratio = state.window[state.candidate].errors / state.window[state.candidate].calls
    hold("ratio %f" % ratio)
`)
	r := newRig(t, s)
	e := r.tick(healthy())
	require.Equal(t, sentinel.ActionStart, e.Action)
	assert.Equal(t, sentinel.ActionHold, r.tick(healthy()).Action)
	for range 3 { // the candidate gets no call: division by zero, every tick
		e = r.tick(window(900, 0, 0, 0, 0.02, 0.02))
		assert.Equal(t, sentinel.ActionPolicyFail, e.Action)
		assert.Contains(t, e.Reason, "the policy failed, the rollout holds: ninelives: script fragile.star:6:50: floating-point division by zero (in on_tick)")
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.Contains(t, r.s.Status().PolicyError, "fragile.star:6:50")
	assert.Equal(t, sentinel.ActionHold, r.tick(healthy()).Action, "it recovers with data")
	assert.Empty(t, r.s.Status().PolicyError)
	require.NoError(t, r.s.Close()) // delivers the queued alerts
	assert.Equal(t, []sentinel.Action{sentinel.ActionPolicyFail}, r.alerts.actions(), "one alert per failure streak")

	// An endless tick is stopped and held the same way.
	s = mustScript(t, "slow.star", `
def on_tick(state):
    for i in range(1 << 62):
        pass
`, script.WithSteps(10_000))
	r = newRig(t, s)
	e = r.tick(healthy())
	assert.Equal(t, sentinel.ActionPolicyFail, e.Action)
	assert.Contains(t, e.Reason, "stopped at the limit of 10000 steps")
	assert.Equal(t, sentinel.PhasePending, r.s.Status().Phase)

	// Rolling back on a failing policy is the user's choice.
	r = newRig(t, mustScript(t, "fragile.star", `
def on_tick(state):
    if state.phase == "pending":
        set_weight(100)
    else:
        fail("broken")
`), sentinel.WithRollbackOnPolicyError(true))
	r.tick(healthy())
	e = r.tick(healthy())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Contains(t, e.Reason, "fragile.star:6:13: fail: broken")
}

func TestScriptReloadWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.star")
	write := func(src string) { require.NoError(t, os.WriteFile(path, []byte(src), 0o600)) }
	v1 := `
def on_tick(state):
    state.memory["n"] = state.memory.get("n", 0) + 1
    if state.phase == "pending":
        set_weight(100)
    else:
        hold("v1 %d" % state.memory["n"])
`
	write(v1)
	s, err := script.Load(path)
	require.NoError(t, err)
	assert.Equal(t, "policy.star", s.Name())
	assert.EqualValues(t, 1, s.Revision())
	r := newRig(t, s)
	assert.Equal(t, sentinel.ActionStart, r.tick(healthy()).Action)
	assert.Equal(t, "v1 2", r.tick(healthy()).Reason)
	assert.Equal(t, "v1 3", r.tick(healthy()).Reason)

	// A valid new version takes over at the next tick; memory carries over.
	write(strings.Replace(v1, `"v1 %d"`, `"v2 %d"`, 1))
	require.NoError(t, s.Reload())
	assert.EqualValues(t, 2, s.Revision())
	assert.Equal(t, "v2 4", r.tick(healthy()).Reason)

	// A broken one is refused and the running one goes on.
	write("def on_tick(state):\n    hold(\n")
	err = s.Reload()
	se := scriptErr(t, err)
	assert.True(t, strings.HasPrefix(se.Pos, path+":3:1"), se.Pos)
	err = s.SetSource("def on_tick():\n    pass\n")
	assert.ErrorContains(t, err, "want exactly one parameter")
	err = s.SetSource("def tick(state):\n    pass\n")
	assert.ErrorContains(t, err, "on_tick is not defined")
	assert.EqualValues(t, 2, s.Revision())
	assert.Equal(t, "v2 5", r.tick(healthy()).Reason)

	// SetSource works the same way; a script from source has no file to reload.
	require.NoError(t, s.SetSource(`
def on_tick(state):
    rollback("v3")
`))
	assert.Contains(t, s.Source(), "v3")
	e := r.tick(healthy())
	assert.Equal(t, sentinel.ActionRollback, e.Action)
	assert.Equal(t, "v3", e.Reason)
	assert.ErrorContains(t, mustScript(t, "src.star", "def on_tick(state):\n    pass\n").Reload(), "made from source, not a file: use SetSource")
}

func TestScriptReloadRacesWithTicks(t *testing.T) {
	s := mustScript(t, "race.star", "def on_tick(state):\n    hold(\"a\")\n")
	r := newRig(t, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			src := "def on_tick(state):\n    hold(\"b\")\n"
			if i%2 == 1 {
				src = "def on_tick(state):\n    hold(\n" // refused
			}
			err := s.SetSource(src)
			assert.Equal(t, i%2 == 1, err != nil)
		}
	}()
	for range 50 {
		e := r.tick(healthy())
		assert.Contains(t, []string{"a", "b"}, e.Reason)
	}
	wg.Wait()
	assert.Equal(t, "b", r.tick(healthy()).Reason)
	assert.EqualValues(t, 26, s.Revision())
}

func TestScriptErrorUnwraps(t *testing.T) {
	e := &script.Error{Script: "a.star", Msg: "m", Err: script.ErrTimeout}
	assert.True(t, errors.Is(e, script.ErrTimeout))
	assert.Equal(t, "ninelives: script a.star: m", e.Error())
	e.Pos = "a.star:1:2"
	assert.Equal(t, "ninelives: script a.star:1:2: m", e.Error())
}

// A hold that alerts sends each alert text once, as an alert event of its
// own text; the hold's reason is never sent as an alert.
func TestHoldWithAlertsSendsOnlyTheAlerts(t *testing.T) {
	src := `def on_tick(state):
    if state.phase == "pending":
        set_weight(100)
        return
    alert("first")
    alert("second")
    hold("waiting")
`
	r := newRig(t, mustScript(t, "alerting.star", src))
	r.tick(healthy())
	e := r.tick(healthy())
	assert.Equal(t, sentinel.ActionAlert, e.Action)
	assert.Equal(t, "first", e.Reason)
	assert.True(t, e.Alert)
	require.NoError(t, r.s.Close()) // delivers the queued alerts
	r.alerts.mu.Lock()
	defer r.alerts.mu.Unlock()
	var texts []string
	for _, a := range r.alerts.events {
		texts = append(texts, a.Reason)
	}
	assert.Equal(t, []string{"first", "second"}, texts)
}

// A decision the pause holds says so, alerts or not: the event is the
// "is held" one, and the decision's alert texts follow it, each once.
func TestAPausedDecisionThatAlertsSaysItIsHeld(t *testing.T) {
	src := `def on_tick(state):
    if state.phase == "pending":
        set_weight(100)
        return
    alert("cutting over to canary now")
    alert("paused: advance (cut over) is held")
    set_weight(10000, reason = "cut over")
`
	r := newRig(t, mustScript(t, "cut.star", src))
	r.tick(healthy())
	require.NoError(t, r.s.Pause(context.Background(), "ops", ""))
	e := r.tick(healthy())
	assert.Equal(t, sentinel.ActionAlert, e.Action)
	assert.Equal(t, "paused: advance (cut over) is held", e.Reason)
	assert.True(t, e.Alert)
	assert.Equal(t, sentinel.PhasePaused, e.Phase)
	assert.Equal(t, 100, r.split.Weight("canary"), "the cut-over is not carried out")

	require.NoError(t, r.s.Close()) // delivers the queued alerts
	r.alerts.mu.Lock()
	defer r.alerts.mu.Unlock()
	var texts []string
	for _, a := range r.alerts.events {
		if a.Action == sentinel.ActionAlert {
			texts = append(texts, a.Reason)
		}
	}
	assert.Equal(t, []string{"paused: advance (cut over) is held", "cutting over to canary now"}, texts,
		"the held decision, then its alerts; the one with the same text is not sent twice")
}

func TestScriptSeesWhatTheCandidateServedAndGivesTheVerdictOfItsDecision(t *testing.T) {
	s := mustScript(t, "serving.star", `
def on_tick(state):
    sv = state.serving
    log("serving", sv.ready, sv.calls, sv.fallbacks, sv.expected, sv.span, sv.ok, sv.down, sv.down_for, sv.downs, sv.unavailable, sv.lost, sv.reason)
    log("verdict", type(sv.verdict), sv.verdict.outcome, sv.verdict.test, sv.verdict == state.serving.verdict)
    if params.mine:
        rollback("my own gate failed", verdict = verdict("fail", "my gate: 3 of 4", test = "mine", like = state.verdict, tests = [sv.verdict]))
    else:
        rollback(sv.reason, verdict = sv.verdict)
`, script.WithParams(map[string]any{"mine": false}))
	w := window(1000, 0, 0, 0, 0.02, 0.02)
	st := progressing(nil, w)
	st.Serving = sentinel.Serving{Listed: true, Ready: 0, Calls: 0, Fallbacks: 250, Expected: 250, Span: 5 * time.Second, Down: true,
		DownFor: 2 * time.Minute, Downs: 3, Unavailable: true, Lost: 7, Reason: "canary has no ready endpoints; 0 calls in the last 5s; not serving for 2m0s"}
	d := decide(t, s, st)
	assert.Equal(t, []string{
		`serving 0 0 250 250.0 5.0 False True 120.0 3 True 7 canary has no ready endpoints; 0 calls in the last 5s; not serving for 2m0s`,
		`verdict verdict inconclusive availability True`,
	}, d.Logs)
	assert.Equal(t, sentinel.ActionRollback, d.Action)
	require.NotNil(t, d.Verdict)
	assert.Equal(t, judge.Unavailable(st.Serving.Reason), *d.Verdict, "the decision carries the verdict it was given")

	require.NoError(t, s.SetSource(strings.Replace(s.Source(), "params.mine", "True", 1)))
	d = decide(t, s, st)
	require.NotNil(t, d.Verdict)
	assert.Equal(t, judge.Fail, d.Verdict.Outcome)
	assert.Equal(t, "mine", d.Verdict.Test)
	assert.Equal(t, "my gate: 3 of 4", d.Verdict.Reason)
	assert.Equal(t, []judge.Verdict{judge.Unavailable(st.Serving.Reason)}, d.Verdict.Tests)

	for src, want := range map[string]string{
		`rollback("x", verdict = "bad")`:    `rollback: verdict is of type string, want a verdict`,
		`verdict("maybe", "x")`:             `verdict: outcome = "maybe", want "pass", "fail" or "inconclusive"`,
		`verdict("pass", "x", like = 3)`:    `verdict: like is of type int, want a verdict or None`,
		`verdict("pass", "x", tests = [1])`: `verdict: tests[0] is of type int, want a verdict`,
	} {
		bad := mustScript(t, "bad.star", "def on_tick(state):\n    "+src+"\n")
		_, err := bad.Decide(context.Background(), st)
		assert.ErrorContains(t, err, want, src)
	}
}

// A script raises at most 16 alerts a tick, well below the sentinel's
// alert queue: more are merged into the last one, and the decision still
// goes through.
func TestAChattyScriptIsCutTo16AlertsATick(t *testing.T) {
	s := mustScript(t, "chatty.star", `
def on_tick(state):
    for i in range(64):
        alert("note", i)
    log("a line")
    rollback("bad")
`)
	d := decide(t, s, progressing(nil, window(900, 0, 100, 0, 0.02, 0.02)))
	assert.Equal(t, sentinel.ActionRollback, d.Action)
	require.Len(t, d.Alerts, 16)
	assert.Equal(t, "note 14", d.Alerts[14])
	assert.Equal(t, "note 15 (and 48 more alerts of this tick merged here: at most 16 a tick)", d.Alerts[15])
	assert.Equal(t, []string{"a line"}, d.Logs)
}

// state.judged is the candidate's figures as the judge saw them: calls
// left unanswered while the candidate still serves are held out for a
// tick, then given back.
func TestScriptSeesTheFiguresTheJudgeSaw(t *testing.T) {
	s := mustScript(t, "judged.star", `
def on_tick(state):
    if state.phase == "pending":
        set_weight(4000)
        return
    j, w = state.judged, state.window[state.candidate]
    hold("judged %d/%d of %d/%d" % (j.errors, j.calls, w.errors, w.calls))
`)
	r := newRig(t, s)
	require.Equal(t, sentinel.ActionStart, r.tick(healthy()).Action)
	assert.Equal(t, "judged 0/600 of 0/600", r.tick(healthy()).Reason)
	lost := window(900, 0, 600, 60, 0.02, 0.02)
	lost.Versions["canary"].Unanswered = 60
	assert.Equal(t, "judged 0/540 of 60/600", r.tick(lost).Reason, "held a tick")
	assert.Equal(t, "judged 60/660 of 0/600", r.tick(healthy()).Reason, "then judged")
}
