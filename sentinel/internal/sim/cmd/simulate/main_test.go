package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunPrintsTheCommandTheRulesAndTheTable(t *testing.T) {
	var b, progress strings.Builder
	require.NoError(t, run(&b, &progress, 20, 1, "share, 2 looks"))
	out := b.String()
	assert.Contains(t, out, "Command: `go run ./sentinel/internal/sim/cmd/simulate -runs 20 -seed 1 -scenario \"share, 2 looks\"`")
	assert.Contains(t, out, "α = 1 % over the rollout (errors 0.556 %, latency 0.444 %)")
	assert.Contains(t, out, "Fixed threshold (Flagger-style): every 60 s")
	assert.Contains(t, out, "| scenario | runs |")
	assert.Contains(t, out, "restarts: ω = 0.5 over the first 1800 informative looks; errors floor 0.1 percentage point; latency tolerance 10 % or 1 ms; tail quantiles [0.95 0.99 0.999]")
	assert.Contains(t, out, "| errors 0.5 % → 5 %, 10 % share, 2 looks a second | 20 | 20 (100.0 %) correct |")
	assert.Contains(t, out, "| errors 20 |", "the failing test")
	assert.Equal(t, 1, strings.Count(out, "| errors 0.5"), "only the matching scenario")
	assert.Contains(t, progress.String(), "2 looks a second: done after")
}
