package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A short measure of a small fleet, both sides in this process (the
// command runs the fleet's side in a process of its own): every figure is
// there and the weight changes reach every replica.
func TestMeasureASmallFleet(t *testing.T) {
	o := options{replicas: 5, clients: 2, duration: 2 * time.Second, interval: 200 * time.Millisecond, chg: 400 * time.Millisecond,
		warmup: 400 * time.Millisecond}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- runFleet(o, inR, outW); outW.Close() }()
	rd := bufio.NewReader(outR)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	require.True(t, ok, line)
	lr, err := lead(o, endpoint)
	require.NoError(t, err)
	inW.Close()
	var fr fleetResult
	require.NoError(t, json.NewDecoder(rd).Decode(&fr))
	require.NoError(t, <-done)

	assert.NotEmpty(t, lr.ticks, "the leader ticked (how often a starved machine lets it is no figure of the test)")
	assert.Positive(t, lr.reports)
	assert.Positive(t, fr.Bytes)
	assert.Positive(t, fr.Reports)
	assert.GreaterOrEqual(t, lr.publishes, int64(3), "the rollout's start and the weight changes")
	assert.NotEmpty(t, fr.Last, "the states reached every replica")
	var out strings.Builder
	report(&out, o, lr, fr)
	for _, want := range []string{"etcd writes", "leader tick", "weight change", "memory", "etcd database"} {
		assert.Contains(t, out.String(), want)
	}
	assert.Error(t, run([]string{"-replicas", "0"}, strings.NewReader(""), io.Discard))
}
