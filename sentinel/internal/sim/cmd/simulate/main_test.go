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
	var b strings.Builder
	require.NoError(t, run(&b, 20, 1, "errors 0.5 % → 5 %"))
	out := b.String()
	assert.Contains(t, out, "Command: `go run ./sentinel/internal/sim/cmd/simulate -runs 20 -seed 1 -scenario \"errors 0.5 % → 5 %\"`")
	assert.Contains(t, out, "α = 1 % over the rollout (errors 0.556 %, latency 0.444 %)")
	assert.Contains(t, out, "Fixed threshold (Flagger-style): every 60 s")
	assert.Contains(t, out, "| scenario | runs |")
	assert.Contains(t, out, "| errors 0.5 % → 5 %, 10 % share | 20 | 20 (100.0 %) correct |")
	assert.Equal(t, 1, strings.Count(out, "| errors"), "only the matching scenario")
}
