package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Summary condenses one policy's outcomes in one scenario.
type Summary struct {
	Runs      int
	Rollbacks int
	// Median and P90 are quantiles of the candidate calls served before
	// rollback over all runs (since the break, in a scenario with one), a
	// run without rollback counting as +Inf.
	Median, P90 float64
	// Why counts the rollbacks by their reason (Outcome.Why).
	Why map[string]int
	// InIncident counts the rollbacks made during one of the scenario's
	// incidents or in the 10 s after it (see SummarizeScenario).
	InIncident int
	// BeforeBreak counts, in a scenario with a break, the rollbacks made
	// before it: false ones, left out of Median and P90.
	BeforeBreak int
}

// SummarizeScenario is Summarize, and also counts the rollbacks made during
// the scenario's incidents or in the 10 s after each. In a scenario with a
// break, calls count from the break, and a rollback before it is counted
// apart (BeforeBreak) as no detection.
func SummarizeScenario(sc Scenario, outcomes []Outcome) Summary {
	var early int
	if sc.BreakAt > 0 {
		since := make([]Outcome, len(outcomes))
		for i, o := range outcomes {
			since[i], since[i].CandidateCalls = o, o.CallsSinceBreak
			if o.RolledBack && o.Second <= sc.BreakAt {
				since[i].RolledBack = false
				early++
			}
		}
		outcomes = since
	}
	s := Summarize(outcomes)
	s.BeforeBreak = early
	for _, o := range outcomes {
		for _, in := range sc.Incidents {
			if o.RolledBack && o.Second >= in.From && o.Second <= in.To+10 {
				s.InIncident++
				break
			}
		}
	}
	return s
}

// Summarize condenses outcomes.
func Summarize(outcomes []Outcome) Summary {
	s := Summary{Runs: len(outcomes)}
	calls := make([]float64, len(outcomes))
	for i, o := range outcomes {
		calls[i] = math.Inf(1)
		if o.RolledBack {
			s.Rollbacks++
			calls[i] = float64(o.CandidateCalls)
			if o.Why != "" {
				if s.Why == nil {
					s.Why = map[string]int{}
				}
				s.Why[o.Why]++
			}
		}
	}
	slices.Sort(calls)
	s.Median, s.P90 = quantile(calls, 0.5), quantile(calls, 0.9)
	return s
}

// quantile returns the q-quantile of sorted values, the lower of the two
// middle values when it falls between them (so +Inf only when at least
// that share of the runs did not roll back).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// Row is one scenario's line of the table.
type Row struct {
	Scenario Scenario
	Judge    Summary
	Fixed    Summary
}

// WriteTable writes rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) error {
	if _, err := fmt.Fprintln(w, "| scenario | runs | judge: rollbacks | judge: median / p90 candidate calls to rollback | judge: failing test | fixed threshold: rollbacks | fixed threshold: median / p90 candidate calls to rollback |"); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|---:|"); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", r.Scenario.Name, r.Judge.Runs,
			rollbacks(r.Scenario, r.Judge), calls(r.Judge), why(r.Judge.Why), rollbacks(r.Scenario, r.Fixed), calls(r.Fixed)); err != nil {
			return err
		}
	}
	return nil
}

// why lists the reasons, the most frequent first: "latency p99 1990,
// errors 10"; "–" when there is none.
func why(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func rollbacks(sc Scenario, s Summary) string {
	kind := "false"
	if sc.Harmful {
		kind = "correct"
	}
	out := fmt.Sprintf("%d (%.1f %%) %s", s.Rollbacks, 100*float64(s.Rollbacks)/float64(s.Runs), kind)
	if sc.BreakAt > 0 {
		return out + fmt.Sprintf(", %d false before the break", s.BeforeBreak)
	}
	if len(sc.Incidents) > 0 {
		out += fmt.Sprintf(", %d during the incident", s.InIncident)
	}
	return out
}

func calls(s Summary) string {
	f := func(x float64) string {
		if math.IsInf(x, 1) {
			return "none"
		}
		return fmt.Sprintf("%.0f", x)
	}
	return f(s.Median) + " / " + f(s.P90)
}
