package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Three releases in a row on one client: b2 (good) is promoted, deployed
// behind stable and finalized; b3 (a fifth of its calls fail) is rolled
// back; b4 (good) is promoted and finalized. No call fails during the
// good releases, through two canary rollouts, two rolling deploys of each
// version and two returns of the traffic to stable.
func TestThreeReleasesOnTheSameClient(t *testing.T) {
	o := Defaults()
	o.Rate, o.Tick, o.Step, o.Settle, o.Timeout = 400, 250*time.Millisecond, time.Second, 200*time.Millisecond, time.Minute
	o.CallTimeout = 10 * time.Second // a busy machine's slow call is not the release's failure
	var out bytes.Buffer
	o.Out = &out
	res, err := Run(context.Background(), o)
	require.NoError(t, err, out.String())
	require.Len(t, res.Releases, 3)
	t.Log("\n" + out.String())

	want := []struct {
		outcome   sentinel.Phase
		finalized bool
	}{{sentinel.PhasePromoted, true}, {sentinel.PhaseRolledBack, false}, {sentinel.PhasePromoted, true}}
	for i, r := range res.Releases {
		assert.Equal(t, want[i].outcome, r.Outcome, r.Build)
		assert.Equal(t, want[i].finalized, r.Finalized, r.Build)
		assert.Positive(t, r.Calls, r.Build)
		assert.Positive(t, r.CanaryServed, "%s was judged on calls it served", r.Build)
		if r.Good {
			assert.Zero(t, r.Failed, "no call failed during the good release %s: %q", r.Build, r.Errors)
		}
	}
	assert.Positive(t, res.Releases[1].Failed, "the bad build failed some of its calls before its rollback")
	assert.Equal(t, 1, res.Conns)
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run([]string{"-rate", "x"}, &out))
}
