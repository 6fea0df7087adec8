package script_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

// attack is a policy that tries to exhaust the memory (or the time) of the
// process running it. Each defines on_tick(state); global_at_load does its
// damage at the top level; memory_growth needs several ticks.
type attack struct {
	name  string
	src   string
	ticks int
	// issue marks the attacks of issue 17, which the memory budget or cap
	// must stop; the others are variants found in the interpreter's
	// source, which the step or time limit may stop first.
	issue bool
}

// hostile are the attacks, the issue's first. Run plain, without the
// guard, [0] * ((1 << 30) - 1), list(range(1 << 28)), the dict and join
// below and several printing attacks each ended a process with "fatal
// error: out of memory" under a 4 GiB limit.
var hostile = []attack{
	{name: "list_repeat", issue: true, src: `
def on_tick(state):
    x = [0] * (1 << 30)
`},
	{name: "string_repeat", issue: true, src: `
def on_tick(state):
    x = "x" * (1 << 30)
`},
	{name: "list_repeat_max", issue: true, src: `
def on_tick(state):
    x = [0] * ((1 << 30) - 1)
`},
	{name: "string_repeat_max", issue: true, src: `
def on_tick(state):
    x = "x" * ((1 << 30) - 1)
    y = x + x
`},
	{name: "list_range", issue: true, src: `
def on_tick(state):
    x = list(range(1 << 28))
`},
	{name: "dict_comprehension", src: `
def on_tick(state):
    x = {i: i for i in range(1 << 26)}
`},
	{name: "dict_zip", issue: true, src: `
def on_tick(state):
    x = dict(zip(range(1 << 26), range(1 << 26)))
`},
	{name: "join", issue: true, src: `
def on_tick(state):
    x = "".join(["x" * (1 << 20)] * 2048)
`},
	{name: "global_at_load", issue: true, src: `
G = [0] * (1 << 26)

def on_tick(state):
    pass
`},
	{name: "memory_growth", issue: true, ticks: 30, src: `
def on_tick(state):
    m = state.memory
    if "blob" not in m:
        m["blob"] = []
    m["blob"].append("y" * (16 << 20))
`},
	// Variants: small steps that double, amplifying methods, formatting.
	{name: "concat_doubling", src: `
def on_tick(state):
    s = "x"
    for i in range(40):
        s = s + s
`},
	{name: "list_iadd_doubling", src: `
def on_tick(state):
    l = [0]
    for i in range(40):
        l += l
`},
	{name: "extend_doubling", src: `
def on_tick(state):
    l = [0]
    for i in range(40):
        l.extend(l)
`},
	{name: "bigint_squaring", src: `
def on_tick(state):
    x = 3 << 500
    for i in range(40):
        x = x * x
`},
	{name: "repr_dag", src: `
def on_tick(state):
    t = ("x",)
    for i in range(40):
        t = (t, t)
    s = str(t)
`},
	{name: "format_dag", src: `
def on_tick(state):
    l = ["x"]
    for i in range(40):
        l = [l, l]
    s = "%s" % (l,)
`},
	{name: "json_dag", src: `
def on_tick(state):
    l = ["x"]
    for i in range(40):
        l = [l, l]
    s = json.encode(l)
`},
	{name: "replace_amplify", src: `
def on_tick(state):
    s = ("x" * 1000).replace("", "y" * (1 << 20))
`},
	{name: "split_amplify", src: `
def on_tick(state):
    s = " a" * (1 << 24)
    parts = s.split()
`},
	{name: "upper_accumulate", src: `
def on_tick(state):
    s = "x" * (1 << 24)
    keep = [s.upper() for i in range(1000)]
`},
	{name: "slice_accumulate", src: `
def on_tick(state):
    l = list(range(1 << 20))
    keep = [l[:] for i in range(1000)]
`},
	{name: "format_method_fields", src: `
def on_tick(state):
    s = ("{0}" * 100000).format("x" * (1 << 16))
`},
	{name: "sorted_range", src: `
def on_tick(state):
    x = sorted(range(1 << 28))
`},
	{name: "bytes_repeat", src: `
def on_tick(state):
    x = b"x" * (1 << 30)
`},
	{name: "json_indent", src: `
def on_tick(state):
    s = json.indent("[" * 30000 + "]" * 30000, indent = "        ")
`},
	{name: "dag_key_error", src: `
def on_tick(state):
    t = ("x",)
    for i in range(25):
        t = (t, t)
    d = {}
    return d[t]
`},
	{name: "varargs_dag", src: `
def pair(*a):
    return a

def on_tick(state):
    t = ("x",)
    for i in range(40):
        t = pair(t, t)
    s = str(t)
`},
	// CPU, not memory: hashing a tuple that shares its parts takes time
	// exponential in its depth, in one step (d[t] = v is not checked).
	{name: "dag_hash_cpu", src: `
def on_tick(state):
    t = ("x",)
    for i in range(26):
        t = (t, t)
    d = {}
    d[t] = 1
`},
	// One long step within the budget: the time limit is only checked
	// between steps.
	{name: "slow_sort", src: `
def on_tick(state):
    l = [(i * 7919) % 2097143 for i in range(50000)]
    l = l * 4
    x = sorted(l)
`},
	// Many small steps, each keeping what it makes: bounded by the step
	// limit, not by the charges.
	{name: "steps_tuples", src: `
def on_tick(state):
    keep = [(i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i) for i in range(1 << 30)]
`},
	{name: "steps_dict", src: `
def on_tick(state):
    keep = {i: [i] for i in range(1 << 30)}
`},
	{name: "steps_lists", src: `
def on_tick(state):
    keep = [[i, i, i, i, i, i, i, i] for i in range(1 << 30)]
`},
	{name: "steps_dictlit", src: `
def on_tick(state):
    keep = [{"a": i, "b": i, "c": i, "d": i, "e": i, "f": i, "g": i, "h": i} for i in range(1 << 30)]
`},
	{name: "steps_strings", src: `
def on_tick(state):
    keep = [str(i) for i in range(1 << 30)]
`},
	{name: "steps_floats", src: `
def on_tick(state):
    keep = [i / 3 for i in range(1 << 30)]
`},
}

// budget is the default memory budget of a run.
const budget = 64 << 20

// Every attack ends as an error of the run, the issue's by the memory
// budget or cap with the process's allocation growing by less than the
// budget, the others within twice the budget in all (the budget, and what
// the steps leave for the collector).
func TestHostileScriptsAreStoppedWithinTheBudget(t *testing.T) {
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))
	for _, a := range hostile {
		t.Run(a.name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { err = a.run(st) })
			se := scriptErr(t, err)
			if a.issue {
				assert.ErrorIs(t, err, script.ErrMemory, "%v", se)
			} else {
				assert.True(t, errors.Is(err, script.ErrMemory) || errors.Is(err, script.ErrSteps) || errors.Is(err, script.ErrTimeout), "%v", se)
			}
			limit := uint64(2 * budget)
			if a.issue {
				limit = budget // refused before they allocate, or capped
			}
			assert.LessOrEqual(t, alloc, limit, "allocated %d MiB", alloc>>20)
			t.Logf("%3d MiB allocated: %.120s", alloc>>20, se.Error())
		})
	}
}

// allocated is what the process allocated while f ran, in bytes (the
// tests of this package run one at a time).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// run loads the attack and ticks it until it fails.
func (a attack) run(st *sentinel.State) error {
	s, err := script.New(a.name+".star", a.src, unhurried)
	if err != nil {
		return err
	}
	for range max(a.ticks, 1) {
		if _, err := s.Decide(context.Background(), st); err != nil {
			return err
		}
	}
	return nil
}

// A script over its budget is a policy error like any other: the rollout
// holds, one alert is raised for the streak, and the weights stay.
func TestAnAttackHoldsTheRolloutAndAlertsOnce(t *testing.T) {
	s := mustScript(t, "greedy.star", `
def on_tick(state):
    if state.phase == "pending":
        set_weight(100)
        return
    x = [0] * ((1 << 30) - 1)
    promote("never reached")
`)
	r := newRig(t, s)
	require.Equal(t, sentinel.ActionStart, r.tick(healthy()).Action)
	for range 3 {
		e := r.tick(healthy())
		assert.Equal(t, sentinel.ActionPolicyFail, e.Action)
		assert.Contains(t, e.Reason, "greedy.star:6:13: x * y would allocate 16.0 GiB, over the run's memory budget of 64.0 MiB")
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Equal(t, 100, r.split.Weight("canary"))
	require.NoError(t, r.s.Close())
	assert.Equal(t, []sentinel.Action{sentinel.ActionPolicyFail}, r.alerts.actions(), "one alert for the streak")
}

// What a script keeps is capped: state.memory over the cap fails the tick
// and is emptied; globals over it fail the load.
func TestWhatAScriptKeepsIsCapped(t *testing.T) {
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))
	s := mustScript(t, "hoard.star", `
def on_tick(state):
    m = state.memory
    m["ticks"] = m.get("ticks", 0) + 1
    if m["ticks"] == 3:
        m["blob"] = "y" * (1 << 20)
    hold("tick %d" % m["ticks"])
`)
	for i := 1; i <= 2; i++ {
		assert.Equal(t, fmt.Sprintf("tick %d", i), decide(t, s, st).Reason)
	}
	_, err := s.Decide(context.Background(), st)
	require.ErrorIs(t, err, script.ErrMemory)
	assert.EqualError(t, err, "ninelives: script hoard.star: state.memory takes more than the memory cap of 1.0 MiB (printed size, WithMemoryCap); it was emptied")
	assert.Equal(t, "tick 1", decide(t, s, st).Reason, "memory starts afresh")

	_, err = script.New("big.star", "G = \"x\" * (2 << 20)\ndef on_tick(state):\n    pass\n")
	require.ErrorIs(t, err, script.ErrMemory)
	assert.ErrorContains(t, err, "the globals of big.star take more than the memory cap of 1.0 MiB")
	_, err = script.New("big.star", "G = \"x\" * (2 << 20)\ndef on_tick(state):\n    pass\n", script.WithMemoryCap(3<<20))
	assert.NoError(t, err, "a larger cap lets it load")
	_, err = script.New("huge.star", "G = \"x\" * (1 << 30)\ndef on_tick(state):\n    pass\n")
	require.ErrorIs(t, err, script.ErrMemory)
	assert.ErrorContains(t, err, "huge.star:1:9: x * y would allocate 1.0 GiB, over the run's memory budget of 64.0 MiB")
}

// Raising the step limit does not lift the budget: each step is charged.
func TestManyStepsAreChargedToo(t *testing.T) {
	s := mustScript(t, "steps.star", `
def on_tick(state):
    keep = [[i, i, i, i, i, i, i, i] for i in range(1 << 30)]
`, script.WithSteps(1<<40), unhurried)
	var err error
	alloc := allocated(func() { _, err = s.Decide(context.Background(), progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))) })
	require.ErrorIs(t, err, script.ErrMemory)
	assert.ErrorContains(t, err, "more steps would allocate")
	assert.LessOrEqual(t, alloc, uint64(2*budget))
}

func TestMemoryOptionsAreChecked(t *testing.T) {
	for _, o := range []script.Option{script.WithMemory(1 << 20), script.WithMemory(-1), script.WithMemoryCap(0)} {
		_, err := script.New("a.star", "def on_tick(state):\n    pass\n", o)
		assert.ErrorIs(t, err, script.ErrBadOption)
	}
	_, err := script.New("a.star", "def on_tick(state):\n    pass\n", script.WithMemory(1<<20))
	assert.EqualError(t, err, "ninelives: bad script option: WithMemory = 1048576: want at least 4194304 bytes (4 MiB)")
}

// The host's own builtins charge what they allocate and print what they
// are given bounded: merging many histograms is refused before it is
// done, and a value that prints exponentially large becomes a short note
// in an alert or an error.
func TestHostBuiltinsChargeWhatTheyAllocate(t *testing.T) {
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))
	dag := "\n    t = (\"x\",)\n    for i in range(40):\n        t = (t, t)\n"
	for _, c := range []struct{ name, body, want string }{
		{"merge_histograms", "\n    h = state.histogram(state.candidate)\n    m = merge_histograms([h] * 100000)\n", "merge_histograms() would allocate"},
		{"histogram.merge", "\n    h = state.histogram(state.candidate)\n    for i in range(100000):\n        h = h.merge(h)\n", "histogram.merge() would allocate"},
		{"set_weight", dag + "    set_weight(t)\n", "set_weight: weight is of type tuple (<tuple too large to print>)"},
		{"set_weights", "\n    set_weights({str(i): 1 for i in range(20000)})\n", "set_weights: weights name 20000 versions; the split has 2"},
		{"alert", dag + "    alert(\"look:\", t, \"x\" * (32 << 20))\n    hold()\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustScript(t, c.name+".star", "def on_tick(state):"+c.body, unhurried)
			var d sentinel.Decision
			var err error
			alloc := allocated(func() { d, err = s.Decide(context.Background(), st) })
			if c.want == "" {
				require.NoError(t, err)
				require.Len(t, d.Alerts, 1)
				assert.True(t, strings.HasPrefix(d.Alerts[0], "look: <tuple too large to print> xxx"), d.Alerts[0][:80])
				assert.LessOrEqual(t, len(d.Alerts[0]), 2048+len("…"))
			} else {
				scriptErr(t, err)
				assert.ErrorContains(t, err, c.want)
			}
			assert.LessOrEqual(t, alloc, uint64(2*budget), "allocated %d MiB", alloc>>20)
		})
	}
}
