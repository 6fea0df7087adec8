package evaluate

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is a harness run: its settings, the machine, and what it found.
type Report struct {
	Command    string
	Limits     Limits
	Start      time.Time
	Elapsed    time.Duration
	LoadBefore string // the load average before and after, as uptime says it
	LoadAfter  string
	Rows       []Row
	Results    []Result
}

// LoadAverage is the machine's load average over 1, 5 and 15 minutes, as
// uptime prints it ("" where the system does not say).
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// WriteMarkdownReport writes the report: how it was made, the table, the
// scenarios' settings and what the runs share.
func WriteMarkdownReport(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# ninelives: verdicts on real servers\n\n")
	fmt.Fprintf(&b, "`%s`, %s, %v; %d runs, up to %d at a time, their rates summing to at most %d calls/s (%d beside the hog).\n",
		r.Command, r.Start.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), len(r.Results), r.Limits.Runs, r.Limits.Rate, r.Limits.HogRate)
	fmt.Fprintf(&b, "Machine: %s/%s, %d cores, %s; load average (1, 5, 15 min) %s before, %s after.\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), r.LoadBefore, r.LoadAfter)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := WriteMarkdown(w, r.Rows); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n"+method)
	return err
}

// method says what every run shares.
const method = `Each run: the baseline's and the candidate's three demo servers each in a
demofleet process of their own on loopback; the README's client stack
(target, WithSplit with 1,000 sticky users, the telemetry Source, the shadow
interceptor, the sentinel with the default judge and the default canary or
blue/green strategy; with -rescue in the command above, the rescue
interceptor after the shadow interceptor) in the harness's process, ticking
every second (the default; -interval in the command above says otherwise)
on the wall clock; an open load of the demo's call mix (the readme scenario:
health checks) at the run's rate, 2 s of it before the sentinel starts.
Time is compressed only in the steps' minimum durations (a user's default
is 1 min) and blue/green's grace period and window, given in each
scenario's settings; every count of calls is the default. "hog on": busy
loops on every core in a process of their own for the whole lot of hog-on
runs. Runs in parallel share the CPU too: that is part of the machine's
noise. Calls to the decision: the candidate's primary calls, as the
sentinel counted them, from the start (from the break) to the decision the
scenario wants (rollback for a regression, promotion otherwise); a run that
never made it counts as ∞.
`

// WriteRunsCSV writes every run as a CSV line.
func WriteRunsCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"scenario", "hog", "seed", "calls/s", "outcome", "why", "candidate calls", "seconds to decision",
		"user calls", "failed user calls", "failures", "rescued", "load kept", "moved while down", "fix alert s", "reason", "error"})
	for _, r := range results {
		fix := ""
		if r.FixAlert > 0 {
			fix = seconds(r.FixAlert.Seconds())
		}
		_ = cw.Write([]string{r.Scenario, strconv.FormatBool(r.Hog), strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Rate),
			string(r.Outcome), r.Why, strconv.FormatInt(r.CandidateCalls, 10), seconds(r.Decided.Seconds()),
			strconv.FormatInt(r.Calls, 10), strconv.FormatInt(r.FailedCalls, 10), r.Failures, strconv.FormatInt(r.Rescued, 10), percent(r.Kept), strconv.FormatBool(r.MovedWhileDown), fix, r.Reason, r.Err})
	}
	cw.Flush()
	return cw.Error()
}
