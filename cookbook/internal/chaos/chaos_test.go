package chaos_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/cookbook/internal/chaos"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// One short scenario through the harness: every candidate server, each
// in a process of its own, crashes under the whole client stack and
// starts again. Its checks hold (no safe call failed, none begun after
// the crash, nothing left behind) and its figures are there. The bounds
// are generous: each wait may take two minutes, each call ten seconds.
func TestCrashedCandidatesCostNoCall(t *testing.T) {
	bin, err := demoproc.Build(t.TempDir())
	require.NoError(t, err)
	env := chaos.Env{Bin: bin, Dir: t.TempDir(), Rate: 50, CallTimeout: 10 * time.Second, Phase: time.Second, Wait: 2 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var sc chaos.Scenario
	for _, s := range chaos.Scenarios() {
		if s.Name == "kill and restart every candidate server" {
			sc = s
		}
	}
	require.NotNil(t, sc.Run)
	r := chaos.Run(context.Background(), env, sc)
	require.NoError(t, r.Err)
	assert.Empty(t, r.Failed())
	assert.Positive(t, r.Tally.Calls)
	assert.Positive(t, r.Tally.Served[chaos.Candidate], "the candidate served calls")
	var names []string
	for _, f := range r.Figures {
		names = append(names, f.Name)
	}
	require.GreaterOrEqual(t, len(names), 2, names)
	assert.Equal(t, []string{"seen", "canary READY"}, names[:2], "then serving, unless the sentinel rolled the crashed candidate back")
	_, _, _, ticks := r.Ticks.Quantiles()
	assert.Positive(t, ticks, "the sentinel ticked")
}
