// Command chaos is make chaos: the client stack and a fleet under load
// while servers crash, hang and come back, etcd goes away for longer than
// a lease, and the alert receiver hangs. It prints, per scenario, the
// failed calls, the ticks' times, the recovery times, and the goroutines
// and heap before and after, and exits 1 when a check fails.
//
//	go run ./cookbook/internal/chaos/cmd/chaos
//	go run ./cookbook/internal/chaos/cmd/chaos -run hang -rate 300
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/chaos"
	"github.com/ninelives-go/ninelives/internal/cli"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	env := chaos.Env{Rate: 300, CallTimeout: 2 * time.Second, Phase: 5 * time.Second, Wait: time.Minute}
	fs.IntVar(&env.Rate, "rate", env.Rate, "calls/s of the client process, and of the fleet over its replicas")
	fs.DurationVar(&env.Phase, "phase", env.Phase, "how long each part of a scenario lasts")
	fs.DurationVar(&env.CallTimeout, "call-timeout", env.CallTimeout, "the deadline of each call")
	only := fs.String("run", "", "run only the scenarios whose name holds this text")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case env.Rate < 10 || env.Rate > 5000:
		return fmt.Errorf("ninelives: -rate %d, want 10..5000 calls/s", env.Rate)
	case env.Phase <= 0:
		return fmt.Errorf("ninelives: -phase %v, want a positive duration", env.Phase)
	case env.CallTimeout <= 0:
		return fmt.Errorf("ninelives: -call-timeout %v, want a positive duration", env.CallTimeout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ws, err := chaos.NewWorkspace("chaos")
	if err != nil {
		return err
	}
	defer ws.Close()
	env.Bin, env.Dir, env.Logger = ws.Bin, ws.Dir, ws.Logger
	return scenarios(ctx, env, *only, out)
}

// scenarios runs the scenarios named by only, prints the table and fails
// when a check did.
func scenarios(ctx context.Context, env chaos.Env, only string, out io.Writer) error {
	start, begun := chaos.Take(), time.Now()
	var rs []*chaos.Result
	for _, sc := range chaos.Scenarios() {
		if !strings.Contains(sc.Name, only) {
			continue
		}
		fmt.Fprintf(out, "running: %s\n", sc.Name)
		rs = append(rs, chaos.Run(ctx, env, sc))
	}
	if len(rs) == 0 {
		return fmt.Errorf("ninelives: -run %q names no scenario", only)
	}
	end := chaos.Settle(start, env.Wait)
	fmt.Fprintf(out, "\nchaos at %d calls/s, phases of %v, %v in all; the process: %d → %d goroutines, %.1f → %.1f MiB heap, %d → %d open files\n\n",
		env.Rate, env.Phase, time.Since(begun).Round(time.Second), start.Goroutines, end.Goroutines,
		float64(start.HeapBytes)/(1<<20), float64(end.HeapBytes)/(1<<20), start.FDs, end.FDs)
	chaos.Print(out, rs)
	for _, r := range rs {
		if len(r.Failed()) > 0 {
			return errors.New("ninelives: chaos: a check failed")
		}
	}
	return nil
}
