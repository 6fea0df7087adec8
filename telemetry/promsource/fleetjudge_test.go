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
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// TestFleetJudgedFromPrometheus is a fleet beyond what one etcd carries
// the replicas' reports for: three client replicas, each exporting its
// metrics to Prometheus and following the rollout state in etcd, and a
// fleet leader that judges the sum of their figures read back from
// Prometheus (fleet.WithSource). The canary fails 30 % of its calls; the
// leader rolls it back on every replica.
func TestFleetJudgedFromPrometheus(t *testing.T) {
	srv := prometheus(t)
	etcd, err := fleettest.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(etcd.Stop)
	const prefix = "/ninelives/prom-fleet"
	initial := []balancer.Weight{{Version: "stable", Weight: balancer.TotalWeight}, {Version: "canary", Weight: 0}}
	clock := sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []fleet.Option{fleet.WithClock(clock), fleet.WithLogger(quiet)}

	var rigs []*rpcRig
	var clients []*client
	var tgs []*promtest.Target
	var followers []*fleet.Follower
	for range 3 {
		tg := target(t)
		c := newClient(t, tg)
		r := startRPCRig(t, tg, c, initial...)
		r.fleet.SetFaults("canary", demoserver.Faults{ErrorRate: 0.3})
		ec, err := fleettest.Client(etcd.Endpoint())
		require.NoError(t, err)
		t.Cleanup(func() { ec.Close() })
		f, err := fleet.NewFollower(ec, prefix, r.split, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		require.NoError(t, f.Start(context.Background()))
		rigs, clients, tgs, followers = append(rigs, r), append(clients, c), append(tgs, tg), append(followers, f)
	}
	src := newSource(t, srv, tgs)
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 3 * time.Second, MinStepCalls: 100})
	require.NoError(t, err)
	ec, err := fleettest.Client(etcd.Endpoint())
	require.NoError(t, err)
	t.Cleanup(func() { ec.Close() })
	// etcd's requests get 10 s: the test is about the figures read back
	// from Prometheus, not about a starved machine's etcd.
	l, err := fleet.NewLeader(ec, prefix, "sentinel-prom", initial, strategy, append(opts, fleet.WithSource(src), fleet.WithTimeout(10*time.Second),
		fleet.WithSentinelOptions(sentinel.WithJudge(judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 200}, Latency: judge.LatencyConfig{MinStepCalls: 200}})))...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, l.Campaign(context.Background()))

	var ev sentinel.Event
	ticks := 0
	for ; ticks < 40 && !ev.Phase.Final(); ticks++ {
		for i, r := range rigs {
			r.load(t, 100)
			clients[i].collect(t)
		}
		waitScraped(t, srv, clients...)
		clock.Advance(time.Second)
		ev, err = l.Tick(context.Background())
		require.NoError(t, err)
		require.NotEqual(t, sentinel.ActionSourceFail, ev.Action, ev.Reason)
		seq := l.Status().State
		if seq == nil {
			continue
		}
		require.Eventually(t, func() bool {
			for _, f := range followers {
				if st, ok := f.Applied(); !ok || st.Seq < seq.Seq {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond)
	}
	require.Equal(t, sentinel.PhaseRolledBack, ev.Phase, "after %d ticks: %s", ticks, ev.Reason)
	require.NotNil(t, ev.Verdict)
	assert.Equal(t, judge.TestErrors, ev.Verdict.Test)
	require.NotNil(t, ev.Verdict.Evidence)
	for i, r := range rigs {
		assert.Equal(t, 0, r.split.Weight("canary"), fmt.Sprintf("replica %d", i))
	}
	assert.Zero(t, l.Status().Source.Reports, "no report went through etcd")
	t.Logf("rolled back after %d ticks on %d canary calls summed over 3 replicas from Prometheus", ticks, ev.Verdict.Evidence.Candidate.Samples)
}
