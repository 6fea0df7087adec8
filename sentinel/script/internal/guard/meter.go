package guard

import (
	"fmt"

	"go.starlark.net/starlark"
)

const meterKey = "guard.meter"

// MemoryError is a run that went over its memory budget.
type MemoryError struct {
	What        string // the operation refused, "x * n"
	Need        int64  // what it would have allocated (estimated)
	Used, Limit int64  // the run's charges so far and its budget
	AtLeast     bool   // Need is where the sizing walk stopped, past the budget
}

func (e *MemoryError) Error() string {
	need := Bytes(e.Need)
	if e.AtLeast {
		need = "more than " + Bytes(e.Limit-e.Used)
	}
	return fmt.Sprintf("%s would allocate %s, over the run's memory budget of %s (%s used)",
		e.What, need, Bytes(e.Limit), Bytes(e.Used))
}

// LimitError is a run stopped by one of the guard's limits other than the
// budget: the size of an integer, the parts of a key, or the steps one
// builtin would take.
type LimitError struct {
	Msg   string
	Steps bool // the step limit
}

func (e *LimitError) Error() string { return e.Msg }

// Bytes renders a number of bytes for people: "64.0 MiB".
func Bytes(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Meter is one run's memory budget: the bytes its checked operations
// allocate are charged to it before they are allocated, and a run whose
// charges would pass the limit fails.
type Meter struct {
	limit, used int64
	err         *MemoryError
	maxSteps    uint64
}

// StepBytes is charged for every step the run takes: what the steps that
// the guard does not check (appending in a comprehension, building a
// literal, boxing a float) may keep. The most measured is ~19 B a step
// (a dict comprehension of one-element lists: 18.5 MiB in 1M steps).
const StepBytes = 32

// stepChunk is how many steps are charged at a time (OnMaxSteps fires once
// per chunk, so a tick of fewer steps pays nothing for it).
const stepChunk = 1 << 16

// Attach gives thread a meter of limit bytes and the step limit maxSteps,
// in place of SetMaxExecutionSteps. Steps are charged StepBytes each, a
// chunk at a time. Every thread that runs guarded code must have one: a
// thread without a meter is unlimited.
func Attach(thread *starlark.Thread, limit int64, maxSteps uint64) *Meter {
	m := &Meter{limit: limit, maxSteps: maxSteps}
	thread.SetLocal(meterKey, m)
	thread.SetMaxExecutionSteps(min(stepChunk, maxSteps))
	thread.OnMaxSteps = m.onSteps
	return m
}

func (m *Meter) onSteps(th *starlark.Thread) {
	if th.Steps >= m.maxSteps {
		th.Cancel("too many steps")
		return
	}
	if err := m.Charge(fmt.Sprintf("%d more steps", stepChunk), stepChunk*StepBytes); err != nil {
		th.Cancel(err.Error())
		return
	}
	th.SetMaxExecutionSteps(min(th.Steps+stepChunk, m.maxSteps))
}

// Used returns the bytes charged so far.
func (m *Meter) Used() int64 { return m.used }

// Err returns the run's memory error, or nil.
func (m *Meter) Err() *MemoryError { return m.err }

// Charge takes n bytes from the budget, or fails naming what.
func (m *Meter) Charge(what string, n int64) error {
	if n <= 0 {
		return nil
	}
	if next := addSat(m.used, n); next <= m.limit {
		m.used = next
		return nil
	}
	m.err = &MemoryError{What: what, Need: n, Used: m.used, Limit: m.limit, AtLeast: n >= 1<<62}
	return m.err
}

// chargeSteps takes n steps for work a builtin does in one step of the
// interpreter (sorting), so that one step cannot outlast the step limit;
// the work is refused before it starts when it would pass the limit.
func chargeSteps(th *starlark.Thread, what string, n uint64) error {
	m, ok := th.Local(meterKey).(*Meter)
	if !ok {
		return nil
	}
	if th.Steps+n > m.maxSteps {
		return &LimitError{Steps: true, Msg: fmt.Sprintf("%s would take about %d steps, over the step limit of %d (%d used)", what, n, m.maxSteps, th.Steps)}
	}
	th.Steps += n
	return nil
}

// refuse fails a run whose sizing walk passed what is left of the budget.
func refuse(th *starlark.Thread, what string) error {
	m, ok := th.Local(meterKey).(*Meter)
	if !ok {
		return nil
	}
	m.err = &MemoryError{What: what, Used: m.used, Limit: m.limit, AtLeast: true}
	return m.err
}

// Charge takes n bytes, the estimated cost of what, from the budget of the
// thread's meter, or fails the run naming what; a thread without a meter
// is unlimited. Host builtins call it before they allocate in proportion
// to their input.
func Charge(th *starlark.Thread, what string, n int64) error {
	if m, ok := th.Local(meterKey).(*Meter); ok {
		return m.Charge(what, n)
	}
	return nil
}

// left is what remains of the thread's budget (a large number without a
// meter); it bounds the walks that size a result before it is made.
func left(th *starlark.Thread) int64 {
	if m, ok := th.Local(meterKey).(*Meter); ok {
		return m.limit - m.used
	}
	return 1 << 40
}
