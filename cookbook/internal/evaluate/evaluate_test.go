package evaluate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
	"github.com/ninelives-go/ninelives/sentinel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBadFlagsNameTheFlag(t *testing.T) {
	for args, want := range map[string]string{
		"-parallel 0":                  "ninelives: evaluate: bad flag: -parallel = 0: want at least 1",
		"-rate-budget 0":               "-rate-budget = 0: want at least 1 call a second",
		"-hog-rate-budget -5":          "-hog-rate-budget = -5: want at least 1 call a second",
		"-runs -1":                     "-runs = -1: want 0 (each scenario's own) or more",
		"-hog sometimes":               `-hog = "sometimes": want off, on or both`,
		"-only (":                      `-only = "(": error parsing regexp`,
		"-interval -1s":                `-interval = -1s: want a positive duration, or 0 for the sentinel's default`,
		"-rescue -only ^aa-bluegreen$": "-rescue = true: the harness wires the rescue interceptor for canaries, and aa-bluegreen is a blue/green",
	} {
		_, err := ParseFlags(strings.Fields(args), io.Discard)
		require.ErrorIs(t, err, ErrBadFlag, args)
		assert.ErrorContains(t, err, want, args)
	}
}

// The quick run makes a few runs of every scenario, each in both hog
// states, and -only, -runs and -hog narrow it.
func TestJobsFollowTheFlags(t *testing.T) {
	c, err := ParseFlags([]string{"-quick"}, io.Discard)
	require.NoError(t, err)
	jobs := c.Jobs()
	assert.Len(t, c.Scenarios(), len(Scenarios(true)))
	assert.Equal(t, len(jobs[0]), len(jobs[1]), "as many runs with the hog off as on")
	for _, j := range jobs[1] {
		assert.True(t, j.Hog)
		assert.GreaterOrEqual(t, j.Rate, j.Scenario.RateMin)
		assert.LessOrEqual(t, j.Rate, j.Scenario.RateMax)
	}
	c, err = ParseFlags([]string{"-only", "^aa-", "-runs", "3", "-hog", "on"}, io.Discard)
	require.NoError(t, err)
	jobs = c.Jobs()
	assert.Empty(t, jobs[0])
	assert.Len(t, jobs[1], 6, "two scenarios, three runs each")
	assert.Equal(t, "evaluate-out/full.md", c.Markdown)
	assert.Equal(t, "evaluate-out/full.csv", c.CSV)
}

func TestLongLightRunsStartFirst(t *testing.T) {
	long := &Scenario{Name: "long", Limit: 3 * time.Minute}
	mid := &Scenario{Name: "mid", Limit: 2 * time.Minute}
	short := &Scenario{Name: "short", Limit: time.Minute}
	lot := []Job{{Scenario: short, Rate: 100}, {Scenario: mid, Rate: 1000, Seed: 1}, {Scenario: mid, Rate: 300, Seed: 2},
		{Scenario: long, Rate: 1000}, {Scenario: mid, Rate: 300, Seed: 3}}
	var got []string
	for _, j := range order(lot) {
		got = append(got, fmt.Sprintf("%s %d %d", j.Scenario.Name, j.Rate, j.Seed))
	}
	assert.Equal(t, []string{"long 1000 0", "mid 300 2", "mid 300 3", "mid 1000 1", "short 100 0"}, got,
		"the longest first; of runs as long the lighter first, in their order")
	assert.Equal(t, "short", lot[0].Scenario.Name, "the lot itself is left as it was")
}

// The full run's counts are the ones the goals ask for.
func TestFullRunCountsMeetTheGoals(t *testing.T) {
	counts := map[string]Counts{}
	for _, sc := range Scenarios(false) {
		counts[sc.Name] = sc.Runs
		assert.NotNil(t, sc.Goal, sc.Name)
	}
	assert.GreaterOrEqual(t, counts["aa-canary"].On, 100)
	assert.GreaterOrEqual(t, counts["aa-bluegreen"].On, 50)
	for _, name := range []string{"errors-10x", "latency-1.5x", "tail-only", "late-break", "killed-restored", "crash-loop", "one-lost", "shared-outage", "readme-unmarked"} {
		assert.Positive(t, counts[name].On, name)
	}
}

// The table counts outcomes, takes quantiles of the calls to the wanted
// decision (a run without it counting as never), and checks each goal.
func TestTableSummarizesRunsAndChecksGoals(t *testing.T) {
	aa, bad := aaBlueGreen(), errors10x()
	results := []Result{
		{Scenario: aa.Name, Outcome: Promoted, CandidateCalls: 1000, Calls: 5000},
		{Scenario: aa.Name, Outcome: RolledBack, Why: "latency/p99", Calls: 5000, FailedCalls: 5},
		{Scenario: bad.Name, Outcome: RolledBack, Why: "errors", CandidateCalls: 100, Decided: 2 * time.Second},
		{Scenario: bad.Name, Outcome: RolledBack, Why: "errors", CandidateCalls: 200, Decided: 3 * time.Second},
		{Scenario: bad.Name, Hog: true, Outcome: Promoted, CandidateCalls: 900},
	}
	rows := Summarize([]*Scenario{aa, bad}, results)
	require.Len(t, rows, 3)
	assert.Equal(t, 1, rows[0].Promoted)
	assert.Equal(t, 1, rows[0].RolledBack)
	assert.Equal(t, map[string]int{"latency/p99": 1}, rows[0].Why)
	assert.Equal(t, 1000.0, rows[0].Median)
	assert.True(t, math.IsInf(rows[0].P90, 1), "a false rollback never reached the promotion")
	assert.Contains(t, aa.Goal(rows[0], rows), "MISSED: ≤ 1 % rolled back (1 of 2)")
	assert.Equal(t, 100.0, rows[1].Median)
	assert.Equal(t, 200.0, rows[1].P90)
	assert.Contains(t, bad.Goal(rows[1], rows), "met: ≥ 100 % rolled back (2 of 2), median ≤ 150 calls (100)")
	assert.Contains(t, bad.Goal(rows[2], rows), "MISSED")

	var md, csv bytes.Buffer
	require.NoError(t, WriteMarkdown(&md, rows))
	require.NoError(t, WriteCSV(&csv, rows))
	assert.Contains(t, md.String(), "| aa-bluegreen | off | 2 | 1 | 1 | latency/p99 1 | 0 | 0 | 1000 | ∞ |")
	assert.Contains(t, md.String(), "- `errors-10x`: errors 0.5 % → 5 %")
	assert.Contains(t, csv.String(), "errors-10x,on,1,1,0,,0,0,∞,∞,")
}

// A row whose worst run kept less than 90 % of its rate measured an
// overload: a goal missed through it says so, and how to fix it, instead
// of missed; the hog's lot runs within its own rate budget.
func TestAnOverloadIsNotAMeasure(t *testing.T) {
	aa := aaCanary(false)
	rows := Summarize([]*Scenario{aa}, []Result{
		{Scenario: aa.Name, Hog: true, Outcome: RolledBack, Why: "shadow/errors", Kept: 0.31},
		{Scenario: aa.Name, Hog: true, Outcome: Promoted, Kept: 1},
	})
	require.Len(t, rows, 1)
	assert.Contains(t, rows[0].goal(rows), "NOT MEASURED: the machine did not carry the load (a run kept 31 % of its rate, want ≥ 90 %)")
	rows[0].Kept = 0.95
	assert.Contains(t, rows[0].goal(rows), "MISSED: ≤ 1 % rolled back (1 of 2)")

	// Calls past their deadline: the machine stalled for seconds, which
	// the load's kept share does not show (it catches up after).
	rows = Summarize([]*Scenario{aa}, []Result{
		{Scenario: aa.Name, Hog: true, Outcome: RolledBack, Why: "errors", Kept: 1, FailedCalls: 45, TimedOut: 40},
		{Scenario: aa.Name, Hog: true, Outcome: Promoted, Kept: 1, FailedCalls: 2, TimedOut: 2},
		{Scenario: aa.Name, Hog: true, Outcome: Promoted, Kept: 1},
	})
	assert.Equal(t, "NOT MEASURED: the machine stalled (2 of 3 runs had user calls past their 2s deadline, 42 calls): run fewer at once (-parallel, -rate-budget, -hog-rate-budget) on a machine nothing else loads", rows[0].goal(rows))

	c, err := ParseFlags([]string{"-rate-budget", "3000", "-hog-rate-budget", "1200"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, Limits{Runs: 28, Rate: 1200, HogRate: 1200}, c.Limits.underHog())
}

// A healthy candidate's goal met through an overload is met, and says
// through what; a regression's goal met through one is not measured (the
// candidate's timeouts are evidence against it).
func TestAHealthyGoalMetThroughAnOverloadIsMet(t *testing.T) {
	aa, e10 := aaCanary(false), errors10x()
	rows := Summarize([]*Scenario{aa, e10}, []Result{
		{Scenario: aa.Name, Hog: true, Outcome: Promoted, Kept: 1, FailedCalls: 40, TimedOut: 40},
		{Scenario: aa.Name, Hog: true, Outcome: Promoted, Kept: 1},
		{Scenario: e10.Name, Hog: true, Outcome: RolledBack, Why: "errors", CandidateCalls: 90, Kept: 1, FailedCalls: 9, TimedOut: 3},
	})
	require.Len(t, rows, 2)
	assert.Equal(t, "met through an overload: ≤ 1 % rolled back (0 of 2); the machine stalled (1 of 2 runs had user calls past their 2s deadline, 40 calls)", rows[0].goal(rows))
	assert.Equal(t, "NOT MEASURED: the machine stalled (1 of 1 runs had user calls past their 2s deadline, 3 calls): run fewer at once (-parallel, -rate-budget, -hog-rate-budget) on a machine nothing else loads", rows[1].goal(rows))
	rows[0].Kept, rows[0].Stalled = 0.5, 0
	assert.Equal(t, "met through an overload: ≤ 1 % rolled back (0 of 2); the machine did not carry the load (a run kept 50 % of its rate, want ≥ 90 %)", rows[0].goal(rows))

	// Undecided runs, or a rollback before the scenario's fault, could
	// have met the goal by the overload's doing: not measured. A README
	// wiring's runs hold by design.
	killed, readme := killedRestored(false), readmeUnmarked()
	stalled := Result{Hog: true, Kept: 1, FailedCalls: 3, TimedOut: 3}
	for _, tc := range []struct {
		sc   *Scenario
		out  Outcome
		want string
	}{
		{aa, Held, "NOT MEASURED"},
		{aa, Failed, "NOT MEASURED"},
		{killed, RolledBack, "NOT MEASURED"},
		{killed, Promoted, "met through an overload"},
		{readme, Held, "met through an overload"},
	} {
		r := stalled
		r.Scenario, r.Outcome = tc.sc.Name, tc.out
		ok := r
		ok.Outcome, ok.FailedCalls, ok.TimedOut = Promoted, 0, 0
		if tc.sc == readme {
			ok.Outcome = Held
			r.FixAlert, ok.FixAlert = 30*time.Second, 30*time.Second
		}
		rows := Summarize([]*Scenario{tc.sc}, []Result{r, ok})
		require.Len(t, rows, 1)
		assert.True(t, strings.HasPrefix(rows[0].goal(rows), tc.want), "%s %s: %s", tc.sc.Name, tc.out, rows[0].goal(rows))
	}
}

// Wire closes what it opened when it fails, and does not panic.
func TestWireClosesWhatItOpenedOnError(t *testing.T) {
	_, err := Wire(errors10x(), "passthrough:///127.0.0.1:1", false, sentinel.WithInterval(-time.Second))
	require.Error(t, err)
}

// Calls past their deadline where the scenario makes them (a hanging
// candidate) are its measure, not a stalled machine; a shared hang in an
// event counts too, a kill's faults do not.
func TestTimeoutsOfAHangAreMeasured(t *testing.T) {
	sc := errors10x()
	sc.Candidate = with(healthy, func(f *demoserver.Faults) { f.Hang = true })
	rows := Summarize([]*Scenario{sc}, []Result{{Scenario: sc.Name, Outcome: RolledBack, Why: "latency/centre", Kept: 1, FailedCalls: 30, TimedOut: 30, CandidateCalls: 100}})
	assert.Equal(t, "met: ≥ 100 % rolled back (1 of 1), median ≤ 150 calls (100)", rows[0].goal(rows))

	for _, tc := range []struct {
		name string
		sc   *Scenario
		want bool
	}{
		{"healthy", aaCanary(false), false},
		{"tail below the deadline", tailOnly(), false},
		{"kill and restore", killedRestored(false), false},
		{"hanging candidate", sc, true},
		{"slow tail past the deadline", &Scenario{Candidate: demoserver.Faults{TailRate: 0.01, Latency: time.Second, TailLatency: time.Second}}, true},
		{"hang in an event", &Scenario{Events: []Event{{Do: SetFaults, Role: Baseline, Faults: demoserver.Faults{Hang: true}}}}, true},
	} {
		assert.Equal(t, tc.want, tc.sc.mayTimeOut(), tc.name)
	}
}

// One short run on real servers: a candidate failing half its calls is
// rolled back by the errors test, and the harness counts the run.
func TestAShortRunOnRealServers(t *testing.T) {
	bin, err := demoproc.Build(t.TempDir())
	require.NoError(t, err)
	sc := errors10x()
	sc.Candidate.ErrorRate = 0.5
	sc.RateMin, sc.RateMax, sc.Limit = 200, 200, time.Minute
	r := Run(context.Background(), &Env{Demofleet: bin}, Job{Scenario: sc, Seed: 1, Rate: 200, Trace: true})
	require.Empty(t, r.Err)
	assert.Equal(t, RolledBack, r.Outcome, r.Trace)
	assert.Equal(t, "errors", r.Why, r.Reason)
	assert.Positive(t, r.CandidateCalls)
	assert.Positive(t, r.FailedCalls, "the candidate's failures reach the users")
	assert.Regexp(t, `^Unavailable [0-9]+ \(first: demoserver: injected failure`, r.Failures, "what the failures were")
	assert.NotEmpty(t, r.Trace)
}

// With -rescue the candidate's failures are resent to the baseline: the
// judge still sees them and rolls the candidate back, and only the calls
// of PutItem, a tenth of the demo's mix and not safe to repeat, reach the
// users (the baseline fails none).
func TestRescueKeepsTheCandidatesFailuresFromTheUsers(t *testing.T) {
	bin, err := demoproc.Build(t.TempDir())
	require.NoError(t, err)
	sc := errors10x()
	sc.Baseline.ErrorRate, sc.Candidate.ErrorRate = 0, 1
	sc.RateMin, sc.RateMax, sc.Limit = 200, 200, time.Minute
	r := Run(context.Background(), &Env{Demofleet: bin, Rescue: true}, Job{Scenario: sc, Seed: 1, Rate: 200, Trace: true})
	require.Empty(t, r.Err)
	assert.Equal(t, RolledBack, r.Outcome, r.Trace)
	assert.Equal(t, "errors", r.Why, r.Reason)
	assert.Positive(t, r.Rescued, "nothing was rescued")
	assert.Less(t, 3*r.FailedCalls, r.Rescued, "more failures reached the users than a tenth of the mix explains: %s", r.Failures)
	if r.FailedCalls > 0 {
		assert.Regexp(t, `^Unavailable [0-9]+ \(first: demoserver: injected failure in canary`, r.Failures)
	}
}

// A run's failures are told by status code, the most frequent first, each
// with its first message.
func TestFailuresAreToldByCode(t *testing.T) {
	var tl tally
	assert.Empty(t, tl.why())
	tl.fail(time.Now(), status.Error(codes.DeadlineExceeded, "context deadline exceeded"))
	tl.fail(time.Now(), status.Error(codes.Unavailable, "connection refused"))
	tl.fail(time.Now(), status.Error(codes.Unavailable, "stopping"))
	tl.fail(time.Now(), errors.New("not a status"))
	assert.Equal(t, "Unavailable 2 (first: connection refused); Unknown 1 (first: not a status); DeadlineExceeded 1 (first: context deadline exceeded)", tl.why())
	assert.EqualValues(t, 4, tl.failed.Load())
	assert.EqualValues(t, 1, tl.timedOut())
}

// With the candidate killed several times (a crash loop), the calls that
// fail within the grace of each kill are the kill's; the others, and a
// step moved while any of the kills had it down, count against the run.
func TestEveryKillHasItsGraceAndItsDownTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var tl tally
	for _, s := range []float64{1, 10, 10.5, 11, 12, 20, 20.2, 25, 30.9} {
		tl.failures = append(tl.failures, failure{at(s), at(s)})
	}
	// In flight at the kill of 20 s, its caller told 3 s later (a starved
	// machine): the kill's, not a late failure.
	tl.failures = append(tl.failures, failure{at(19.9), at(23)})
	kills := []time.Time{at(10), at(20), at(30)}
	// Before the first kill: not the kills' (1 s, 19.9 s); in a grace: 10, 10.5, 11, 20, 20.2, 30.9.
	assert.EqualValues(t, 2, tl.failedAfterKills(kills, time.Second), "12 s and 25 s")
	assert.EqualValues(t, 0, tl.failedAfterKills(nil, time.Second), "no kill")
	assert.EqualValues(t, 6, tl.failedAfterKills(kills, 0), "no grace: all but 1 s, 19.9 s and the kills' own instants")
	assert.Equal(t, "+0.00 +0.50 +1.00 +2.00 +0.00 +0.20 +5.00 +0.90 -0.10..+3.00", tl.sinceKills(kills))

	w := &watch{downs: []span{{from: at(10), to: at(13)}, {from: at(20), to: at(23)}, {from: at(30)}}}
	move := func(s float64, a sentinel.Action) []sentinel.Event { return []sentinel.Event{{Time: at(s), Action: a}} }
	end := at(40)
	assert.False(t, w.movedWhileDown(move(15, sentinel.ActionAdvance), end), "between two kills")
	assert.True(t, w.movedWhileDown(move(21, sentinel.ActionAdvance), end), "in the second down time")
	assert.True(t, w.movedWhileDown(move(35, sentinel.ActionPromote), end), "after the last kill, never ready again")
	assert.False(t, w.movedWhileDown(move(21, sentinel.ActionHold), end), "a hold is no move")
	assert.Equal(t, kills, w.kills())
}

// No two runs hold one fixed port: every port of the range is drawn once
// before any is drawn twice, and a port let go can be drawn again.
func TestRunsNeverShareAFixedPort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	var held [][]int
	t.Cleanup(func() {
		for _, ports := range held {
			releasePorts(ports)
		}
	})
	for range lowPorts / instances {
		ports := holdPorts(rng, instances)
		for _, p := range ports {
			require.False(t, seen[p], "port %d drawn twice", p)
			require.True(t, p >= lowPortsFrom && p < lowPortsFrom+lowPorts, "port %d out of range", p)
			seen[p] = true
		}
		held = append(held, ports)
	}
	assert.Len(t, seen, lowPorts)
	releasePorts(held[7])
	again := holdPorts(rng, instances)
	assert.ElementsMatch(t, held[7], again, "the only ports free")
	for _, ports := range append(held, again) {
		releasePorts(ports)
	}
	assert.Empty(t, heldPorts.m)
}

// A run whose candidate is killed holds its fixed ports from its start to
// its stop, then lets them go.
func TestAKilledCandidatesServersHoldTheirPortsToTheEnd(t *testing.T) {
	bin, err := demoproc.Build(t.TempDir())
	require.NoError(t, err)
	srv, err := startServers(bin, [2]string{"stable", "canary"}, [2]demoserver.Faults{healthy, healthy}, 7, true)
	require.NoError(t, err)
	require.Len(t, srv.ports, instances)
	for i, p := range srv.ports {
		assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", p), srv.specs[Candidate].Addrs[i])
	}
	heldPorts.Lock()
	held := len(heldPorts.m)
	heldPorts.Unlock()
	assert.Equal(t, instances, held)
	require.NoError(t, srv.do(Event{Do: Kill, Role: Candidate}))
	heldPorts.Lock()
	assert.Len(t, heldPorts.m, instances, "held while it is down")
	heldPorts.Unlock()
	require.NoError(t, srv.do(Event{Do: Restore, Role: Candidate, Faults: healthy}))
	srv.stop()
	heldPorts.Lock()
	assert.Empty(t, heldPorts.m, "let go at the end")
	heldPorts.Unlock()
}

// A kill closes the down span a restore left open when the candidate was
// not seen ready before it: a later move is not one while down.
func TestAKillClosesTheSpanLeftOpen(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	w := &watch{}
	w.mark(Event{Do: Kill, Role: Candidate}, at(10))
	w.mark(Event{Do: Restore, Role: Candidate}, at(13))
	w.mark(Event{Do: Kill, Role: Candidate}, at(18))
	w.mark(Event{Do: Restore, Role: Candidate}, at(21))
	w.downs[1].to = at(23) // seen ready
	assert.Equal(t, []span{{at(10), at(18)}, {at(18), at(23)}}, w.downs)
	assert.False(t, w.movedWhileDown([]sentinel.Event{{Time: at(40), Action: sentinel.ActionAdvance}}, at(60)))
}
