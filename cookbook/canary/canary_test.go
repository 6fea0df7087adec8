package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runRecipe runs the recipe on a virtual clock: each tick's 500 calls are
// made as fast as they can be, and the assertions are on counts and
// outcomes. The calls' latencies are still real: the judge compares the two
// versions' calls of the same tick, which share the machine's scheduling
// noise.
func runRecipe(t *testing.T, reg demo.Regression) *demo.Result {
	t.Helper()
	return runRecipeOf(t, Recipe(), reg)
}

func runRecipeOf(t *testing.T, rc *demo.Recipe, reg demo.Regression, edit ...func(*demo.Options)) *demo.Result {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.html")
	opts := demo.Options{
		Regression: reg,
		Rate:       500,
		Duration:   90 * time.Second,
		Interval:   time.Second,
		Report:     report,
		Virtual:    true,
		Seed:       7,
		Tail:       2,
		// Far above the program's 2 s: on a machine at a load of 15 under
		// -race, healthy calls were seen to take more than 2 s.
		CallTimeout: 10 * time.Second,
	}
	for _, e := range edit {
		e(&opts)
	}
	d, err := demo.Start(rc, opts)
	require.NoError(t, err)
	defer d.Stop()
	res, err := Rollout(context.Background(), d)
	require.NoError(t, err)
	html, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<svg", "the report holds its charts")
	assert.NotContains(t, string(html), "http://", "the report needs no external asset")
	return res
}

func actions(res *demo.Result) []sentinel.Action {
	var out []sentinel.Action
	for _, e := range res.Events {
		out = append(out, e.Action)
	}
	return out
}

// TestErrorRegressionIsRolledBack also delivers the alerts to a webhook
// receiver on loopback, as -webhook does, and reads the rollback's.
func TestErrorRegressionIsRolledBack(t *testing.T) {
	hook := newReceiver(t)
	res := runRecipeOf(t, Recipe(), demo.RegressionErrors, func(o *demo.Options) { o.Webhook = hook.URL })
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	require.NotEmpty(t, res.Alerts)
	rollback := res.Alerts[len(res.Alerts)-1]
	assert.Equal(t, sentinel.ActionRollback, rollback.Action, "the rollback alerted")

	// The sentinel's Close delivered every alert before the run returned.
	bodies := hook.bodies()
	require.Len(t, bodies, len(res.Alerts), "every alert reached the webhook")
	var got struct {
		Source string `json:"source"`
		Text   string `json:"text"`
		Event  struct {
			Action string `json:"action"`
			Reason string `json:"reason"`
			Phase  string `json:"phase"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(bodies[len(bodies)-1], &got), "%s", bodies[len(bodies)-1])
	assert.Equal(t, "ninelives", got.Source)
	assert.Equal(t, "rollback", got.Event.Action)
	assert.Equal(t, "rolled_back", got.Event.Phase)
	assert.Equal(t, rollback.Reason, got.Event.Reason)
	assert.Contains(t, got.Event.Reason, "the judge failed the candidate: ")
	assert.Equal(t, "ninelives rollback (rolled_back, step 1): "+rollback.Reason, got.Text, "the line a chat tool shows")
	// Stated bound: fewer than 600 canary calls before the rollback (the
	// judge's median for 10× errors is under 200; see the simulation table).
	assert.Less(t, res.CandidateCalls, int64(600))
	assert.Positive(t, res.CandidateCalls)
	last := res.Ticks[len(res.Ticks)-1]
	assert.Zero(t, last.Summary.Versions["canary"].Calls, "no canary traffic after the rollback")
	// The errors test, or the shadow test, whose copies failed where the
	// primaries did not: either catches it first.
	assert.Contains(t, []string{judge.TestErrors, judge.TestShadow}, res.Status.Verdict.Test)
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	res := runRecipe(t, demo.RegressionNone)
	assert.Equal(t, sentinel.PhasePromoted, res.Phase)
	assert.Equal(t, []sentinel.Action{sentinel.ActionStart, sentinel.ActionAdvance, sentinel.ActionAdvance, sentinel.ActionPromote}, actions(res))
	assert.Zero(t, res.Failed)
	last := res.Ticks[len(res.Ticks)-1]
	assert.Equal(t, 10000, last.Summary.Weights["canary"])
	assert.Zero(t, last.Summary.Versions["stable"].Calls)
}

func TestLatencyRegressionIsRolledBack(t *testing.T) {
	// Both versions' calls take ten times the demo's: the same 5× slowdown,
	// but far above the scheduling noise of a busy machine, which at the
	// demo's 2 ms a call can hide it for thousands of calls.
	rc := Recipe()
	rc.BaselineFaults = func() demoserver.Faults { return slower(demo.RegressionNone.Faults()) }
	rc.CandidateFaults = func(r demo.Regression) demoserver.Faults { return slower(r.Faults()) }
	res := runRecipeOf(t, rc, demo.RegressionLatency)
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	assert.Equal(t, judge.TestLatency, res.Status.Verdict.Test)
	assert.Less(t, res.CandidateCalls, int64(2000))
}

func TestReplyDifferenceIsCaughtByShadowComparison(t *testing.T) {
	res := runRecipe(t, demo.RegressionDiff)
	assert.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	assert.Equal(t, judge.TestShadow, res.Status.Verdict.Test)
	require.NotEmpty(t, res.Shadow.Mismatches)
	var priced bool
	for _, m := range res.Shadow.Mismatches {
		if strings.Contains(strings.Join(m.Fields, ","), "price_cents") {
			priced = true
		}
	}
	assert.True(t, priced, "the mismatch samples name the field: %+v", res.Shadow.Mismatches)
	assert.Contains(t, res.Shadow.NoisyFields["/ninelives.demo.v1.DemoService/GetItem"], "generated_at", "the timestamp was learned as noise: %v", res.Shadow.NoisyFields)
}

// TestDryRunMovesNoWeight runs the error regression with -dry-run: the
// shadow copies, which fail on the canary, still show the regression, and
// the sentinel reports the rollback it would have made; the canary never
// has a user's call.
func TestDryRunMovesNoWeight(t *testing.T) {
	res := runRecipeOf(t, Recipe(), demo.RegressionErrors, func(o *demo.Options) { o.DryRun = true })
	require.Equal(t, sentinel.PhaseRolledBack, res.Phase)
	require.NotEmpty(t, res.Events)
	for _, e := range res.Events {
		assert.True(t, e.DryRun, "%s is reported, not carried out", e.Action)
	}
	assert.Equal(t, sentinel.ActionRollback, res.Events[len(res.Events)-1].Action)
	assert.Equal(t, judge.TestShadow, res.Status.Verdict.Test)
	for _, tk := range res.Ticks {
		assert.Zero(t, tk.Summary.Versions["canary"].Calls, "tick %d: no primary call on the canary", tk.N)
		assert.Zero(t, tk.Summary.Weights["canary"], "tick %d", tk.N)
	}
	assert.NoError(t, res.Err())
}

// TestHangingCanaryWithAndWithoutTheRescue runs a canary that hangs at
// 300 calls/s, after three intervals of load on stable alone (so that the
// rescue knows stable's latencies): without -rescue the hang fails users'
// calls until the rollback; with it, no call of a method safe to repeat
// fails, and the rollback still comes. The hung calls without the rescue
// wait out their 10 s deadline, in real time.
func TestHangingCanaryWithAndWithoutTheRescue(t *testing.T) {
	for _, on := range []bool{false, true} {
		rc := Recipe()
		rc.Warmup = 3
		res := runRecipeOf(t, rc, demo.RegressionHang, func(o *demo.Options) {
			o.Rate, o.Duration, o.Seed, o.Tail, o.Rescue = 300, time.Minute, 1, 1, on
		})
		require.Equal(t, sentinel.PhaseRolledBack, res.Phase, "rescue %v: the hang is caught either way", on)
		t.Logf("rescue %v: %d calls, %d failed, %d of safe methods, rolled back at tick %d, rescue %+v",
			on, res.Calls, res.Failed, res.FailedSafe, res.FinalTick, res.Rescue)
		if !on {
			assert.Positive(t, res.FailedSafe, "without the rescue the hang reaches users")
			assert.Nil(t, res.Rescue)
			continue
		}
		require.NotNil(t, res.Rescue)
		assert.Zero(t, res.FailedSafe, "with the rescue no call of a safe method fails")
		assert.Positive(t, res.Rescue.Hedged)
		assert.LessOrEqual(t, float64(res.Rescue.Rescued+res.Rescue.RescueFailed), 100+0.1*float64(res.Rescue.Calls), "within the budget")
	}
}

func TestBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-regression oops":      `-regression "oops": want one of none, errors, latency, diff, hang`,
		"-rate 0":               "-rate 0, want 1..20000",
		"-duration -1s":         "-duration -1s",
		"-webhook ftp://x/hook": `Config.URL = "ftp://x/hook": want an http or https URL`,
	} {
		err := run(strings.Fields(args))
		assert.ErrorContains(t, err, want, args)
	}
}

// receiver is a webhook endpoint on loopback that keeps the bodies it is
// sent.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	seen [][]byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		assert.NoError(t, err)
		assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
		r.mu.Lock()
		r.seen = append(r.seen, b)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) bodies() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// slower makes a call ten times as slow.
func slower(f demoserver.Faults) demoserver.Faults {
	f.Latency *= 10
	return f
}
