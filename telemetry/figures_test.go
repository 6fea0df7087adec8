package telemetry_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// oneBucket is a histogram of n calls all near v seconds.
func oneBucket(n uint64, v float64) telemetry.Histogram {
	idx := int32(math.Ceil(math.Log2(v)*8)) - 1
	return telemetry.Histogram{Count: n, Sum: float64(n) * v, Min: v, Max: v, Scale: 3, Offset: idx, Counts: []uint64{n}}
}

func TestFiguresSumUpAVersionsPrimaryCalls(t *testing.T) {
	w := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"canary": {
		Roles: map[balancer.Role]*telemetry.RoleStats{
			balancer.RolePrimary: {Calls: 100, Errors: 5, Latency: oneBucket(100, 0.04)},
			balancer.RoleShadow:  {Calls: 40, Errors: 40, Latency: oneBucket(40, 0.5)},
		},
		Shadow: map[string]int64{
			telemetry.ShadowMatch: 30, telemetry.ShadowNoise: 2, telemetry.ShadowMismatch: 3,
			telemetry.ShadowError: 4, telemetry.ShadowPrimaryError: 1,
		},
		Fallbacks: 7,
	}}}
	f := w.Figures("canary")
	assert.Equal(t, int64(100), f.Calls, "primary calls only")
	assert.Equal(t, int64(5), f.Errors)
	assert.InDelta(t, 0.05, f.ErrorRate, 1e-12)
	assert.InDelta(t, 0.04, f.P50, 0.04*0.1)
	assert.InDelta(t, 0.04, f.P99, 0.04*0.1)
	assert.Equal(t, int64(30+2+3+4), f.ShadowComparisons, "a failed copy is a comparison")
	assert.Equal(t, int64(3+4), f.ShadowMismatches, "and a mismatch; the primary's own errors are neither")
	assert.Equal(t, int64(7), f.Fallbacks)

	var none *telemetry.Window
	assert.Equal(t, telemetry.Figures{}, none.Figures("canary"), "no window, no calls")
	assert.Equal(t, telemetry.Figures{}, w.Figures("green"), "no such version, no calls, no NaN")
}

func TestFiguresPlusAddsCountsAndBoundsQuantiles(t *testing.T) {
	a := telemetry.Figures{Calls: 100, Errors: 1, ErrorRate: 0.01, P50: 0.01, P90: 0.02, P99: 0.5, ShadowComparisons: 3, ShadowMismatches: 1, Fallbacks: 2}
	b := telemetry.Figures{Calls: 300, Errors: 15, ErrorRate: 0.05, P50: 0.02, P90: 0.03, P99: 0.1, ShadowComparisons: 5, Fallbacks: 1}
	s := a.Plus(b)
	assert.Equal(t, telemetry.Figures{Calls: 400, Errors: 16, ErrorRate: 0.04, P50: 0.02, P90: 0.03, P99: 0.5,
		ShadowComparisons: 8, ShadowMismatches: 1, Fallbacks: 3}, s)
	assert.Equal(t, a, a.Plus(telemetry.Figures{}), "adding nothing changes nothing")
	assert.Zero(t, telemetry.Figures{}.Plus(telemetry.Figures{}).ErrorRate, "no calls: a rate of 0, not NaN")
}
