package guard_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEveryMethodClassified fails when the interpreter grows a method the
// guard's rules do not know (it is refused until classified).
func TestEveryMethodClassified(t *testing.T) {
	assert.Empty(t, guard.Unclassified, "methods of built-in types without a rule")
}

// reviewedUniversal are the universal builtins of the pinned interpreter,
// each replaced by a checked one or reviewed as allocating nothing that
// grows with its input (abs, len, min, ...).
var reviewedUniversal = []string{
	"None", "True", "False", "abs", "any", "all", "bool", "bytes", "chr", "dict", "dir",
	"enumerate", "fail", "float", "getattr", "hasattr", "hash", "int", "len", "list", "max",
	"min", "ord", "print", "range", "repr", "reversed", "set", "sorted", "str", "tuple", "type", "zip",
}

// TestEveryUniversalReviewed fails when the interpreter grows a universal
// builtin nobody has reviewed (it would be reachable unchecked).
func TestEveryUniversalReviewed(t *testing.T) {
	for n := range starlark.Universe {
		assert.Contains(t, reviewedUniversal, n, "universal builtin %q is not reviewed", n)
	}
}

// run compiles and runs src under a budget and returns the meter and the
// program's error.
func run(t *testing.T, src string, budget int64) (*guard.Meter, error) {
	t.Helper()
	pre := guard.Predeclared(nil)
	prog, err := guard.Compile(&syntax.FileOptions{Set: true}, "t.star", src, pre)
	require.NoError(t, err)
	thread := new(starlark.Thread)
	m := guard.Attach(thread, budget, 1_000_000)
	_, err = prog.Init(thread, pre)
	return m, err
}

func TestTheBudgetRefusesWorkBeforeItAllocates(t *testing.T) {
	m, err := run(t, "x = [0] * ((1 << 30) - 1)\n", 64<<20)
	require.Error(t, err)
	require.NotNil(t, m.Err())
	assert.Equal(t, "x * y would allocate 16.0 GiB, over the run's memory budget of 64.0 MiB (147 B used)", m.Err().Error())
	assert.Less(t, m.Used(), int64(1<<10), "nothing was charged for it")

	m, err = run(t, "x = [i for i in range(1000)]\ny = x + x\nz = ', '.join([str(i) for i in x])\n", 64<<20)
	require.NoError(t, err)
	assert.Nil(t, m.Err())
	assert.Positive(t, m.Used(), "what it made was charged")
}

func TestTheLoadTimeChecks(t *testing.T) {
	pre := guard.Predeclared(nil)
	fo := &syntax.FileOptions{}
	for src, want := range map[string]string{
		"_nl_add = 1\n":       `t.star:1:1: names beginning "_nl_" are reserved`,
		"x = 1 << 5000\n":     "", // a shift is checked when it runs
		"x = " + big() + "\n": "t.star:1:5: integer literal of 4097 bits, over the limit of 4096",
		string(make([]byte, guard.MaxSourceBytes+1)): "t.star:1:1: the source has 1048577 bytes, over the limit of 1048576",
	} {
		_, err := guard.Compile(fo, "t.star", src, pre)
		if want == "" {
			assert.NoError(t, err)
			continue
		}
		assert.EqualError(t, err, want)
	}
}

// big is an integer literal of 4097 bits.
func big() string { return "0x1" + strings.Repeat("0", 1024) }

// What a value kept from run to run takes is walked again each run; the
// records that cannot change are sized once.
func TestPersistentBound(t *testing.T) {
	d := starlark.NewDict(2)
	require.NoError(t, d.SetKey(starlark.String("s"), starlark.String("0123456789")))
	require.NoError(t, d.SetKey(starlark.String("t"), starlark.Tuple{starlark.MakeInt(1), starlark.String("ab")}))
	var c guard.SizeCache
	n, ok := guard.PersistentBound(d, 1<<20, &c)
	assert.True(t, ok)
	again, _ := guard.PersistentBound(d, 1<<20, &c)
	assert.Equal(t, n, again)
	_, ok = guard.PersistentBound(d, 10, &c)
	assert.False(t, ok, "over a limit of 10 bytes")
	assert.Equal(t, "<dict too large to print>", guard.Bounded(d, 10))
	assert.Equal(t, `{"s": "0123456789", "t": (1, "ab")}`, guard.Bounded(d, 1<<10))
}
