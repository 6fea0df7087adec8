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

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/internal/sim"
)

func main() {
	runs := flag.Int("runs", 2000, "simulated rollouts per scenario")
	seed := flag.Uint64("seed", 1, "seed of the PCG generator (run i uses stream i)")
	match := flag.String("scenario", "", "only scenarios whose name contains this text")
	flag.Parse()
	if err := run(os.Stdout, *runs, *seed, *match); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(w io.Writer, runs int, seed uint64, match string) error {
	var cfg sentinel.Config
	j, err := sentinel.NewJudge(cfg)
	if err != nil {
		return err
	}
	b := j.Budget()
	cmd := fmt.Sprintf("go run ./sentinel/internal/sim/cmd/simulate -runs %d -seed %d", runs, seed)
	if match != "" {
		cmd += fmt.Sprintf(" -scenario %q", match)
	}
	fmt.Fprintf(w, "Command: `%s`\n\n", cmd)
	fmt.Fprintf(w, "Traffic: 1,000 calls/s split per call at the candidate's share; baseline 0.5 %% errors, log-normal latency "+
		"(median 20 ms, σ 0.5) in OpenTelemetry's RPC buckets; one look per second. The candidate's calls are counted up to "+
		"and including the look that rolls back.\n\n")
	fmt.Fprintf(w, "Judge: sentinel.NewJudge(sentinel.Config{}): α = %g over the rollout (errors %g, latency %g).\n\n", j.Config().Alpha, b.Errors, b.Latency)
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
		rows = append(rows, sim.Row{Scenario: sc, Judge: sim.Summarize(res[0]), Fixed: sim.Summarize(res[1])})
	}
	return sim.WriteTable(w, rows)
}
