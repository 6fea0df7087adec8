package script_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

func TestScriptRateTest(t *testing.T) {
	s := mustScript(t, "rate.star", `
def on_tick(state):
    m = state.memory
    if "t" not in m:
        m["t"] = rate_test(0.01, 0.01, min_samples = 10, min_step_samples = 20)
    t = m["t"]
    n = state.memory.get("n", 0) + 1
    m["n"] = n
    if n == 3:
        t.begin_step()
    t.observe(10, 5 if state.step == 9 else 0)
    v = t.verdict()
    log(n, v.outcome, t.failed(), v.evidence.candidate.samples, v.evidence.step_samples, number(v.threshold))
`)
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))
	var logs []string
	for range 4 {
		logs = append(logs, decide(t, s, st).Logs...)
	}
	st.Step = 9 // a bad step: half the samples are events
	logs = append(logs, decide(t, s, st).Logs...)
	assert.Equal(t, []string{
		"1 inconclusive False 10 10 100",
		"2 pass False 20 20 100",
		"3 inconclusive False 30 10 100",
		"4 pass False 40 20 100",
		"5 fail True 50 30 100",
	}, logs)

	for src, want := range map[string]string{
		"rate_test(0.01, 2)":                 "ninelives: script rate.star:2:14: rate_test: alpha = 2: want a probability strictly between 0 and 1 (in on_tick)",
		"rate_test(1.5, 0.01)":               "rate_test: RateConfig.Tolerance = 1.5: want a rate strictly between 0 and 1",
		`rate_test("x", 0.01)`:               "rate_test: for parameter tolerance: got string, want a number",
		"rate_test(0.1, 0.1).observe(-1, 0)": "rate_test.observe: shadow comparisons = -1: want a count ≥ 0",
	} {
		_, err := mustScript(t, "rate.star", "def on_tick(state):\n    "+src+"\n").Decide(context.Background(), st)
		assert.ErrorContains(t, err, want, src)
	}
	s = mustScript(t, "rate.star", "T = rate_test(0.1, 0.1)\ndef on_tick(state):\n    T.observe(1, 0)\n")
	_, err := s.Decide(context.Background(), st)
	assert.ErrorContains(t, err, "the test is frozen (made at the top level?); keep it in state.memory")
}

func TestScriptHistograms(t *testing.T) {
	s := mustScript(t, "hist.star", `
def on_tick(state):
    c = state.histogram(state.candidate)
    b = state.histogram(state.baseline, window = "step")
    none = state.histogram("nobody")
    both = merge_histograms([c, b, none])
    log(c.count, b.count, none.count, both.count, c.merge(b).count)
    log(none.quantile(0.5), c.quantile(0.5) > 0.03, b.quantile(0.5) < 0.03, c.count_above(0.03), b.count_above(0.03))
    log(c.min <= 0.04 and 0.04 <= c.max, c.sum > 0, str(none))
    log(percent(0.015), percent(0), number(180), number(3.93e-14), duration(90), duration(0.0888341))
    log(state.histogram(state.candidate, role = "rescue").count, state.histogram(state.candidate, role = "shadow").count)
`)
	d := decide(t, s, progressing(nil, window(900, 0, 100, 0, 0.02, 0.04)))
	assert.Equal(t, []string{
		"100 900 0 1000 1000",
		"None True True 100 0",
		"True True histogram(count = 0, p50 = 0.0, p99 = 0.0)",
		"1.50% 0% 180 3.93e-14 1m30s 88.834ms",
		"0 0", // the rescue's and the copies' calls, apart from the primary ones
	}, d.Logs)

	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.04))
	for src, want := range map[string]string{
		`state.histogram("canary", window = "hour")`: `state.histogram: window = "hour", want "step" or "tick"`,
		`state.histogram("canary", role = "other")`:  `state.histogram: role = "other", want "primary", "shadow", "warmup" or "rescue"`,
		`merge_histograms([1])`:                      "merge_histograms: element 0 is of type int, want a histogram",
		`state.histogram("canary").merge(3)`:         "histogram.merge: for parameter other: got int, want histogram",
		`state.histogram("canary").quantile(2)`:      "histogram.quantile: q = 2, want 0 ≤ q ≤ 1",
		`state.quantile("canary", -1)`:               "state.quantile: q = -1, want 0 ≤ q ≤ 1",
		`duration(1e300)`:                            "duration: 1e+300 seconds is out of range",
		`{state.histogram("canary"): 1}`:             "unhashable",
	} {
		_, err := mustScript(t, "hist.star", "def on_tick(state):\n    "+src+"\n").Decide(context.Background(), st)
		assert.ErrorContains(t, err, want, src)
	}
}

// blockingWarmup is a warm-up that runs until its context ends.
func blockingWarmup(ctx context.Context, _ string) (*warmup.Report, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type failingSwitch struct{ shadowSwitch }

func (f *failingSwitch) SetRate(r float64) error {
	_ = f.shadowSwitch.SetRate(r)
	if r == 0 {
		return errors.New("control plane down")
	}
	return nil
}

func TestScriptHostFacilities(t *testing.T) {
	st := progressing(nil, window(900, 0, 100, 0, 0.02, 0.02))
	ctx := context.Background()

	// Without the host's facilities, asking for them is an error; turning
	// off a shadow that was never given does nothing.
	for src, want := range map[string]string{
		"warmup_start()":  "warmup_start: the script's host gives it no warm-up",
		"shadow_on(0.1)":  "shadow_on: the script's host gives it no shadow control",
		"shadow_off()":    "",
		"warmup_status()": "",
	} {
		_, err := mustScript(t, "host.star", "def on_tick(state):\n    "+src+"\n").Decide(ctx, st)
		if want == "" {
			assert.NoError(t, err, src)
		} else {
			assert.ErrorContains(t, err, want, src)
		}
	}
	for want, opt := range map[string]script.Option{
		"ninelives: bad script option: WithWarmup: the warm-up is nil":                                script.WithWarmup(nil, 0),
		"ninelives: bad script option: WithWarmup = -1s: want a positive timeout, or 0 for 2 minutes": script.WithWarmup(blockingWarmup, -time.Second),
		"ninelives: bad script option: WithShadow: the shadow control is nil":                         script.WithShadow(nil),
	} {
		_, err := script.New("host.star", "def on_tick(state):\n    pass\n", opt)
		assert.ErrorIs(t, err, script.ErrBadOption)
		assert.ErrorContains(t, err, want)
	}

	// A warm-up runs beside the ticks; Close stops it and turns the shadow off.
	sw := &failingSwitch{}
	s := mustScript(t, "host.star", `
def on_tick(state):
    warmup_start()
    warmup_start()  # only the first starts one
    w = warmup_status()
    log(w.started, w.done, w.has_report, w.passed, w.error)
    if state.step == 7:
        err = shadow_on(2)
    err = shadow_on(0.25)
    log("on", err)
    log("again", shadow_on(0.5))
    log("off", shadow_off())
    log("off again", shadow_off())
    hold("warming")
`, script.WithWarmup(blockingWarmup, time.Minute), script.WithShadow(sw))
	assert.Nil(t, s.WarmupDone())
	d := decide(t, s, st)
	assert.Equal(t, []string{"True False False False ", "on None", "again None", "off ninelives: turning the shadow off: control plane down", "off again ninelives: turning the shadow off: control plane down"}, d.Logs)
	_, calls := sw.state()
	assert.Equal(t, []string{"candidate canary", "rate 0.25", "rate 0", "rate 0"}, calls)
	done := s.WarmupDone()
	require.NotNil(t, done)
	select {
	case <-done:
		t.Fatal("the warm-up ended by itself")
	default:
	}
	st.Step = 7
	_, err := s.Decide(ctx, st)
	assert.ErrorContains(t, err, "shadow_on: rate = 2, want a share in (0, 1]")

	assert.ErrorContains(t, s.Close(), "turning the shadow off: control plane down", "the shadow was still on")
	<-done
	d = decide(t, s, st)
	assert.Equal(t, sentinel.Decision{Action: sentinel.ActionHold, Reason: "script host.star is closed"}, d)

	s = mustScript(t, "host.star", `
def on_tick(state):
    warmup_start()
    w = warmup_status()
    log(w.done, w.has_report, w.error)
`, script.WithWarmup(blockingWarmup, time.Millisecond))
	decide(t, s, st)
	<-s.WarmupDone()
	assert.Equal(t, []string{"True False context deadline exceeded"}, decide(t, s, st).Logs, "the warm-up's timeout")
	require.NoError(t, s.Close())
}
