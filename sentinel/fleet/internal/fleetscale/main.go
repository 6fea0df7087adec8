// Command fleetscale measures what a fleet costs one etcd and its leader:
// a simulated fleet of replicas (each a Follower and a Reporter, as in a
// client process, reporting a telemetry window of real shape every
// interval) against one embedded etcd on loopback, in one process, and the
// fleet's leader in another, ticking, with a weight change every -change,
// for -duration. It prints etcd's write bytes per second, the leader's
// tick time, how long a new weight takes to reach the last replica, the
// memory of the replicas' process and of the leader's, and etcd's database
// size.
//
//	go run ./sentinel/fleet/internal/fleetscale -replicas 1000 -duration 3m   # make fleet-scale
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/telemetry"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdin, os.Stdout), os.Stderr)) }

type options struct {
	replicas, clients       int
	duration, interval, chg time.Duration
	warmup                  time.Duration
	fleetSide               bool
	cpuProfile              string
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("fleetscale", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.IntVar(&o.replicas, "replicas", 1000, "simulated client replicas")
	fs.IntVar(&o.clients, "clients", 20, "etcd clients the replicas share (a replica per client in a real fleet)")
	fs.DurationVar(&o.duration, "duration", 3*time.Minute, "how long to measure")
	fs.DurationVar(&o.interval, "interval", time.Second, "the replicas' report interval and the leader's tick")
	fs.DurationVar(&o.chg, "change", 5*time.Second, "the time between weight changes")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "the time the replicas report before the measure")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the leader's process over the measure to this file")
	fs.BoolVar(&o.fleetSide, "fleet-side", false, "run etcd and the replicas (the leader's process starts this one)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if o.replicas < 1 || o.clients < 1 || o.duration <= 0 || o.interval <= 0 || o.chg < o.interval {
		return fmt.Errorf("ninelives: want -replicas, -clients ≥ 1, a positive -duration and -interval, -change ≥ -interval")
	}
	if o.fleetSide {
		return runFleet(o, in, out)
	}
	return runLeader(o, args, out)
}

// window is one replica's second of traffic as its telemetry Source
// collects it: 200 calls of stable and 20 of canary on one method, 1 %
// of stable's failing, latencies of 1 to 20 ms. (Every replica reports the
// same window, so the judge sees the same figures summed each tick: the
// canary must not look worse, or it would be rolled back at once.)
func window(seed uint64) (*telemetry.Window, error) {
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer mp.Shutdown(context.Background())
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range 220 {
		a := &balancer.Attempt{Version: "stable", Role: balancer.RolePrimary, Method: "/demo.Service/GetItem",
			Latency: time.Duration(float64(time.Millisecond) * (1 + 19*rng.Float64()*rng.Float64()))}
		if i%11 == 0 {
			a.Version = "canary"
		}
		if a.Version == "stable" && rng.IntN(100) == 0 {
			a.Err = status.Error(codes.Unavailable, "down")
		}
		m.ObserveAttempt(a)
	}
	return src.Collect(context.Background())
}

// source hands out a copy of one window at each Collect.
type source struct{ w *telemetry.Window }

func (s source) Collect(context.Context) (*telemetry.Window, error) { return s.w.Clone(), nil }

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

const prefix = "/ninelives/scale"

var initial = []balancer.Weight{{Version: "stable", Weight: balancer.TotalWeight}, {Version: "canary", Weight: 0}}
