package sentinel_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// The blue/green strategy's cut-over under load: 16 callers make unary and
// streaming calls without pause, and held streams stay open, through the
// warm-up, the ticks that gather blue's reference figures and the tick
// whose decision moves all the traffic to green through the Router (with
// CompareWithPast, which leaves blue no share). The load checks every call
// against the weights' generation, as when the weights are set by hand:
// none fails, every one begun after the cut-over reaches green, every one
// picked before it (streams too) ends normally on blue.
func TestE2EBlueGreenCutOverUnderLoad(t *testing.T) {
	e, bg, _ := startBlueGreenWith(t, sentinel.BlueGreenConfig{CompareWithPast: true}, false)
	demotest.Settle(t, e.cc, e.split) // green is READY in the channel's picker too
	const callers = 16
	load := demotest.StartCutover(t, e.cc, e.split, demotest.CutoverConfig{From: "blue", To: "green", Callers: callers})

	load.WaitRounds(2)
	ev := e.tick()
	require.Equal(t, sentinel.ActionStart, ev.Action, ev.Reason)
	select {
	case <-sentinel.BlueGreenWarmupDone(bg):
	case <-time.After(time.Minute):
		t.Fatal("the warm-up did not finish")
	}
	require.True(t, sentinel.BlueGreenReport(bg).Passed, sentinel.BlueGreenReport(bg).Reason)
	for ticks := 0; ticks < 30 && ev.Action != sentinel.ActionSetWeights; ticks++ {
		load.WaitRounds(3) // blue's calls for the window of the next tick
		ev = e.tick()
		require.Contains(t, []sentinel.Action{sentinel.ActionHold, sentinel.ActionSetWeights}, ev.Action, ev.Reason)
	}
	require.Equal(t, sentinel.ActionSetWeights, ev.Action, ev.Reason)
	r := load.Finish()
	t.Logf("%+v", r)

	assert.Equal(t, plan.StepCutover, ev.StepName)
	assert.Equal(t, 10000, e.split.Weight("green"))
	assert.Positive(t, r.Before)
	assert.GreaterOrEqual(t, r.After, callers*5*3, "five rounds of three calls by each caller after the cut-over")
	assert.GreaterOrEqual(t, r.Across, 8, "the held streams were open across the cut-over")
}
