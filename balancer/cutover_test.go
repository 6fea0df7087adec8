package balancer_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

// A blue/green cut-over under load: 16 callers make unary, server-streaming
// and bidirectional calls without pause, and held Echo and CountItems
// streams stay open across the change, while the weights move all the
// traffic from blue to green in one change. Not one call or attempt
// fails; every call begun after the change reaches green, as the picker
// reads the weights of that generation or newer; every call picked before
// it stays on blue, streams included, and ends normally there (see
// demotest.Cutover for how each call is placed against the change).
func TestCutoverUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		flip func(*Split) error
	}{
		{"SetWeights", func(s *Split) error { return s.SetWeights(Weight{"blue", 0}, Weight{"green", TotalWeight}) }},
		{"Set", func(s *Split) error { return s.Set("green", TotalWeight, "blue") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFleet(t, "blue", 2, "green", 2)
			split := MustSplit(Weight{"blue", TotalWeight}, Weight{"green", 0})
			cc := dial(t, f.Target(), WithSplit(split))
			connect(t, cc)
			demotest.WaitFleetReady(t, split, f)
			demotest.Settle(t, cc, split) // green is READY in the channel's picker too
			rec := new(recorder)
			defer split.AddObserver(rec)()

			const callers = 16
			load := demotest.StartCutover(t, cc, split, demotest.CutoverConfig{From: "blue", To: "green", Callers: callers})
			load.WaitRounds(3)
			require.NoError(t, tc.flip(split))
			r := load.Finish()
			t.Logf("%+v", r)

			assert.Positive(t, r.Before)
			assert.GreaterOrEqual(t, r.After, callers*5*3, "five rounds of three calls by each caller after the change")
			assert.GreaterOrEqual(t, r.Across, 8, "the held streams were open across the change")
			assert.Zero(t, rec.fallbackCount("green")+rec.fallbackCount("blue"), "no fallback: both versions stayed READY")
			for _, a := range rec.snapshot() {
				assert.NoError(t, a.Err, "an attempt to %s of %s failed", a.Version, a.Method)
			}
		})
	}
}
