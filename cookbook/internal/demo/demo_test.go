package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseRegression(t *testing.T) {
	for _, r := range Regressions {
		got, err := ParseRegression(string(r))
		require.NoError(t, err)
		assert.Equal(t, r, got)
		assert.NotEmpty(t, r.Describe())
	}
	_, err := ParseRegression("slow")
	assert.ErrorContains(t, err, `-regression "slow": want one of none, errors, latency, diff, hang`)
	assert.Equal(t, 0.05, RegressionErrors.Faults().ErrorRate)
	assert.Equal(t, BaseLatency*5, RegressionLatency.Faults().Latency)
	assert.True(t, RegressionHang.Faults().Hang)
	assert.Equal(t, BaseLatency, RegressionNone.Faults().Latency)
}

func TestReportIsSelfContainedAndEscaped(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "canary", Baseline: "stable", Candidate: "canary"}
	res := &Result{Recipe: "canary", Regression: RegressionErrors, Phase: sentinel.PhaseRolledBack, Elapsed: 3 * time.Second}
	for i := 1; i <= 3; i++ {
		calls := int64(50)
		if i == 3 {
			calls = 0 // no canary calls: the line breaks
		}
		res.Ticks = append(res.Ticks, Tick{N: i, At: time.Duration(i) * time.Second,
			Decision: sentinel.Event{Time: start.Add(time.Duration(i) * time.Second)},
			Summary: sentinel.TickSummary{Weights: map[string]int{"canary": 1000},
				Versions: map[string]telemetry.Figures{"stable": {Calls: 450, P99: 0.003}, "canary": {Calls: calls, Errors: 3, ErrorRate: 0.06, P99: 0.004}}}})
	}
	res.Events = []sentinel.Event{{Time: start.Add(2 * time.Second), Action: sentinel.ActionRollback, Who: "sentinel", Reason: `<script>alert("x")</script> errors`}}
	path := filepath.Join(t.TempDir(), "r.html")
	require.NoError(t, WriteReport(path, rc, res))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	html := string(b)
	assert.NotContains(t, html, `<script>alert`, "text from events is escaped")
	assert.Contains(t, html, "&lt;script&gt;alert")
	assert.Equal(t, 3, strings.Count(html, "<svg "), "three charts")
	assert.NotContains(t, html, "src=", "no external asset")
	assert.Contains(t, html, `stroke="#c0392b"`, "the rollback is marked")
	assert.Contains(t, html, "<polyline", "the series are drawn")

	assert.Equal(t, 1.0, niceCeil(0))
	assert.Equal(t, 2.5, niceCeil(2.1))
	assert.Equal(t, 50.0, niceCeil(41))
}

func TestRunLeavesTheRecipeAloneAndUsesItsDescription(t *testing.T) {
	rc := &Recipe{
		Name: "test", Baseline: "stable", Candidate: "canary",
		CandidateFaults: func(r Regression) demoserver.Faults { return r.Faults() },
		Describe:        func(r Regression) string { return "the recipe's own words for " + string(r) },
	}
	var out bytes.Buffer
	res, err := runTest(context.Background(), t, rc, Options{Regression: RegressionErrors, Rate: 20, Duration: 2 * time.Second,
		Interval: time.Second, Virtual: true, Seed: 1, Out: &out})
	require.NoError(t, err)
	assert.Len(t, res.Ticks, 2)
	assert.Zero(t, rc.Instances, "Start fills in the default instances on its own copy")
	assert.Contains(t, out.String(), "3 stable and 3 canary servers", "the run used the default")
	assert.Contains(t, out.String(), "\nRegression: errors: the recipe's own words for errors\n")
	assert.NotContains(t, out.String(), RegressionErrors.Describe())

	path := filepath.Join(t.TempDir(), "r.html")
	require.NoError(t, WriteReport(path, rc, res))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), "the recipe&#39;s own words for errors")
	assert.Equal(t, RegressionErrors.Describe(), (&Recipe{}).DescribeRegression(RegressionErrors), "no Describe: the shared words")
}

// runTest runs rc with the simplest client the run drives: a split, the
// shadow interceptor at rate 0, and a sentinel with the Go canary
// strategy.
func runTest(ctx context.Context, t *testing.T, rc *Recipe, opts Options, sopts ...sentinel.Option) (*Result, error) {
	t.Helper()
	d, err := Start(rc, opts)
	require.NoError(t, err)
	defer d.Stop()
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer func() { assert.NoError(t, mp.Shutdown(context.Background())) }()
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	split := balancer.MustSplit(balancer.Weight{Version: rc.Baseline, Weight: balancer.TotalWeight}, balancer.Weight{Version: rc.Candidate})
	stop, err := metrics.Instrument(split)
	require.NoError(t, err)
	defer stop()
	sh, err := shadow.New(shadow.Config{Candidate: rc.Candidate, Metrics: metrics})
	require.NoError(t, err)
	defer func() { assert.NoError(t, sh.Close(context.Background())) }()
	conn, err := grpc.NewClient(d.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()))
	require.NoError(t, err)
	defer conn.Close()
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	require.NoError(t, err)
	s, err := sentinel.New(split, src, canary, append(d.SentinelOptions(), sopts...)...)
	require.NoError(t, err)
	defer s.Close()
	return d.Run(ctx, Client{Conn: conn, Split: split, Shadow: sh, Sentinel: s})
}

func TestAPausedRunSaysSoAndIsNoError(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "canary", Baseline: "stable", Candidate: "canary", Instances: 3}
	res := &Result{Phase: sentinel.PhasePaused, Elapsed: time.Minute,
		Ticks: []Tick{{N: 1, At: time.Second, Decision: sentinel.Event{Time: start.Add(time.Second)}}},
		Events: []sentinel.Event{
			{Time: start.Add(time.Second), Action: sentinel.ActionStart, Position: sentinel.Position{Phase: sentinel.PhaseProgressing}, Who: "sentinel"},
			{Time: start.Add(5 * time.Second), Action: sentinel.ActionPause, Position: sentinel.Position{Phase: sentinel.PhasePaused}, Who: "alice", Reason: "checking"},
		}}
	opts := Options{Regression: RegressionNone, Duration: 2 * time.Minute, Interval: time.Second}
	var out bytes.Buffer
	newView(&out, rc, opts).summary(res)
	assert.Contains(t, out.String(), "The rollout was paused by hand (by alice: checking) and was still paused when the run's -duration ran out after 1m0s")
	assert.NotContains(t, out.String(), "give it a longer -duration")
	assert.NoError(t, Outcome(res.Phase, res.Interrupted, res.Elapsed), "a paused run exits 0")

	res.Phase = sentinel.PhaseProgressing
	out.Reset()
	newView(&out, rc, opts).summary(res)
	assert.Contains(t, out.String(), "The run's -duration ran out after 1m0s, before the rollout finished (phase progressing); give it a longer -duration")
	assert.EqualError(t, Outcome(res.Phase, res.Interrupted, res.Elapsed),
		"ninelives: the rollout did not finish in 1m0s (phase progressing); give it a longer -duration", "the run's own time, not the flag's")
	assert.NoError(t, Outcome(sentinel.PhasePromoted, false, time.Minute))
	assert.NoError(t, Outcome(sentinel.PhaseRolledBack, true, time.Minute), "a rollout that finished is no error, interrupted or not")
	assert.Equal(t, "from the status page or the API", pausedBy(nil))
}

// TestAnInterruptedRunSaysSoAndIsAnError interrupts a paused rollout and one
// under way: neither is summarised as a run whose -duration ran out, and
// neither exits 0.
func TestAnInterruptedRunSaysSoAndIsAnError(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "canary", Baseline: "stable", Candidate: "canary", Instances: 3}
	res := &Result{Phase: sentinel.PhasePaused, Elapsed: 12 * time.Second, Interrupted: true,
		Ticks: []Tick{{N: 1, At: time.Second, Decision: sentinel.Event{Time: start.Add(time.Second)}}},
		Events: []sentinel.Event{
			{Time: start.Add(5 * time.Second), Action: sentinel.ActionPause, Position: sentinel.Position{Phase: sentinel.PhasePaused}, Who: "alice", Reason: "checking"},
		}}
	opts := Options{Regression: RegressionNone, Duration: 2 * time.Minute, Interval: time.Second}
	var out bytes.Buffer
	newView(&out, rc, opts).summary(res)
	assert.Contains(t, out.String(), "The run was interrupted after 12s while the rollout was paused by hand (by alice: checking)")
	assert.NotContains(t, out.String(), "-duration")
	assert.NotContains(t, out.String(), "2m0s")
	assert.EqualError(t, Outcome(res.Phase, res.Interrupted, res.Elapsed),
		"ninelives: the run was interrupted after 12s, before the rollout finished (phase paused)")

	res.Phase = sentinel.PhasePromoted
	out.Reset()
	newView(&out, rc, opts).summary(res)
	assert.Contains(t, out.String(), "The canary was promoted")
	assert.Contains(t, out.String(), "The run was interrupted after 12s, after the rollout's final decision.")
}

// TestCancellingTheRunsContextInterruptsIt cancels a virtual-clock run's
// context at its first decision, as Ctrl-C does.
func TestCancellingTheRunsContextInterruptsIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := &Recipe{
		Name: "test", Baseline: "stable", Candidate: "canary",
		CandidateFaults: func(r Regression) demoserver.Faults { return r.Faults() },
		OnEvent:         func(*demoserver.Fleet, sentinel.Event) { cancel() },
	}
	var out bytes.Buffer
	res, err := runTest(ctx, t, rc, Options{Regression: RegressionNone, Rate: 20, Duration: 2 * time.Minute,
		Interval: time.Second, Virtual: true, Seed: 1, Out: &out})
	require.NoError(t, err)
	require.Len(t, res.Ticks, 1, out.String())
	assert.True(t, res.Interrupted)
	assert.Equal(t, sentinel.PhaseProgressing, res.Phase)
	assert.Equal(t, time.Second, res.Elapsed, "one tick of the virtual clock")
	assert.Contains(t, out.String(), "The run was interrupted after 1s, before the rollout finished (phase progressing).")
	assert.NotContains(t, out.String(), "-duration")
	assert.NotContains(t, out.String(), "2m0s")
	assert.EqualError(t, Outcome(res.Phase, res.Interrupted, res.Elapsed),
		"ninelives: the run was interrupted after 1s, before the rollout finished (phase progressing)")

	// A run that ends by itself is not interrupted.
	res, err = runTest(context.Background(), t, rc, Options{Regression: RegressionNone, Rate: 20, Duration: 2 * time.Second,
		Interval: time.Second, Virtual: true, Seed: 1})
	require.NoError(t, err)
	assert.False(t, res.Interrupted)
	assert.Equal(t, 2*time.Second, res.Elapsed)
}

// TestLoadCallTimeout checks each call's deadline: set at the call's start
// to the load's timeout, so it lies between the timeout after the moment
// before the interval and the timeout after the moment after it.
func TestLoadCallTimeout(t *testing.T) {
	srv := demoserver.New("stable", "stable-1", demoserver.WithFaults(RegressionNone.Faults()))
	require.NoError(t, srv.Start("127.0.0.1:0"))
	defer srv.Stop()
	var mu sync.Mutex
	var deadlines []time.Time
	record := func(ctx context.Context) {
		d, ok := ctx.Deadline()
		assert.True(t, ok, "every call has a deadline")
		mu.Lock()
		deadlines = append(deadlines, d)
		mu.Unlock()
	}
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			record(ctx)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			record(ctx)
			return streamer(ctx, desc, cc, method, opts...)
		}))
	require.NoError(t, err)
	defer cc.Close()

	for _, tc := range []struct {
		name    string
		set     time.Duration
		timeout time.Duration
	}{{"default", 0, 2 * time.Second}, {"set", time.Minute, time.Minute}} {
		deadlines = nil
		l := NewLoad(cc, 20, 1)
		if tc.set > 0 {
			l.SetCallTimeout(tc.set)
		}
		before := time.Now()
		stats := l.Interval(context.Background(), time.Second, false)
		after := time.Now()
		require.Zero(t, stats.Failed, "%s: %v", tc.name, stats.Errors)
		require.Len(t, deadlines, 20, tc.name)
		for _, d := range deadlines {
			assert.False(t, d.Before(before.Add(tc.timeout)), "%s: deadline %v, want the timeout after the call's start", tc.name, d)
			assert.False(t, d.After(after.Add(tc.timeout)), "%s: deadline %v, want the timeout after the call's start", tc.name, d)
		}
	}
	_, err = Start(&Recipe{}, Options{Rate: 1, Duration: time.Second, Interval: time.Second, CallTimeout: -time.Second})
	assert.ErrorContains(t, err, "ninelives: call timeout -1s, want a positive duration")
}

// TestCallsCutShortByTheRunsEndAreNotFailures interrupts a load whose calls
// all hang: the calls the interrupt cuts short are neither served nor
// failed.
func TestCallsCutShortByTheRunsEndAreNotFailures(t *testing.T) {
	in := make(chan string, 8)
	srv := demoserver.New("stable", "stable-1", demoserver.WithFaults(demoserver.Faults{Hang: true}), demoserver.WithEntered(in))
	require.NoError(t, srv.Start("127.0.0.1:0"))
	defer srv.Stop()
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range 5 {
			<-in
		}
		cancel() // every call is in the server's handler
	}()
	stats := NewLoad(cc, 5, 1).Interval(ctx, time.Second, false)
	assert.Zero(t, stats.Failed, "%v", stats.Errors)
	assert.Zero(t, stats.Calls)
}

// The report draws weight changes as the instant jumps they are, at the
// decision's time, and each decision's row names the test that decided
// it.
func TestReportDrawsWeightStepsAndTheDecidingTest(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := &Recipe{Name: "bluegreen", Baseline: "blue", Candidate: "green"}
	weights := func(green int) []balancer.Weight {
		return []balancer.Weight{{Version: "blue", Weight: 10000 - green}, {Version: "green", Weight: green}}
	}
	event := func(at int, a sentinel.Action, who string, green int, v *judge.Verdict) sentinel.Event {
		e := sentinel.Event{Time: start.Add(time.Duration(at) * time.Second), Action: a, Who: who, Verdict: v}
		e.Weights = weights(green)
		return e
	}
	res := &Result{Recipe: "bluegreen", Phase: sentinel.PhaseRolledBack, Elapsed: 8 * time.Second, Events: []sentinel.Event{
		event(2, sentinel.ActionSetWeights, "sentinel", 10000, &judge.Verdict{Outcome: judge.Pass, Test: "shadow", Reason: "0 of 200 comparisons mismatched"}),
		event(4, sentinel.ActionPause, "alice", 10000, &judge.Verdict{Reason: "every test is inconclusive"}),
		event(5, sentinel.ActionRollback, "sentinel", 0, &judge.Verdict{Outcome: judge.Fail, Test: "errors", Reason: "errors 20% (60/300) against up to 1%"}),
		event(6, sentinel.ActionAbort, "sentinel", 0, &judge.Verdict{Outcome: judge.Pass, Reason: "every test passes"}),
	}}
	green := 0
	for i := 1; i <= 8; i++ {
		res.Ticks = append(res.Ticks, Tick{N: i, At: time.Duration(i) * time.Second,
			Decision: sentinel.Event{Time: start.Add(time.Duration(i) * time.Second)},
			Summary:  sentinel.TickSummary{Weights: map[string]int{"green": green}}})
		switch i {
		case 2:
			green = 10000
		case 5:
			green = 0
		}
	}
	data := reportOf(rc, res)
	lines := data.Charts[0].Series[0].Lines
	require.Len(t, lines, 1)
	var jumps []string
	pts := strings.Split(lines[0], " ")
	for i := 1; i < len(pts); i++ {
		a, b := strings.Split(pts[i-1], ","), strings.Split(pts[i], ",")
		switch {
		case a[0] == b[0] && a[1] != b[1]:
			jumps = append(jumps, a[0])
		case a[0] != b[0] && a[1] != b[1]:
			t.Errorf("a slope from %s to %s", pts[i-1], pts[i])
		}
	}
	x := func(s float64) string { return fmt.Sprintf("%.1f", padL+(chartW-padL-10)*s/8) }
	assert.Equal(t, []string{x(2), x(5)}, jumps, "the weight jumps at the cut-over and at the rollback")
	assert.Equal(t, x(8), strings.Split(pts[len(pts)-1], ",")[0], "and holds to the run's end")

	rows := map[string][2]string{}
	for _, e := range data.Events {
		rows[e.Action] = [2]string{e.DecidedBy, e.Evidence}
	}
	assert.Equal(t, [2]string{"shadow", "pass: 0 of 200 comparisons mismatched"}, rows["set_weights"])
	assert.Equal(t, [2]string{"by hand", ""}, rows["pause"])
	assert.Equal(t, [2]string{"errors", "fail: errors 20% (60/300) against up to 1%"}, rows["rollback"], "the test that decided, not the judge's pass")
	assert.Equal(t, [2]string{"the judge", "pass: every test passes"}, rows["abort"])
}
