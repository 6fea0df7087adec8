package promsource_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// TestSentinelRollsBackFromPrometheusFigures runs a canary rollout judged
// on the figures Prometheus scraped: the canary fails 30 % of its calls and
// is rolled back from its first step.
func TestSentinelRollsBackFromPrometheusFigures(t *testing.T) {
	srv := prometheus(t)
	tg := target(t)
	c := newClient(t, tg)
	src := newSource(t, srv, []*promtest.Target{tg})
	r := startRPCRig(t, tg, c,
		balancer.Weight{Version: "stable", Weight: balancer.TotalWeight},
		balancer.Weight{Version: "canary", Weight: 0},
	)
	r.fleet.SetFaults("canary", demoserver.Faults{ErrorRate: 0.3})

	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 3 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	clock := sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := sentinel.New(r.split, src, canary,
		sentinel.WithVersions("stable", "canary"),
		sentinel.WithClock(clock),
		sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sentinel.WithDecisionRecorder(c.metrics),
		sentinel.WithJudge(judge.Config{
			Errors:  judge.ErrorConfig{MinStepCalls: 200},
			Latency: judge.LatencyConfig{MinStepCalls: 200},
		}),
	)
	require.NoError(t, err)
	defer s.Close()

	var ev sentinel.Event
	ticks := 0
	for ; ticks < 40 && !s.Status().Phase.Final(); ticks++ {
		r.load(t, 200)
		c.collect(t)
		waitScraped(t, srv, c) // the tick reads the scrape that follows the calls
		clock.Advance(time.Second)
		ev = s.Tick(context.Background())
		require.NotEqual(t, sentinel.ActionAlert, ev.Action, "the source failed: %s", ev.Reason)
	}
	require.Equal(t, sentinel.PhaseRolledBack, s.Status().Phase, "after %d ticks: %s", ticks, ev.Reason)
	assert.Equal(t, sentinel.ActionRollback, ev.Action)
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestErrors, ev.Verdict.Test)
	assert.Equal(t, 0, r.split.Weight("canary"))
	require.NotNil(t, ev.Verdict.Evidence)
	t.Logf("rolled back after %d ticks; the judge saw %d canary calls: %s", ticks, ev.Verdict.Evidence.Candidate.Samples, ev.Reason)

	// The sentinel's own decisions reach Prometheus too, for dashboards.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitValue(ctx, fmt.Sprintf(`sum(ninelives_sentinel_decisions_total{ninelives_sentinel_action=%q, instance=%q})`,
		sentinel.ActionRollback, tg.Addr()), 1))
}
