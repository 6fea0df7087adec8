package guard_test

import (
	"testing"

	"go.starlark.net/starlark"

	"github.com/ninelives-go/ninelives/sentinel/script/internal/guard"
)

// TestEveryMethodClassified fails when the interpreter grows a method the
// guard's rules do not know (it is refused until classified).
func TestEveryMethodClassified(t *testing.T) {
	if len(guard.Unclassified) > 0 {
		t.Fatalf("methods of built-in types without a rule: %v", guard.Unclassified)
	}
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
	known := map[string]bool{}
	for _, n := range reviewedUniversal {
		known[n] = true
	}
	for n := range starlark.Universe {
		if !known[n] {
			t.Errorf("universal builtin %q is not reviewed", n)
		}
	}
}
