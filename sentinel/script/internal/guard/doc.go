// Package guard bounds the memory a Starlark program may allocate, inside
// the process, with the pinned go.starlark.net. The interpreter checks its
// step and time limits only between steps, and one step ([0] * n,
// list(range(n)), "".join(parts), str(x)) may allocate gigabytes; a Go
// allocation that fails ends the process, so a budget has to refuse the
// work before it allocates.
//
//	pre := guard.Predeclared(host)                        // checked builtins, json and struct
//	prog, err := guard.Compile(dialect, "policy.star", src, pre) // parse, check, rewrite, compile
//	m := guard.Attach(thread, 64<<20, 1_000_000)          // the run's budget and step limit
//	_, err = prog.Init(thread, pre)                       // m.Err() != nil: over the budget
//	n, ok := guard.PersistentBound(memory, 1<<20, &cache)  // what a value kept across runs takes
//
// # How
//
// Compile checks and rewrites the syntax tree so that every operation that
// can allocate in proportion to its operands calls a checked operation of
// Predeclared: binary operators other than comparisons, x op= y, slices,
// *x and **x spreads, methods of built-in types, and indexing or hashing
// with a key that is not a constant. The universal builtins that grow
// with their input (list, dict, sorted, zip, str, print, json.*, …) are
// replaced by checked ones. Each check charges the estimated bytes to the
// thread's Meter before the work starts, and every step costs StepBytes,
// so patterns the checks do not see are bounded by the step limit.
// Printing and hashing walk values with memoised sizes, so a value that
// shares its parts (exponentially large when printed) is refused quickly.
//
// # Language limits
//
// Sources of at most MaxSourceBytes; integers of at most MaxIntBits; no
// names beginning "_nl_"; int() and float() refuse very long strings; set
// and dict updates from iterables of unknown length are refused. Methods
// of built-in types that no rule classifies are refused (the tests list
// them), so an upgrade of the interpreter cannot open a hole unseen.
//
// # What it does not bound
//
// Host builtins are outside the guard: they call Charge before allocating
// in proportion to their input, print values with Bounded, and host values
// kept across runs implement Sizer. Charges are estimates (first growth of
// an existing list and dict rehashes are not charged: bounded constant
// factors). One step may still run for tens of milliseconds of linear
// work within the budget. The budget is per run, not per process: the
// garbage of a run is left to the Go collector.
package guard
