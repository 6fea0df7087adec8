package warmup_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func TestWarmup(t *testing.T) {
	e := newEnv(t, spec("stable", 1), spec("blue", 2), spec("green", 2))
	slow := e.fleet.Servers("green")[1]
	// The ceiling is far above a healthy loopback call, and the slow
	// endpoint's injected latency is above it whatever the machine's load.
	slow.SetFaults(demoserver.Faults{Latency: 600 * time.Millisecond})
	cfg := Config{
		Calls:          []CallFunc{getItemCall, getItemCall},
		SuccessesInRow: 3,
		LatencyCeiling: 500 * time.Millisecond,
		CallTimeout:    5 * time.Second,
		MaxAttempts:    20,
	}

	rep, err := Version(ctxT(t), e.cc, e.split, "blue", cfg)
	require.NoError(t, err)
	assert.True(t, rep.Passed, "%+v", rep)
	assert.Equal(t, "blue", rep.Version)
	assert.Contains(t, rep.Reason, "all 2 endpoints had 3 good calls in a row under 500ms")
	require.Len(t, rep.Endpoints, 2)
	for _, ep := range rep.Endpoints {
		assert.True(t, ep.Passed)
		assert.Equal(t, 3, ep.SuccessesInRow)
		assert.GreaterOrEqual(t, ep.Attempts, 3)
		assert.GreaterOrEqual(t, ep.WorstLatency, ep.LastLatency)
	}
	for _, s := range e.fleet.Servers("blue") {
		assert.GreaterOrEqual(t, s.Calls("GetItem"), int64(3), "every endpoint was warmed")
	}
	assert.GreaterOrEqual(t, e.obs.roles()["blue/warmup"], 6)

	// One slow endpoint: the gate fails with a report, bounded by the
	// warm-up's deadline.
	cfg.Timeout = 2 * time.Second
	rep, err = Version(ctxT(t), e.cc, e.split, "green", cfg)
	require.NoError(t, err)
	assert.False(t, rep.Passed)
	require.Len(t, rep.Endpoints, 2)
	byAddr := map[string]EndpointReport{}
	for _, ep := range rep.Endpoints {
		byAddr[ep.Addr] = ep
	}
	bad := byAddr[slow.Addr()]
	assert.False(t, bad.Passed)
	assert.Zero(t, bad.SuccessesInRow)
	assert.Equal(t, bad.Attempts, bad.Failures)
	assert.Greater(t, bad.WorstLatency, cfg.LatencyCeiling)
	assert.Contains(t, bad.LastError, "over the ceiling 500ms")
	good := byAddr[e.fleet.Servers("green")[0].Addr()]
	assert.True(t, good.Passed, "%+v", good)
	assert.Contains(t, rep.Reason, "1 of 2 endpoints did not have 3 good calls in a row under 500ms")
	assert.Contains(t, rep.Reason, slow.Addr())
	_, err = json.Marshal(rep)
	assert.NoError(t, err)

	// A version with nothing READY fails the gate; bad settings are errors.
	rep, err = Version(ctxT(t), e.cc, e.split, "purple", cfg)
	require.NoError(t, err)
	assert.False(t, rep.Passed)
	assert.Contains(t, rep.Reason, `version "purple" has no READY endpoint`)
	_, err = Endpoints(ctxT(t), e.cc, []string{"127.0.0.1:1"}, Config{})
	assert.ErrorContains(t, err, "Calls: is empty")
	_, err = Endpoints(ctxT(t), e.cc, []string{"127.0.0.1:1"}, Config{Calls: cfg.Calls, SuccessesInRow: 5, MaxAttempts: 2})
	assert.ErrorContains(t, err, "MaxAttempts = 2: less than SuccessesInRow 5")
	_, err = Endpoints(ctxT(t), e.cc, []string{"127.0.0.1:1"}, Config{Calls: cfg.Calls, LatencyCeiling: -1})
	assert.ErrorIs(t, err, ErrBadConfig)
	_, err = Endpoints(ctxT(t), e.cc, nil, Config{Calls: cfg.Calls})
	assert.ErrorContains(t, err, "targets: is empty")
}
