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
	assert.Equal(t, program, block, "README.md's block between %q and %q must be examples/canary/main.go from its imports on: "+
		"copy the file's text into the README (the diff is README against main.go)", beginMarker, endMarker)
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
	assert.ErrorContains(t, err, `WebhookConfig.URL = "ftp://alerts": want an http or https URL`)
}
