// Package script runs Starlark meta-policies: a Script is a
// sentinel.Strategy written in Starlark (go.starlark.net), a small,
// deterministic dialect of Python. A script defines on_tick(state), which
// the sentinel calls once per tick; it reads the state and calls action
// builtins (set_weight, promote, rollback, pause, hold, alert, …) to say
// what to do.
//
//	def on_tick(state):
//	    if state.verdict.outcome == "fail":
//	        rollback("the judge failed the candidate: " + state.verdict.reason)
//	    elif state.phase == "pending":
//	        set_weight(100)  # start the first step at 1 %
//	    elif state.verdict.outcome == "pass" and state.in_step >= params.min_seconds:
//	        promote("healthy for a minute")
//
//	policy, err := script.Load("policy.star", script.WithParams(map[string]any{"min_seconds": 60}))
//	s, err := sentinel.New(split, source, policy)
//
// The full reference — what the state holds, the statistics a script may
// call (the judge's verdicts, quantiles, Mann-Whitney, rate tests), the
// actions and the sandbox — is README.md in this package's folder.
//
// # The map
//
//   - New compiles a script from source, Load from a file; Reload and
//     SetSource swap in a new program atomically, only if it loads.
//   - Canary and BlueGreen run the built-in scripts (builtin/*.star), which
//     make the same decisions as sentinel.NewCanary and
//     sentinel.NewBlueGreen on the same input; Builtin returns their source.
//   - WithParams gives a script a frozen params struct, WithLibrary a
//     module it may load(); WithSteps, WithTimeout and WithMemory bound
//     each run, WithMemoryCap what the script keeps (its globals,
//     state.memory). A run over its memory budget is refused before it
//     allocates (the guard, README.md's "Memory"), so no script can end
//     the process by exhausting its memory.
//   - WithWarmup and WithShadow give a script the host facilities a
//     blue/green rollout needs: warmup_start(), warmup_status(),
//     shadow_on(rate) and shadow_off(). Close stops them.
//
// A script cannot reach files, the network, the clock or the environment.
// One that fails to load or to decide returns an *Error with its
// file:line:col and Starlark's backtrace; the sentinel then holds the
// rollout and alerts (contract 5). A script's memory is not saved in a
// checkpoint: a restored Script starts on empty memory, and the blue/green
// script is not restored past its warm-up.
package script
