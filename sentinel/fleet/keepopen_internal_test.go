package fleet

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
)

// The leader's checkpoint holds the state of a strategy it wraps in
// keepOpen, so that a new leader can carry a blue/green rollout on.
func TestKeepOpenShowsTheStrategysState(t *testing.T) {
	bg, err := sentinel.NewBlueGreen(sentinel.BlueGreenConfig{Warmup: func(context.Context, string) (*warmup.Report, error) {
		return &warmup.Report{Passed: true}, nil
	}})
	require.NoError(t, err)
	split := balancer.MustSplit(balancer.Weight{Version: "blue", Weight: 10000}, balancer.Weight{Version: "green", Weight: 0})
	s, err := sentinel.New(split, &Source{}, keepOpen{bg}, sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	defer s.Close()
	cp := s.Checkpoint()
	assert.Equal(t, "bluegreen", cp.Strategy)
	assert.NotEmpty(t, cp.StrategyState)
}
