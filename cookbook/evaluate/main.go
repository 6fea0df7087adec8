// Command evaluate is ninelives' evaluation harness (make evaluate): it
// runs rollouts of the cookbook's wirings against demo servers on loopback,
// each version in a process of its own, with and without a CPU hog beside
// them, and prints and writes the table of their verdicts. See README.md.
//
//	go run ./cookbook/evaluate            # the full run, ≤ 60 min
//	go run ./cookbook/evaluate -quick     # a few runs of each scenario, ≤ 5 min
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/ninelives-go/ninelives/cookbook/internal/evaluate"
	"github.com/ninelives-go/ninelives/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := evaluate.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
