package script_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

// A script given a plan is a plan.Planner, and the built-in scripts carry the
// plans of the Go strategies they mirror.
func TestScriptsNameTheirPlan(t *testing.T) {
	plan := []plan.Step{
		{Name: "dark", MinDuration: time.Minute, Test: "dark launch"},
		{Name: "half", MinCalls: 1000, Test: plan.TestJudge},
	}
	s, err := script.New("plan.star", "def on_tick(state):\n    pass\n", script.WithPlan(plan...))
	require.NoError(t, err)
	assert.Equal(t, plan, s.Plan())
	assert.Equal(t, plan, newRig(t, s).s.Status().Plan, "the sentinel's status shows it")
	plain, err := script.New("plain.star", "def on_tick(state):\n    pass\n")
	require.NoError(t, err)
	assert.Nil(t, plain.Plan())

	cfg := sentinel.CanaryConfig{Steps: []int{100, 5000}, MinStepDuration: time.Second}
	c, err := script.Canary(cfg)
	require.NoError(t, err)
	assert.Equal(t, cfg.Plan(), c.Plan())
	bgCfg := sentinel.BlueGreenConfig{Warmup: func(context.Context, string) (*warmup.Report, error) { return nil, nil }, RollbackWindow: time.Minute}
	bg, err := script.BlueGreen(bgCfg)
	require.NoError(t, err)
	t.Cleanup(func() { bg.Close() })
	assert.Equal(t, bgCfg.Plan(), bg.Plan())
}

func TestWithPlanRejectsBadSteps(t *testing.T) {
	ok := "def on_tick(state):\n    pass\n"
	for want, plan := range map[string][]plan.Step{
		`WithPlan[0].Name = "": want the step's name`:                 {{}},
		`WithPlan[1].Name = "a": a step of that name comes before it`: {{Name: "a"}, {Name: "a"}},
		`WithPlan[0].MinDuration = -1s: want ≥ 0`:                     {{Name: "a", MinDuration: -time.Second}},
		`WithPlan[0].MinCalls = -1: want ≥ 0`:                         {{Name: "a", MinCalls: -1}},
	} {
		_, err := script.New("a.star", ok, script.WithPlan(plan...))
		assert.ErrorIs(t, err, script.ErrBadOption, want)
		assert.ErrorContains(t, err, want)
	}
}

// set_weight and set_weights take the verdict their step passed on, as
// promote and rollback do: the event carries it, and so does the record
// of the step it ends.
func TestSetWeightsCarryTheirVerdict(t *testing.T) {
	src := `
def on_tick(state):
    gate = verdict("pass", "the dark launch looked fine", test = "dark launch")
    if state.phase == "pending":
        set_weight(0, step = "dark")
    elif state.step_name == "dark":
        set_weights({state.candidate: 5000}, step = "half", verdict = gate)
    else:
        hold("waiting", verdict = verdict("inconclusive", "half way", test = "half"))
`
	s, err := script.New("gates.star", src)
	require.NoError(t, err)
	r := newRig(t, s)
	r.tick(healthy())
	e := r.tick(healthy())
	require.Equal(t, sentinel.ActionSetWeights, e.Action, e.Reason)
	require.NotNil(t, e.Verdict)
	assert.Equal(t, "dark launch", e.Verdict.Test)
	r.tick(healthy())
	st := r.s.Status()
	require.Len(t, st.Steps, 1)
	assert.Equal(t, "dark launch", st.Steps[0].Verdict.Test, "the step ended on the script's verdict")
	require.NotNil(t, st.StepVerdict)
	assert.Equal(t, "half", st.StepVerdict.Test, "the hold's verdict is the current step's")
	assert.Equal(t, judge.Inconclusive, st.StepVerdict.Outcome)

	bad, err := script.New("bad.star", "def on_tick(state):\n    set_weight(100, verdict = 1)\n")
	require.NoError(t, err)
	_, err = bad.Decide(context.Background(), &sentinel.State{})
	assert.ErrorContains(t, err, "set_weight: verdict is of type int, want a verdict")
}

// A step the plan does not name is warned of once: the plan and the steps
// the script takes disagree, and the status page could not place it.
func TestAStepOutsideThePlanIsWarnedOfOnce(t *testing.T) {
	src := `
def on_tick(state):
    if state.phase == "pending":
        set_weight(100, step = "one")
    elif state.step == 1:
        set_weight(200, step = "tow")
    else:
        hold("done")
`
	s, err := script.New("typo.star", src, script.WithPlan(plan.Step{Name: "one"}, plan.Step{Name: "two"}))
	require.NoError(t, err)
	var out syncBuffer
	r := newRig(t, s, sentinel.WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	for range 4 {
		r.tick(healthy())
	}
	require.Equal(t, "tow", r.s.Status().StepName)
	assert.Equal(t, 1, strings.Count(out.String(), "level=WARN"), out.String())
	assert.Contains(t, out.String(), `began step \"tow\", which its plan [\"one\" \"two\"] does not name`)
}

// syncBuffer is a log's output that the test reads while the sentinel writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
