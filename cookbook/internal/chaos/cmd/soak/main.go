// Command soak is make soak: releases back to back, good and bad in turn,
// in a client process (the whole stack) and in a fleet of five replicas
// on embedded etcd, for half an hour at 500 calls/s, half through each.
// It samples the heap, the goroutines and the open files of its process
// (its clients; etcd runs in a process of its own) with no call in flight
// (the load pauses for the sample, so that calls queued on a busy machine
// do not pass for growth) and etcd's database every minute, prints them
// as a table, plots them in a PNG, and exits 1 when one grew more than
// 10 % after the first five minutes.
//
//	go run ./cookbook/internal/chaos/cmd/soak
//	go run ./cookbook/internal/chaos/cmd/soak -duration 10m -png soak.png
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/chaos"
	"github.com/ninelives-go/ninelives/internal/cli"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(out)
	cfg := chaos.SoakConfig{Duration: 30 * time.Minute, Every: time.Minute, Warmup: 5 * time.Minute, Rate: 500, Progress: out}
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the soak runs")
	fs.DurationVar(&cfg.Every, "every", cfg.Every, "how often it samples")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "after how long the samples must stay flat")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "calls/s, half through the client process, half over the fleet's replicas")
	plot := fs.String("png", "soak.png", "where to write the plot")
	fs.StringVar(&cfg.HeapProfile, "heapprofile", "", "write a heap profile here at each sample, numbered (.00, .01, …)")
	etcdDir := fs.String("serve-etcd", "", "serve the soak's etcd with its data in this directory until standard input closes (the soak runs itself so)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *etcdDir != "" {
		return chaos.ServeEtcd(*etcdDir, os.Stdin, out)
	}
	if cfg.HeapProfile != "" {
		runtime.MemProfileRate = 64 << 10 // a sample every 64 KiB: finer than the default's 512
	}
	if err := check(cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ws, err := chaos.NewWorkspace("soak")
	if err != nil {
		return err
	}
	defer ws.Close()
	cfg.Bin, cfg.Dir, cfg.Logger = ws.Bin, ws.Dir, ws.Logger
	if cfg.EtcdExe, err = os.Executable(); err != nil {
		return err
	}
	fmt.Fprintf(out, "soak: %v at %d calls/s, half in a process, half in a fleet of 5; a sample every %v\n", cfg.Duration, cfg.Rate, cfg.Every)
	samples, err := chaos.Soak(ctx, cfg)
	if err != nil {
		return err
	}
	return report(out, samples, cfg, *plot)
}

func check(cfg chaos.SoakConfig) error {
	switch {
	case cfg.Rate < 10 || cfg.Rate > 5000:
		return fmt.Errorf("ninelives: -rate %d, want 10..5000 calls/s", cfg.Rate)
	case cfg.Every <= 0:
		return fmt.Errorf("ninelives: -every %v, want a positive duration", cfg.Every)
	case cfg.Warmup < 0:
		return fmt.Errorf("ninelives: -warmup %v, want 0 or more", cfg.Warmup)
	case cfg.Duration < cfg.Warmup+cfg.Every:
		return fmt.Errorf("ninelives: -duration %v, want at least -warmup + -every (%v) to measure a growth", cfg.Duration, cfg.Warmup+cfg.Every)
	}
	return nil
}

// report prints the table and the growth, writes the plot, and fails when
// a figure grew past the bound.
func report(out io.Writer, samples []chaos.SoakSample, cfg chaos.SoakConfig, plot string) error {
	g, ok := chaos.GrowthOf(samples, cfg.Warmup)
	if !ok {
		return errors.New("ninelives: soak: no sample after the warm-up (interrupted?)")
	}
	fmt.Fprintln(out)
	chaos.PrintSoak(out, samples, g)
	f, err := os.Create(plot)
	if err != nil {
		return err
	}
	if err := errors.Join(chaos.Plot(f, samples, cfg.Warmup), f.Close()); err != nil {
		return err
	}
	fmt.Fprintf(out, "plot: %s\n", plot)
	if flat, over := g.Flat(); !flat {
		return fmt.Errorf("ninelives: soak: grew more than %.0f %% after %v: %s", 100*chaos.MaxGrowth, cfg.Warmup, strings.Join(over, ", "))
	}
	return nil
}
