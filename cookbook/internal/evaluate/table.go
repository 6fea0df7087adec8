package evaluate

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row sums up a scenario's runs with the hog off or on.
type Row struct {
	Scenario *Scenario
	Hog      bool
	Runs     int
	// Promoted, RolledBack and Held count the runs by outcome; Failed the
	// runs the harness could not make.
	Promoted, RolledBack, Held, Failed int
	Why                                map[string]int // rollbacks by test
	// Median and P90 are quantiles of the candidate calls to the decision
	// the scenario wants, a run without it counting as +Inf; Seconds is the
	// median time to it.
	Median, P90, Seconds float64
	Calls, FailedCalls   int64
	FailedAfterKill      int64
	Kept                 float64 // the lowest share of its rate a run's load kept
	// Stalled counts the runs with user calls past their deadline, TimedOut
	// those calls.
	Stalled        int
	TimedOut       int64
	MovedWhileDown int
	// FixAlerted counts the runs with the alert naming the fix within a
	// minute; SlowestFix is the latest such alert.
	FixAlerted int
	SlowestFix time.Duration
	// Slowest is the longest time to a promotion.
	Slowest time.Duration
}

// Summarize makes the rows of results, in the order of scs, the hog off
// before on; cells without a run are left out.
func Summarize(scs []*Scenario, results []Result) []Row {
	var rows []Row
	for _, sc := range scs {
		for _, hog := range []bool{false, true} {
			var rs []Result
			for _, r := range results {
				if r.Scenario == sc.Name && r.Hog == hog {
					rs = append(rs, r)
				}
			}
			if len(rs) > 0 {
				rows = append(rows, summarize(sc, hog, rs))
			}
		}
	}
	return rows
}

func summarize(sc *Scenario, hog bool, rs []Result) Row {
	row := Row{Scenario: sc, Hog: hog, Runs: len(rs), Why: map[string]int{}, Kept: math.Inf(1)}
	var calls, secs []float64
	for _, r := range rs {
		row.count(r)
		c, s := math.Inf(1), math.Inf(1)
		if r.decided(sc.Harmful) {
			c, s = float64(r.CandidateCalls), r.Decided.Seconds()
		}
		calls, secs = append(calls, c), append(secs, s)
	}
	row.Median, row.P90, row.Seconds = quantile(calls, 0.5), quantile(calls, 0.9), quantile(secs, 0.5)
	return row
}

// count adds one run to the row's counts.
func (row *Row) count(r Result) {
	switch r.Outcome {
	case Promoted:
		row.Promoted++
		row.Slowest = max(row.Slowest, r.Decided)
	case RolledBack, Aborted:
		row.RolledBack++
		row.Why[r.Why]++
	case Held:
		row.Held++
	default:
		row.Failed++
	}
	row.Calls += r.Calls
	row.FailedCalls += r.FailedCalls
	row.FailedAfterKill += r.FailedAfterKill
	if r.Outcome != Failed {
		row.Kept = min(row.Kept, r.Kept)
	}
	if r.TimedOut > 0 {
		row.Stalled++
		row.TimedOut += r.TimedOut
	}
	if r.MovedWhileDown {
		row.MovedWhileDown++
	}
	if r.FixAlert > 0 && r.FixAlert <= time.Minute {
		row.FixAlerted++
		row.SlowestFix = max(row.SlowestFix, r.FixAlert)
	}
}

// quantile is the q-quantile of xs (nearest rank, +Inf kept); NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	return s[int(math.Ceil(q*float64(len(s))))-1]
}

// header is the table's columns.
var header = []string{"scenario", "hog", "runs", "promoted", "rolled back", "why", "held", "harness failed",
	"median calls to decision", "p90 calls to decision", "median s to decision", "user calls", "failed user calls", "load kept (worst run)", "goal"}

// cells are the row's columns, all rows given for the goals that compare
// rows.
func (row Row) cells(all []Row) []string {
	hog := "off"
	if row.Hog {
		hog = "on"
	}
	return []string{row.Scenario.Name, hog, strconv.Itoa(row.Runs), strconv.Itoa(row.Promoted), strconv.Itoa(row.RolledBack),
		row.why(), strconv.Itoa(row.Held), strconv.Itoa(row.Failed),
		number(row.Median), number(row.P90), seconds(row.Seconds),
		strconv.FormatInt(row.Calls, 10), failedCalls(row.FailedCalls, row.Calls), percent(row.Kept), row.goal(all)}
}

// why lists the rollbacks by test, most first.
func (row Row) why() string {
	keys := slices.SortedFunc(maps.Keys(row.Why), func(a, b string) int {
		if d := row.Why[b] - row.Why[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, row.Why[k])
	}
	return strings.Join(parts, ", ")
}

func number(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case math.IsInf(x, 1):
		return "∞"
	}
	return strconv.FormatFloat(x, 'f', 0, 64)
}

func seconds(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return number(x)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func percent(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	return strconv.FormatFloat(100*x, 'f', 0, 64) + " %"
}

func failedCalls(failed, calls int64) string {
	if calls == 0 {
		return strconv.FormatInt(failed, 10)
	}
	return fmt.Sprintf("%d (%.3f %%)", failed, 100*float64(failed)/float64(calls))
}

// WriteMarkdown writes the rows as a markdown table, each scenario's
// settings listed under it.
func WriteMarkdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	b.WriteString(strings.Repeat("---|", len(header)) + "\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row.cells(rows), " | ") + " |\n")
	}
	b.WriteString("\n")
	seen := map[string]bool{}
	for _, row := range rows {
		if sc := row.Scenario; !seen[sc.Name] {
			seen[sc.Name] = true
			fmt.Fprintf(&b, "- `%s`: %s\n", sc.Name, sc.Title)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes the rows as CSV, with the header and the scenarios'
// titles in a last column.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(append(slices.Clone(header), "settings"))
	for _, row := range rows {
		_ = cw.Write(append(row.cells(rows), row.Scenario.Title))
	}
	cw.Flush()
	return cw.Error()
}
