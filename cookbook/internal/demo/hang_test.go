package demo

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
)

// A canary that hangs at 20 % of 300 calls/s fails users' calls until its
// rollback; with the rescue on, no call of a method safe to repeat fails,
// and the rollback still comes. The runs are on the virtual clock: the
// hung calls without the rescue still wait out their 2 s deadline.
func TestHangingCanaryWithAndWithoutTheRescue(t *testing.T) {
	for _, on := range []bool{false, true} {
		res, err := Run(context.Background(), HangRecipe(2000), Options{
			Regression: RegressionHang, Rate: 300, Interval: time.Second,
			Duration: time.Minute, Virtual: true, Seed: 1, Tail: 1, Rescue: on,
		})
		require.NoError(t, err)
		require.Equal(t, sentinel.PhaseRolledBack, res.Phase, "rescue %v: the hang is caught either way", on)
		t.Logf("rescue %v: %d calls, %d failed, %d of safe methods, rolled back at tick %d, rescue %+v",
			on, res.Calls, res.Failed, res.FailedSafe, res.FinalTick, res.Rescue)
		if !on {
			assert.Positive(t, res.FailedSafe, "without the rescue the hang reaches users")
			continue
		}
		assert.Zero(t, res.FailedSafe, "with the rescue no call of a safe method fails")
		assert.Positive(t, res.Rescue.Hedged)
		assert.LessOrEqual(t, float64(res.Rescue.Rescued+res.Rescue.RescueFailed), 100+0.1*float64(res.Rescue.Calls))
	}
}
