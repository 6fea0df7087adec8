package sentinel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// ErrScriptSteps is wrapped by a ScriptError when the script ran out of
// steps (WithScriptSteps).
var ErrScriptSteps = errors.New("ninelives: script step limit reached")

// ErrScriptTimeout is wrapped by a ScriptError when the script ran out of
// time (WithScriptTimeout).
var ErrScriptTimeout = errors.New("ninelives: script time limit reached")

// ScriptError is a script that failed to load or to decide.
type ScriptError struct {
	// Script is the script's name.
	Script string
	// Pos is "file:line:col" of the failing code, or "" when the failure
	// has no place in the source (a missing on_tick, say).
	Pos string
	// Msg says what went wrong.
	Msg string
	// Backtrace is Starlark's traceback of a runtime error, or "".
	Backtrace string
	// Err is ErrScriptSteps, ErrScriptTimeout, the context's error, or nil.
	Err error
}

// Error returns "ninelives: script FILE:LINE:COL: MSG", or
// "ninelives: script NAME: MSG" when the failure has no position.
func (e *ScriptError) Error() string {
	where := e.Pos
	if where == "" {
		where = e.Script
	}
	return "ninelives: script " + where + ": " + e.Msg
}

// Unwrap returns Err.
func (e *ScriptError) Unwrap() error { return e.Err }

// ScriptOption configures a Script.
type ScriptOption interface{ applyScript(*scriptConfig) }

type scriptOptionFunc func(*scriptConfig)

func (f scriptOptionFunc) applyScript(c *scriptConfig) { f(c) }

type scriptConfig struct {
	maxSteps  uint64
	timeout   time.Duration
	params    map[string]any
	libraries map[string]string

	warmup        WarmupFunc
	warmupTimeout time.Duration
	warmupSet     bool
	shadow        ShadowControl
	shadowSet     bool

	// restoreCheck, if set, says whether the script can carry a restored
	// rollout on without its memory (BlueGreenScript sets it).
	restoreCheck func(Checkpoint) error
}

const (
	defaultScriptSteps   = 1_000_000
	defaultScriptTimeout = 100 * time.Millisecond
)

func newScriptConfig(opts []ScriptOption) (scriptConfig, error) {
	c := scriptConfig{maxSteps: defaultScriptSteps, timeout: defaultScriptTimeout}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: a script option is nil", ErrBadOption)
		}
		o.applyScript(&c)
	}
	switch {
	case c.maxSteps == 0:
		return c, fmt.Errorf("%w: script steps 0, want at least 1", ErrBadOption)
	case c.timeout <= 0:
		return c, fmt.Errorf("%w: script timeout %v, want a positive duration", ErrBadOption, c.timeout)
	}
	if err := c.checkHost(); err != nil {
		return c, err
	}
	for name := range c.libraries {
		if name == "" {
			return c, fmt.Errorf("%w: script library with an empty name", ErrBadOption)
		}
	}
	return c, nil
}

// WithScriptSteps limits each run of the script (its top level, and each
// tick) to n Starlark steps (default 1,000,000).
func WithScriptSteps(n uint64) ScriptOption {
	return scriptOptionFunc(func(c *scriptConfig) { c.maxSteps = n })
}

// WithScriptTimeout limits each run of the script (its top level, and each
// tick) to d of wall time (default 100 ms).
func WithScriptTimeout(d time.Duration) ScriptOption {
	return scriptOptionFunc(func(c *scriptConfig) { c.timeout = d })
}

// WithScriptParams gives the script a frozen global struct params with these
// fields. Values may be nil, bools, integers, floats, strings,
// time.Duration (as float seconds), and slices and maps (with string keys)
// of these; a nested map becomes a frozen dict. Several WithScriptParams
// add up; a later value of a key wins.
func WithScriptParams(p map[string]any) ScriptOption {
	return scriptOptionFunc(func(c *scriptConfig) {
		if c.params == nil {
			c.params = make(map[string]any, len(p))
		}
		for k, v := range p {
			c.params[k] = v
		}
	})
}

// WithScriptLibrary lets the script load(name, ...) the Starlark module src.
// A library runs in the same sandbox, under the same limits, and may load
// the other libraries. Nothing else can be loaded.
func WithScriptLibrary(name, src string) ScriptOption {
	return scriptOptionFunc(func(c *scriptConfig) {
		if c.libraries == nil {
			c.libraries = make(map[string]string)
		}
		c.libraries[name] = src
	})
}

// Script is a Strategy written in Starlark; see "Meta-policy scripts" in the
// package documentation for what a script sees and may do. Decide, Reload,
// SetSource and ResetMemory are safe to call from any goroutine. A Script
// serves one rollout at a time.
type Script struct {
	name   string // the file name used in positions
	path   string // the file Reload reads; "" for a script from source
	cfg    scriptConfig
	params starlark.Value

	prog   atomic.Pointer[scriptProgram]
	loadMu sync.Mutex // serialises loads, so revisions follow the swaps

	mu     sync.Mutex // serialises Decide; guards memory and origin; taken before hostMu
	memory *starlark.Dict
	origin time.Time

	hostMu sync.Mutex // guards host
	host   scriptHost
}

// scriptProgram is one loaded version of the script: its frozen globals and
// its on_tick.
type scriptProgram struct {
	src      string
	onTick   *starlark.Function
	revision uint64
}

// NewScript compiles and loads a script from source. name is the file name
// that positions in errors carry ("policy.star").
func NewScript(name, src string, opts ...ScriptOption) (*Script, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: script name is empty", ErrBadOption)
	}
	return newScript(name, "", src, opts)
}

// LoadScript reads, compiles and loads a script file. Errors carry the path
// as given, with the line and column.
func LoadScript(path string, opts ...ScriptOption) (*Script, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ninelives: script %s: %w", path, err)
	}
	return newScript(path, path, string(src), opts)
}

func newScript(name, path, src string, opts []ScriptOption) (*Script, error) {
	cfg, err := newScriptConfig(opts)
	if err != nil {
		return nil, err
	}
	params, err := paramsValue(cfg.params)
	if err != nil {
		return nil, err
	}
	s := &Script{name: name, path: path, cfg: cfg, params: params, memory: new(starlark.Dict)}
	if err := s.SetSource(src); err != nil {
		return nil, err
	}
	return s, nil
}

// Name implements Strategy: the script's base file name.
func (s *Script) Name() string { return filepath.Base(s.name) }

// Source returns the source of the program now running.
func (s *Script) Source() string { return s.prog.Load().src }

// Revision counts the programs the Script has loaded: 1 after NewScript or
// LoadScript, one more for each successful Reload or SetSource.
func (s *Script) Revision() uint64 { return s.prog.Load().revision }

// Reload re-reads the script's file and swaps to it if it loads; otherwise
// the old program keeps running and the error is returned.
func (s *Script) Reload() error {
	if s.path == "" {
		return fmt.Errorf("ninelives: script %s was made from source, not a file: use SetSource", s.name)
	}
	src, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("ninelives: script %s: %w", s.path, err)
	}
	return s.SetSource(string(src))
}

// SetSource compiles and loads src and swaps to it if it loads and defines
// on_tick(state); otherwise the old program keeps running and the error is
// returned.
func (s *Script) SetSource(src string) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	fn, err := s.compile(src)
	if err != nil {
		return err
	}
	var rev uint64 = 1
	if old := s.prog.Load(); old != nil {
		rev = old.revision + 1
	}
	s.prog.Store(&scriptProgram{src: src, onTick: fn, revision: rev})
	return nil
}

// ResetMemory empties state.memory.
func (s *Script) ResetMemory() {
	s.mu.Lock()
	s.memory = new(starlark.Dict)
	s.mu.Unlock()
}

var scriptFileOptions = &syntax.FileOptions{Set: true}

// predeclared returns the globals every script and library sees.
func (s *Script) predeclared() starlark.StringDict {
	d := starlark.StringDict{
		"params":           s.params,
		"TOTAL_WEIGHT":     starlark.MakeInt(10000),
		"step_label":       starlark.NewBuiltin("step_label", stepLabelBuiltin),
		"rate_test":        starlark.NewBuiltin("rate_test", rateTestBuiltin),
		"merge_histograms": starlark.NewBuiltin("merge_histograms", mergeHistogramsBuiltin),
		"struct":           starlark.NewBuiltin("struct", starlarkstruct.Make),
		"percent":          starlark.NewBuiltin("percent", percentBuiltin),
		"number":           starlark.NewBuiltin("number", numberBuiltin),
		"duration":         starlark.NewBuiltin("duration", durationBuiltin),
		"math":             math.Module,
		"json":             json.Module,
	}
	for name, fn := range actionBuiltins {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	for name, fn := range hostBuiltins {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	return d
}

// compile parses, resolves and runs the top level of src, with its
// libraries, under the limits, and returns its on_tick.
func (s *Script) compile(src string) (*starlark.Function, error) {
	pre := s.predeclared()
	l := &libLoader{s: s, pre: pre, done: make(map[string]*libEntry)}
	globals, err := l.exec(s.name, src)
	if err != nil {
		return nil, err
	}
	v, ok := globals["on_tick"]
	if !ok {
		return nil, &ScriptError{Script: s.name, Msg: "on_tick is not defined; a script defines def on_tick(state)"}
	}
	fn, ok := v.(*starlark.Function)
	if !ok {
		return nil, &ScriptError{Script: s.name, Msg: fmt.Sprintf("on_tick is of type %s, want a function def on_tick(state)", v.Type())}
	}
	if n := fn.NumParams(); n != 1 || fn.HasVarargs() || fn.HasKwargs() || fn.NumKwonlyParams() > 0 {
		return nil, &ScriptError{Script: s.name, Pos: fn.Position().String(),
			Msg: fmt.Sprintf("on_tick takes %s, want exactly one parameter: def on_tick(state)", describeParams(fn))}
	}
	return fn, nil
}

func describeParams(fn *starlark.Function) string {
	var names []string
	for i := range fn.NumParams() {
		n, _ := fn.Param(i)
		names = append(names, n)
	}
	if len(names) == 0 {
		return "no parameter"
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// libLoader runs a script's top level and the libraries it loads.
type libLoader struct {
	s    *Script
	pre  starlark.StringDict
	done map[string]*libEntry
}

type libEntry struct {
	globals starlark.StringDict
	err     error
	loading bool
}

func (l *libLoader) load(_ *starlark.Thread, module string) (starlark.StringDict, error) {
	src, ok := l.s.cfg.libraries[module]
	if !ok {
		return nil, fmt.Errorf("load(%q): no such library; a script may load only the libraries its host gives (%s)", module, l.s.libraryNames())
	}
	if e := l.done[module]; e != nil {
		if e.loading {
			return nil, fmt.Errorf("load(%q): the library loads itself, through a cycle", module)
		}
		return e.globals, e.err
	}
	e := &libEntry{loading: true}
	l.done[module] = e
	e.globals, e.err = l.exec(module, src)
	e.loading = false
	return e.globals, e.err
}

func (s *Script) libraryNames() string {
	if len(s.cfg.libraries) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s.cfg.libraries))
	for n := range s.cfg.libraries {
		names = append(names, fmt.Sprintf("%q", n))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// exec compiles and runs one file's top level under the limits and returns
// its frozen globals.
func (l *libLoader) exec(filename, src string) (starlark.StringDict, error) {
	_, prog, err := starlark.SourceProgramOptions(scriptFileOptions, filename, src, l.pre.Has)
	if err != nil {
		return nil, compileError(l.s.name, err)
	}
	thread := &starlark.Thread{Name: filename, Load: l.load, Print: func(*starlark.Thread, string) {}}
	var globals starlark.StringDict
	err = l.s.run(context.Background(), thread, func() error {
		var err error
		globals, err = prog.Init(thread, l.pre)
		return err
	})
	if err != nil {
		return nil, err
	}
	globals.Freeze()
	return globals, nil
}

// compileError turns a syntax or resolve error into a ScriptError.
func compileError(name string, err error) error {
	var se syntax.Error
	if errors.As(err, &se) {
		return &ScriptError{Script: name, Pos: se.Pos.String(), Msg: se.Msg}
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) && len(rl) > 0 {
		msgs := []string{rl[0].Msg}
		for _, e := range rl[1:] {
			msgs = append(msgs, e.Pos.String()+": "+e.Msg)
		}
		return &ScriptError{Script: name, Pos: rl[0].Pos.String(), Msg: strings.Join(msgs, "; ")}
	}
	return &ScriptError{Script: name, Msg: err.Error()}
}

// run runs f on thread under the step and time limits, and turns what it
// returns into a ScriptError.
func (s *Script) run(ctx context.Context, thread *starlark.Thread, f func() error) error {
	thread.SetMaxExecutionSteps(s.cfg.maxSteps)
	var timedOut atomic.Bool
	timer := time.AfterFunc(s.cfg.timeout, func() {
		timedOut.Store(true)
		thread.Cancel(fmt.Sprintf("the time limit of %v", s.cfg.timeout))
	})
	stop := context.AfterFunc(ctx, func() { thread.Cancel("the tick's context ended") })
	err := f()
	timer.Stop()
	stop()
	if err == nil {
		return nil
	}
	return s.runError(ctx, thread, err, timedOut.Load())
}

func (s *Script) runError(ctx context.Context, thread *starlark.Thread, err error, timedOut bool) error {
	var se *ScriptError
	if errors.As(err, &se) {
		return se // a library's own load error
	}
	out := &ScriptError{Script: s.name, Msg: err.Error()}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		out.Msg = ee.Msg
		out.Backtrace = ee.Backtrace()
		for i := len(ee.CallStack) - 1; i >= 0; i-- {
			fr := ee.CallStack[i]
			if fr.Pos.Filename() != "<builtin>" && fr.Pos.IsValid() {
				out.Pos = fr.Pos.String()
				if fr.Name != "<toplevel>" {
					out.Msg += " (in " + fr.Name + ")"
				}
				break
			}
		}
		// A library's own error, raised through load(), keeps its place.
		var inner *ScriptError
		if errors.As(ee.Unwrap(), &inner) {
			return inner
		}
	}
	if strings.Contains(out.Msg, "Starlark computation cancelled") {
		switch {
		case timedOut:
			out.Err = ErrScriptTimeout
			out.Msg = fmt.Sprintf("stopped at the time limit of %v", s.cfg.timeout) + where(out.Msg)
		case thread.ExecutionSteps() >= s.cfg.maxSteps:
			out.Err = ErrScriptSteps
			out.Msg = fmt.Sprintf("stopped at the limit of %d steps", s.cfg.maxSteps) + where(out.Msg)
		case ctx.Err() != nil:
			out.Err = ctx.Err()
			out.Msg = "stopped: " + ctx.Err().Error() + where(out.Msg)
		}
	}
	return out
}

// where keeps the "(in f)" suffix of a message.
func where(msg string) string {
	if i := strings.LastIndex(msg, " (in "); i >= 0 {
		return msg[i:]
	}
	return ""
}

// Decide implements Strategy: it runs on_tick(state) under the limits and
// returns the decision its actions make. A failing tick returns a
// *ScriptError.
func (s *Script) Decide(ctx context.Context, st *State) (Decision, error) {
	if st == nil {
		return Decision{}, &ScriptError{Script: s.name, Msg: "Decide was given no state"}
	}
	if s.closed() {
		return Hold(fmt.Sprintf("script %s is closed", s.Name())), nil
	}
	prog := s.prog.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trackRolloutLocked(st)

	tk := &tick{script: s, ctx: ctx, st: st, rec: &recorder{script: s.name, phase: st.Phase}}
	defer tk.end()
	state := tk.stateValue(s.origin, s.memory)

	thread := &starlark.Thread{Name: s.name, Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
		return nil, fmt.Errorf("load(%q): load is allowed only at a script's top level", module)
	}}
	thread.Print = func(_ *starlark.Thread, msg string) { _ = tk.rec.message(&tk.rec.logs, msg) }
	thread.SetLocal(tickKey, tk)
	var ret starlark.Value
	err := s.run(ctx, thread, func() error {
		var err error
		ret, err = starlark.Call(thread, prog.onTick, starlark.Tuple{state}, nil)
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	if ret != starlark.None {
		return Decision{}, &ScriptError{Script: s.name, Pos: prog.onTick.Position().String(),
			Msg: fmt.Sprintf("on_tick returned a value of type %s; it decides by calling actions (set_weight, promote, rollback, pause, hold) and returns None", ret.Type())}
	}
	return tk.rec.decision(st), nil
}

// trackRolloutLocked learns when the rollout began, and empties memory when
// a new rollout begins.
func (s *Script) trackRolloutLocked(st *State) {
	if !st.Started.IsZero() {
		if !s.origin.IsZero() && !s.origin.Equal(st.Started) {
			s.memory = new(starlark.Dict)
		}
		s.origin = st.Started
		return
	}
	// A State made by hand may leave Started out: learn the start from it.
	if st.Step == 0 {
		// Before the first step, the step began with the rollout.
		if !s.origin.IsZero() && !s.origin.Equal(st.StepStart) {
			s.memory = new(starlark.Dict)
		}
		s.origin = st.StepStart
		return
	}
	if s.origin.IsZero() {
		s.origin = st.StepStart // the earliest time known
	}
}

// structOf makes a Starlark struct printed as name(...).
func structOf(name string, d starlark.StringDict) *starlarkstruct.Struct {
	return starlarkstruct.FromStringDict(starlark.String(name), d)
}
