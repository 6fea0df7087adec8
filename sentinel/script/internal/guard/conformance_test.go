package guard_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.starlark.net/lib/math"
	"go.starlark.net/lib/time"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"

	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
)

// knownDifferences are the places where the interpreter's own language
// tests end otherwise under the guard, each for a reason:
var knownDifferences = []string{
	// The test harness's hasfields() and fibonacci types, which only the
	// interpreter's own tests define.
	"assign.star:278", "builtins.star:185", "function.star:84", "list.star:166", "control.star:59",
	// An unhashable key in a dict literal spanning several lines: the
	// checked literal reports it at the literal's brace.
	"dict.star:223", "dict.star:225",
	// "repeat count too large" and "excessive repeat" become the memory
	// budget's message.
	"string.star:27", "string.star:28", "tuple.star:51", "tuple.star:52",
}

// TestConformance runs the interpreter's own language tests
// (starlark/testdata/*.star of the pinned go.starlark.net) through the
// guard's rewrite and checked builtins, under a 64 MiB budget: every chunk
// ends as the interpreter's tests expect, but for the known differences.
// Run it again on every upgrade of go.starlark.net.
func TestConformance(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.starlark.net").Output()
	require.NoError(t, err, "go list finds the pinned go.starlark.net")
	dir := filepath.Join(strings.TrimSpace(string(out)), "starlark", "testdata")
	files := []string{"assign", "bool", "builtins", "bytes", "control", "dict", "float", "function",
		"int", "json", "list", "math", "misc", "set", "string", "time", "tuple", "recursion", "module", "while"}
	rep := &reporter{}
	chunks := 0
	for _, f := range files {
		for _, c := range readChunks(t, filepath.Join(dir, f+".star")) {
			chunks++
			c.run(rep)
		}
	}
	assert.Equal(t, 88, chunks, "the chunks of the pinned interpreter's tests")
	assert.ElementsMatch(t, knownDifferences, rep.places(), "differences from the interpreter:\n%s", strings.Join(rep.msgs, "\n"))
}

// chunk is one program of a test file, padded to its lines in the file,
// with the errors it expects by line.
type chunk struct {
	file, src string
	want      map[int]*regexp.Regexp
}

// readChunks splits a test file at its "---" lines and reads the
// expected errors (### "regexp") of each chunk.
func readChunks(t *testing.T, filename string) []chunk {
	data, err := os.ReadFile(filename)
	require.NoError(t, err)
	var chunks []chunk
	line := 1
	for _, text := range strings.Split(string(data), "\n---\n") {
		c := chunk{file: filename, src: strings.Repeat("\n", line-1) + text, want: map[int]*regexp.Regexp{}}
		for _, l := range strings.Split(text, "\n") {
			if _, after, ok := strings.Cut(l, "###"); ok {
				pattern, err := strconv.Unquote(strings.TrimSpace(after))
				require.NoError(t, err, "%s:%d", filename, line)
				c.want[line] = regexp.MustCompile(pattern)
			}
			line++
		}
		line++ // the "---"
		chunks = append(chunks, c)
	}
	return chunks
}

// run runs the chunk under the guard and reports how its errors differ
// from the expected ones.
func (c chunk) run(rep *reporter) {
	thread := &starlark.Thread{Load: loader}
	starlarktest.SetReporter(thread, rep)
	guard.Attach(thread, 64<<20, 1<<40)
	pre := guard.Predeclared(starlark.StringDict{
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		"hasfields": starlark.NewBuiltin("hasfields", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return nil, fmt.Errorf("no hasfields here")
		}),
	})
	prog, err := guard.Compile(dialect(c.src), c.file, c.src, pre)
	if err == nil {
		_, err = prog.Init(thread, pre)
	}
	if err != nil {
		c.gotError(rep, err)
	}
	for line, rx := range c.want {
		rep.Errorf("%s:%d: expected error matching %q", c.file, line, rx)
	}
}

func (c chunk) gotError(rep *reporter, err error) {
	line, msg := 0, err.Error()
	if ee, ok := err.(*starlark.EvalError); ok {
		for i := range ee.CallStack {
			if pos := ee.CallStack.At(i).Pos; pos.Filename() == c.file {
				line = int(pos.Line)
				break
			}
		}
	} else if se, ok := err.(syntax.Error); ok {
		line = int(se.Pos.Line)
	} else if rl, ok := err.(resolve.ErrorList); ok {
		line = int(rl[0].Pos.Line)
	}
	rx, ok := c.want[line]
	delete(c.want, line)
	switch {
	case !ok:
		rep.Errorf("%s:%d: unexpected error: %s", c.file, line, msg)
	case !rx.MatchString(msg):
		rep.Errorf("%s:%d: error %q does not match %q", c.file, line, msg, rx)
	}
}

func loader(_ *starlark.Thread, module string) (starlark.StringDict, error) {
	switch module {
	case "assert.star":
		return starlarktest.LoadAssertModule()
	case "json.star":
		return starlark.StringDict{"json": guard.Predeclared(nil)["json"]}, nil
	case "time.star":
		return starlark.StringDict{"time": time.Module}, nil
	case "math.star":
		return starlark.StringDict{"math": math.Module}, nil
	}
	return nil, fmt.Errorf("no module %s", module)
}

// dialect reads a chunk's "option:" comments.
func dialect(src string) *syntax.FileOptions {
	has := func(n string) bool { return strings.Contains(src, "option:"+n) }
	return &syntax.FileOptions{Set: has("set"), While: has("while"), TopLevelControl: has("toplevelcontrol"),
		GlobalReassign: has("globalreassign"), LoadBindsGlobally: has("loadbindsglobally"), Recursion: has("recursion")}
}

// reporter collects the differences; assert.star's failures come here too.
type reporter struct{ msgs []string }

func (r *reporter) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *reporter) Error(args ...any) { r.msgs = append(r.msgs, fmt.Sprint(args...)) }

var placeRE = regexp.MustCompile(`testdata/(\w+\.star):(\d+)`)

// places are the file:line of each difference.
func (r *reporter) places() []string {
	out := []string{}
	for _, m := range r.msgs {
		if p := placeRE.FindStringSubmatch(m); p != nil {
			out = append(out, p[1]+":"+p[2])
		} else {
			out = append(out, m)
		}
	}
	return out
}
