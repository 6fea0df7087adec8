package script

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

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
)

var (
	// ErrBadOption is wrapped by every error for an option or argument New,
	// Load, Canary and BlueGreen reject.
	ErrBadOption = errors.New("ninelives: bad script option")
	// ErrSteps is wrapped by an Error when the script ran out of steps
	// (WithSteps).
	ErrSteps = errors.New("ninelives: script step limit reached")
	// ErrTimeout is wrapped by an Error when the script ran out of time
	// (WithTimeout).
	ErrTimeout = errors.New("ninelives: script time limit reached")
	// ErrMemory is wrapped by an Error when a run of the script went over
	// its memory budget (WithMemory), or what it keeps (its globals,
	// state.memory) over its cap (WithMemoryCap).
	ErrMemory = errors.New("ninelives: script memory limit reached")
)

// Error is a script that failed to load or to decide.
type Error struct {
	// Script is the script's name.
	Script string
	// Pos is "file:line:col" of the failing code, or "" when the failure
	// has no place in the source (a missing on_tick, say).
	Pos string
	// Msg says what went wrong.
	Msg string
	// Backtrace is Starlark's traceback of a runtime error, or "".
	Backtrace string
	// Err is ErrSteps, ErrTimeout, ErrMemory, the context's error, or nil.
	Err error
}

// Error returns "ninelives: script FILE:LINE:COL: MSG", or
// "ninelives: script NAME: MSG" when the failure has no position.
func (e *Error) Error() string {
	where := e.Pos
	if where == "" {
		where = e.Script
	}
	return "ninelives: script " + where + ": " + e.Msg
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Option configures a Script.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(c *options) { f(c) }

type options struct {
	maxSteps  uint64
	timeout   time.Duration
	memory    int64 // bytes a run may allocate
	memoryCap int64 // bytes the globals, and state.memory, may take
	params    map[string]any
	libraries map[string]string
	plan      []plan.Step

	warmup        warmup.Func
	warmupTimeout time.Duration
	warmupSet     bool
	shadow        sentinel.ShadowControl
	shadowSet     bool

	// restoreCheck, if set, says whether the script can carry a restored
	// rollout on without its memory (BlueGreen sets it).
	restoreCheck func(sentinel.Checkpoint) error
	// unguarded runs the script as the plain interpreter does, without the
	// guard's budget and caps: only the benchmarks that measure the
	// guard's cost set it.
	unguarded bool
}

const (
	defaultSteps     = 1_000_000
	defaultTimeout   = 100 * time.Millisecond
	defaultMemory    = 64 << 20
	defaultMemoryCap = 1 << 20
	// minMemory leaves room for the steps' own charge (guard.StepBytes a
	// step, 2 MiB every 65,536 steps).
	minMemory = 4 << 20
)

func newOptions(opts []Option) (options, error) {
	c := options{maxSteps: defaultSteps, timeout: defaultTimeout, memory: defaultMemory, memoryCap: defaultMemoryCap}
	for i, o := range opts {
		if o == nil {
			return c, config.Errorf(ErrBadOption, fmt.Sprintf("opts[%d]", i), nil, "the option is nil")
		}
		o.apply(&c)
	}
	switch {
	case c.maxSteps == 0:
		return c, config.Errorf(ErrBadOption, "WithSteps", c.maxSteps, "want at least 1")
	case c.timeout <= 0:
		return c, config.Errorf(ErrBadOption, "WithTimeout", c.timeout, "want a positive duration")
	case c.memory < minMemory:
		return c, config.Errorf(ErrBadOption, "WithMemory", c.memory, "want at least %d bytes (4 MiB)", minMemory)
	case c.memoryCap < 1:
		return c, config.Errorf(ErrBadOption, "WithMemoryCap", c.memoryCap, "want at least 1 byte")
	}
	if err := c.checkHost(); err != nil {
		return c, err
	}
	if err := checkPlan(c.plan); err != nil {
		return c, err
	}
	if _, ok := c.libraries[""]; ok {
		return c, config.Errorf(ErrBadOption, "WithLibrary", "", "want a library name")
	}
	return c, nil
}

// WithSteps limits each run of the script (its top level, and each tick)
// to n Starlark steps (default 1,000,000).
func WithSteps(n uint64) Option {
	return optionFunc(func(c *options) { c.maxSteps = n })
}

// WithTimeout limits each run of the script (its top level, and each tick)
// to d of wall time (default 100 ms).
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *options) { c.timeout = d })
}

// WithMemory limits what each run of the script (its top level, and each
// tick) may allocate to about bytes (default 64 MiB, at least 4 MiB): the
// estimated bytes of the operations that grow with their operands, and
// 32 bytes a step, charged before the memory is taken. A run over it
// fails with ErrMemory and nothing of it is allocated; the process
// survives.
func WithMemory(bytes int64) Option {
	return optionFunc(func(c *options) { c.memory = bytes })
}

// WithMemoryCap limits what a script keeps from run to run (default
// 1 MiB), measured as the printed size of its values: its globals after
// it loads (over it, the load fails), and state.memory after each tick
// (over it, the tick fails and state.memory is emptied, since keeping it
// would let it grow again).
func WithMemoryCap(bytes int64) Option {
	return optionFunc(func(c *options) { c.memoryCap = bytes })
}

// WithParams gives the script a frozen global struct params with these
// fields. Values may be nil, bools, integers, floats, strings,
// time.Duration (as float seconds), and slices and maps (with string keys)
// of these; a nested map becomes a frozen dict. Several WithParams add up;
// a later value of a key wins.
func WithParams(p map[string]any) Option {
	return optionFunc(func(c *options) {
		if c.params == nil {
			c.params = make(map[string]any, len(p))
		}
		for k, v := range p {
			c.params[k] = v
		}
	})
}

// WithLibrary lets the script load(name, ...) the Starlark module src. A
// library runs in the same sandbox, under the same limits, and may load the
// other libraries. Nothing else can be loaded.
func WithLibrary(name, src string) Option {
	return optionFunc(func(c *options) {
		if c.libraries == nil {
			c.libraries = make(map[string]string)
		}
		c.libraries[name] = src
	})
}

// Script is a sentinel.Strategy written in Starlark; see the package
// documentation and README.md for what a script sees and may do. Decide,
// Reload and SetSource are safe to call from any goroutine. A
// Script serves one rollout at a time.
type Script struct {
	name   string // the file name used in positions
	path   string // the file Reload reads; "" for a script from source
	cfg    options
	params starlark.Value

	prog   atomic.Pointer[program]
	loadMu sync.Mutex // serialises loads, so revisions follow the swaps

	mu     sync.Mutex // serialises Decide; guards memory, sizes and origin; taken before hostMu
	memory *starlark.Dict
	sizes  guard.SizeCache // the sizes of memory's records at the last tick
	origin time.Time

	hostMu sync.Mutex // guards host
	host   host
}

// program is one loaded version of the script: its frozen globals and
// its on_tick.
type program struct {
	src      string
	onTick   *starlark.Function
	revision uint64
}

// New compiles and loads a script from source. name is the file name that
// positions in errors carry ("policy.star").
func New(name, src string, opts ...Option) (*Script, error) {
	if name == "" {
		return nil, config.Errorf(ErrBadOption, "name", name, "want the script's file name")
	}
	return newScript(name, "", src, opts)
}

// Load reads, compiles and loads a script file. Errors carry the path as
// given, with the line and column.
func Load(path string, opts ...Option) (*Script, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ninelives: script %s: %w", path, err)
	}
	return newScript(path, path, string(src), opts)
}

func newScript(name, path, src string, opts []Option) (*Script, error) {
	cfg, err := newOptions(opts)
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

// Name implements sentinel.Strategy: the script's base file name.
func (s *Script) Name() string { return filepath.Base(s.name) }

// Source returns the source of the program now running.
func (s *Script) Source() string { return s.prog.Load().src }

// Revision counts the programs the Script has loaded: 1 after New or Load,
// one more for each successful Reload or SetSource.
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
	s.prog.Store(&program{src: src, onTick: fn, revision: rev})
	return nil
}

var fileOptions = &syntax.FileOptions{Set: true}

// predeclared returns the globals every script and library sees, with
// the guard's checked builtins.
func (s *Script) predeclared() starlark.StringDict {
	d := starlark.StringDict{
		"params":           s.params,
		"TOTAL_WEIGHT":     starlark.MakeInt(10000),
		"step_label":       starlark.NewBuiltin("step_label", stepLabelBuiltin),
		"rate_test":        starlark.NewBuiltin("rate_test", rateTestBuiltin),
		"verdict":          starlark.NewBuiltin("verdict", verdictBuiltin),
		"merge_histograms": starlark.NewBuiltin("merge_histograms", mergeHistogramsBuiltin),
		"percent":          starlark.NewBuiltin("percent", percentBuiltin),
		"number":           starlark.NewBuiltin("number", numberBuiltin),
		"duration":         starlark.NewBuiltin("duration", durationBuiltin),
		"math":             math.Module,
		"json":             json.Module,                                        // the guard's checked one when guarded
		"struct":           starlark.NewBuiltin("struct", starlarkstruct.Make), // likewise
	}
	for name, fn := range actionBuiltins {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	for name, fn := range hostBuiltins {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	if s.cfg.unguarded {
		return d
	}
	return guard.Predeclared(d)
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
		return nil, &Error{Script: s.name, Msg: "on_tick is not defined; a script defines def on_tick(state)"}
	}
	fn, ok := v.(*starlark.Function)
	if !ok {
		return nil, &Error{Script: s.name, Msg: fmt.Sprintf("on_tick is of type %s, want a function def on_tick(state)", v.Type())}
	}
	if n := fn.NumParams(); n != 1 || fn.HasVarargs() || fn.HasKwargs() || fn.NumKwonlyParams() > 0 {
		return nil, &Error{Script: s.name, Pos: fn.Position().String(),
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
// its frozen globals, which must fit the memory cap.
func (l *libLoader) exec(filename, src string) (starlark.StringDict, error) {
	compile := guard.Compile
	if l.s.cfg.unguarded {
		compile = plainCompile
	}
	prog, err := compile(fileOptions, filename, src, l.pre)
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
	if err := l.s.capGlobals(filename, globals); err != nil {
		return nil, err
	}
	globals.Freeze()
	return globals, nil
}

// plainCompile compiles as the interpreter does, without the guard.
func plainCompile(fo *syntax.FileOptions, filename, src string, pre starlark.StringDict) (*starlark.Program, error) {
	_, prog, err := starlark.SourceProgramOptions(fo, filename, src, pre.Has)
	return prog, err
}

// capGlobals checks that a file's globals take at most the memory cap.
func (s *Script) capGlobals(filename string, globals starlark.StringDict) error {
	if s.cfg.unguarded {
		return nil
	}
	var total int64
	for _, v := range globals {
		n, ok := guard.PersistentBound(v, s.cfg.memoryCap-total, new(guard.SizeCache))
		total += n
		if !ok || total > s.cfg.memoryCap {
			return &Error{Script: s.name, Err: ErrMemory,
				Msg: fmt.Sprintf("the globals of %s take more than the memory cap of %s (printed size, WithMemoryCap)", filename, guard.Bytes(s.cfg.memoryCap))}
		}
	}
	return nil
}

// compileError turns a syntax or resolve error into a Error.
func compileError(name string, err error) error {
	var se syntax.Error
	if errors.As(err, &se) {
		return &Error{Script: name, Pos: se.Pos.String(), Msg: se.Msg}
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) && len(rl) > 0 {
		msgs := []string{rl[0].Msg}
		for _, e := range rl[1:] {
			msgs = append(msgs, e.Pos.String()+": "+e.Msg)
		}
		return &Error{Script: name, Pos: rl[0].Pos.String(), Msg: strings.Join(msgs, "; ")}
	}
	return &Error{Script: name, Msg: err.Error()}
}

// run runs f on thread under the step and time limits, and turns what it
// returns into a Error.
func (s *Script) run(ctx context.Context, thread *starlark.Thread, f func() error) error {
	meter := new(guard.Meter)
	if s.cfg.unguarded {
		thread.SetMaxExecutionSteps(s.cfg.maxSteps)
	} else {
		meter = guard.Attach(thread, s.cfg.memory, s.cfg.maxSteps)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(s.cfg.timeout, func() {
		timedOut.Store(true)
		thread.Cancel(fmt.Sprintf("the time limit of %v", s.cfg.timeout))
	})
	stop := context.AfterFunc(ctx, func() { thread.Cancel("the tick's context ended") })
	ended := ctx.Err() != nil
	if ended {
		// Stopped at once, whatever the time limit does meanwhile.
		thread.Cancel("the tick's context ended")
	}
	err := f()
	timer.Stop()
	stop()
	if err == nil {
		return nil
	}
	return s.runError(ctx, thread, meter, err, timedOut.Load() && !ended)
}

func (s *Script) runError(ctx context.Context, thread *starlark.Thread, meter *guard.Meter, err error, timedOut bool) error {
	var se *Error
	if errors.As(err, &se) {
		return se // a library's own load error
	}
	out := &Error{Script: s.name, Msg: err.Error()}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		// A library's own error, raised through load(), keeps its place.
		var inner *Error
		if errors.As(ee.Unwrap(), &inner) {
			return inner
		}
		out.Msg, out.Pos, out.Backtrace = ee.Msg+where(ee), posOf(ee), ee.Backtrace()
	}
	var le *guard.LimitError
	switch me := meter.Err(); {
	case me != nil:
		out.Err, out.Msg = ErrMemory, me.Error()+" (WithMemory)"+inFunc(out.Msg)
	case errors.As(err, &le):
		out.Err = ErrMemory
		if le.Steps {
			out.Err = ErrSteps
		}
	case strings.Contains(out.Msg, "Starlark computation cancelled"):
		s.cancelled(ctx, thread, out, timedOut)
	}
	return out
}

// cancelled says which limit cancelled a run.
func (s *Script) cancelled(ctx context.Context, thread *starlark.Thread, out *Error, timedOut bool) {
	switch {
	case timedOut:
		out.Err = ErrTimeout
		out.Msg = fmt.Sprintf("stopped at the time limit of %v", s.cfg.timeout) + inFunc(out.Msg)
	case thread.ExecutionSteps() >= s.cfg.maxSteps:
		out.Err = ErrSteps
		out.Msg = fmt.Sprintf("stopped at the limit of %d steps", s.cfg.maxSteps) + inFunc(out.Msg)
	case ctx.Err() != nil:
		out.Err = ctx.Err()
		out.Msg = "stopped: " + ctx.Err().Error() + inFunc(out.Msg)
	}
}

// innermost is the innermost frame of the script's own code, or false.
func innermost(ee *starlark.EvalError) (starlark.CallFrame, bool) {
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		if fr := ee.CallStack[i]; fr.Pos.Filename() != "<builtin>" && fr.Pos.IsValid() {
			return fr, true
		}
	}
	return starlark.CallFrame{}, false
}

// posOf is where in the script's code the run failed, or "".
func posOf(ee *starlark.EvalError) string {
	if fr, ok := innermost(ee); ok {
		return fr.Pos.String()
	}
	return ""
}

// where names the function the run failed in: " (in f)", or "" at the
// top level.
func where(ee *starlark.EvalError) string {
	if fr, ok := innermost(ee); ok && fr.Name != "<toplevel>" {
		return " (in " + fr.Name + ")"
	}
	return ""
}

// inFunc keeps the "(in f)" suffix of a message.
func inFunc(msg string) string {
	if i := strings.LastIndex(msg, " (in "); i >= 0 {
		return msg[i:]
	}
	return ""
}

// Decide implements sentinel.Strategy: it runs on_tick(state) under the
// limits and returns the decision its actions make. A failing tick returns
// an *Error.
func (s *Script) Decide(ctx context.Context, st *sentinel.State) (sentinel.Decision, error) {
	if st == nil {
		return sentinel.Decision{}, &Error{Script: s.name, Msg: "Decide was given no state"}
	}
	if s.closed() {
		return hold(fmt.Sprintf("script %s is closed", s.Name())), nil
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
	if cerr := s.capMemoryLocked(); err == nil {
		err = cerr
	}
	if err != nil {
		return sentinel.Decision{}, err
	}
	if ret != starlark.None {
		return sentinel.Decision{}, &Error{Script: s.name, Pos: prog.onTick.Position().String(),
			Msg: fmt.Sprintf("on_tick returned a value of type %s; it decides by calling actions (set_weight, promote, rollback, pause, hold) and returns None", ret.Type())}
	}
	return tk.rec.decision(st), nil
}

// capMemoryLocked empties state.memory when it takes more than the memory
// cap: keeping it would let it grow by a run's budget each tick.
func (s *Script) capMemoryLocked() error {
	if s.cfg.unguarded {
		return nil
	}
	if _, ok := guard.PersistentBound(s.memory, s.cfg.memoryCap, &s.sizes); ok {
		return nil
	}
	s.memory, s.sizes = new(starlark.Dict), guard.SizeCache{}
	return &Error{Script: s.name, Err: ErrMemory,
		Msg: fmt.Sprintf("state.memory takes more than the memory cap of %s (printed size, WithMemoryCap); it was emptied", guard.Bytes(s.cfg.memoryCap))}
}

// trackRolloutLocked learns when the rollout began, and empties memory when
// a new rollout begins.
func (s *Script) trackRolloutLocked(st *sentinel.State) {
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

// hold is the decision to keep everything as it is, for a reason.
func hold(reason string) sentinel.Decision {
	return sentinel.Decision{Action: sentinel.ActionHold, Reason: reason}
}
