package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The README's block between its markers is this file from the line
// "import (" to the end, so that the wiring the README shows compiles.
const (
	beginMarker = "<!-- examples/canary/main.go: begin -->"
	endMarker   = "<!-- examples/canary/main.go: end -->"
)

func TestReadmeShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	block, err := between(string(readme), beginMarker, endMarker)
	require.NoError(t, err)
	block, ok := strings.CutPrefix(strings.TrimSpace(block), "```go\n")
	require.True(t, ok, "the README's block is fenced as ```go")
	block, ok = strings.CutSuffix(block, "\n```")
	require.True(t, ok, "the README's block ends with ```")

	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	i := strings.Index(string(src), "\nimport (")
	require.Positive(t, i, "main.go has an import block")
	program := strings.TrimSpace(string(src[i:]))
	if block != program {
		t.Errorf("README.md's block between %q and %q must be examples/canary/main.go from its imports on; "+
			"copy the file's text into the README. Lines only in README.md (-) and only in main.go (+), numbered from \"import (\":\n%s",
			beginMarker, endMarker, lineDiff(block, program))
	}
}

// lineDiff lists the lines only in a (-) and only in b (+), with their
// line numbers, from a longest common subsequence of the two.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1) // lcs[i][j]: of x[i:] and y[j:]
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j == len(y) || (i < len(x) && lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "-%4d  %s\n", i+1, x[i])
			i++
		default:
			fmt.Fprintf(&out, "+%4d  %s\n", j+1, y[j])
			j++
		}
	}
	return out.String()
}

// between returns the text between the markers, which must each stand
// once, in that order.
func between(s, begin, end string) (string, error) {
	_, rest, ok := strings.Cut(s, begin)
	if !ok || strings.Contains(rest, begin) {
		return "", fmt.Errorf("want %q once in README.md", begin)
	}
	block, _, ok := strings.Cut(rest, end)
	if !ok {
		return "", fmt.Errorf("want %q after %q in README.md", end, begin)
	}
	return block, nil
}

func TestLineDiff(t *testing.T) {
	assert.Equal(t, "-   2  b\n+   2  B\n+   4  d\n", lineDiff("a\nb\nc", "a\nB\nc\nd"))
	assert.Empty(t, lineDiff("a\nb", "a\nb"))
}

// TestRunWiresAndCloses runs the program's wiring against demo servers on
// loopback with a context that has ended: everything is built, the
// sentinel's Run returns at once, and every Close and the meter provider's
// Shutdown leave no goroutine behind (goleak, in TestMain).
func TestRunWiresAndCloses(t *testing.T) {
	servers, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1})
	require.NoError(t, err)
	defer servers.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = run(ctx, servers.Target(), "http://127.0.0.1:9/hook")
	assert.ErrorIs(t, err, context.Canceled)
}

// TestBadInputIsAnErrorAndCleansUp gives run a bad webhook URL: the error
// names the field, and what run built before it is closed.
func TestBadInputIsAnErrorAndCleansUp(t *testing.T) {
	err := run(context.Background(), "ninelives:///stable=passthrough:///127.0.0.1:9;canary=passthrough:///127.0.0.1:10", "ftp://alerts")
	assert.ErrorContains(t, err, `Config.URL = "ftp://alerts": want an http or https URL`)
}
