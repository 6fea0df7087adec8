package fleet

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
)

func TestWeightsCheckWhatTheyAreGiven(t *testing.T) {
	for want, initial := range map[string][]balancer.Weight{
		`initial[1] = "a": the version appears twice`: {{Version: "a", Weight: 5000}, {Version: "a", Weight: 5000}},
		"initial = [{a 5000} {b 4000}]: sum to 9000":  {{Version: "a", Weight: 5000}, {Version: "b", Weight: 4000}},
		`initial[0] = "a b"`:                          {{Version: "a b", Weight: 10000}},
	} {
		_, err := newWeights(initial)
		assert.ErrorIs(t, err, ErrBadOption, want)
		assert.ErrorContains(t, err, want)
	}

	w, err := newWeights([]balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}})
	require.NoError(t, err)
	gen := w.Generation()
	require.NoError(t, w.SetWeights(balancer.Weight{Version: "canary", Weight: 100}, balancer.Weight{Version: "stable", Weight: 9900}))
	assert.Equal(t, []balancer.Weight{{Version: "stable", Weight: 9900}, {Version: "canary", Weight: 100}}, w.Weights(), "in the router's order")
	assert.Equal(t, gen+1, w.Generation())
	for want, ws := range map[string][]balancer.Weight{
		"want one weight for each of":                     {{Version: "stable", Weight: 10000}},
		`do not name version "canary"`:                    {{Version: "stable", Weight: 9000}, {Version: "green", Weight: 1000}},
		"sum to 11000, want 10000":                        {{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 1000}},
		`weights[0] = 10001: for "stable", want 0..10000`: {{Version: "stable", Weight: 10001}, {Version: "canary", Weight: -1}},
	} {
		err := w.SetWeights(ws...)
		assert.ErrorIs(t, err, balancer.ErrBadWeights, want)
		assert.ErrorContains(t, err, want)
	}
	assert.Equal(t, gen+1, w.Generation(), "a refused change changes nothing")
}

// The leader's sentinel steers the fleet's weights through the router, as
// it would a Split.
func TestASentinelSteersTheFleetsWeights(t *testing.T) {
	w, err := newWeights([]balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}})
	require.NoError(t, err)
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	s, err := sentinel.New(w, new(sentineltest.Source), canary, sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	defer s.Close()
	e := s.Tick(context.Background())
	require.Equal(t, sentinel.ActionStart, e.Action, e.Reason)
	assert.Equal(t, 100, e.Weight("canary"))
	assert.Equal(t, []balancer.Weight{{Version: "stable", Weight: 9900}, {Version: "canary", Weight: 100}}, e.Weights)
}
