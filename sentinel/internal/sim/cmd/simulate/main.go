// Command simulate runs the standard rollout scenarios through the
// sentinel's Judge and a Flagger-style fixed threshold, side by side on the
// same simulated traffic, and prints a Markdown table.
//
//	go run ./sentinel/internal/sim/cmd/simulate -runs 2000 -seed 1
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

func main() {
	runs := flag.Int("runs", 2000, "simulated rollouts per scenario")
	seed := flag.Uint64("seed", 1, "seed of the PCG generator (run i uses stream i)")
	match := flag.String("scenario", "", "only scenarios whose name contains this text")
	flag.Parse()
	if err := run(os.Stdout, os.Stderr, *runs, *seed, *match); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run writes the table to w, and a line per scenario done to progress.
func run(w, progress io.Writer, runs int, seed uint64, match string) error {
	start := time.Now()
	var cfg judge.Config
	j, err := judge.New(cfg)
	if err != nil {
		return err
	}
	b := j.Budget()
	cmd := fmt.Sprintf("go run ./sentinel/internal/sim/cmd/simulate -runs %d -seed %d", runs, seed)
	if match != "" {
		cmd += fmt.Sprintf(" -scenario %q", match)
	}
	fmt.Fprintf(w, "Command: `%s`\n\n", cmd)
	fmt.Fprintf(w, "Traffic: 1,000 calls/s unless the scenario says otherwise, each call sent to the candidate with the step's share; "+
		"baseline 0.5 %% errors and a log-normal latency (median 20 ms, σ 0.5; the cold-connection scenarios: median 0.169 ms), "+
		"counted in the sentinel's own latency buckets (eight an octave); one look per second unless the scenario says otherwise. "+
		"Rollouts: 10 min at a 10 %% share (600 looks), the canary steps 1, 5, 25 and 50 %% for 2 min each (480 looks), or 15 min at 1 %%; "+
		"the traffic does not depend on the decisions, so both policies see the same calls. Candidate calls to rollback are counted up "+
		"to and including the look that rolls back (in a late break, from the break on; a rollback before the break is a false one); "+
		"\"none\" means that quantile of the runs did not roll back.\n\n")
	fmt.Fprintf(w, "Judge: judge.New(judge.Config{}): α = %g %% over the rollout (errors %.3g %%, latency %.3g %%); "+
		"restarts: ω = %g over the first %d informative looks; errors floor %g percentage point; latency tolerance %g %% or %g ms; tail quantiles %v.\n\n",
		100*j.Config().Alpha, 100*b.Errors, 100*b.Latency, j.Config().Restarts.Start, j.Config().Restarts.Looks,
		100*j.Config().Errors.Floor, 100*j.Config().Latency.Tolerance, 1000*j.Config().Latency.AbsoluteTolerance, j.Config().Latency.Quantiles)
	fmt.Fprintf(w, "Fixed threshold (Flagger-style): %s.\n\n", sim.Flagger().Describe())
	var rows []sim.Row
	for _, sc := range sim.Scenarios() {
		if match != "" && !strings.Contains(sc.Name, match) {
			continue
		}
		res, err := sim.Run(sc, seed, runs, sim.JudgeFactory(cfg), sim.FlaggerFactory)
		if err != nil {
			return err
		}
		rows = append(rows, sim.Row{Scenario: sc, Judge: sim.SummarizeScenario(sc, res[0]), Fixed: sim.SummarizeScenario(sc, res[1])})
		fmt.Fprintf(progress, "%s: done after %s\n", sc.Name, time.Since(start).Round(time.Second))
	}
	return sim.WriteTable(w, rows)
}
