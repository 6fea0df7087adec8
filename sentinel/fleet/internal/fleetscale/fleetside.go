package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// fleetResult is what the fleet's process measured, sent to the leader's
// process as JSON when its input closes.
type fleetResult struct {
	Bytes, Reports      int64
	HeapEtcd, HeapFleet uint64
	Last, Each          []time.Duration // a state's publication to its application: by the last replica, by each
	DBSize, DBInUse     int64
	Elapsed             time.Duration // the time Bytes and Reports were counted over
}

// replica is a simulated client process.
type replica struct {
	follower *fleet.Follower
	reporter *fleet.Reporter
}

// runFleet runs etcd and the replicas, says "ready <endpoint>", and when
// its input closes writes what it measured.
func runFleet(o options, in io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "ninelives-fleetscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := fleettest.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	var res fleetResult
	res.HeapEtcd = heap()
	client, err := fleettest.Client(srv.Endpoint())
	if err != nil {
		return err
	}
	defer client.Close()
	reps, stop, err := startFleet(o, srv.Endpoint())
	if err != nil {
		return err
	}
	time.Sleep(o.warmup / 2)
	res.HeapFleet = heap()
	fmt.Fprintf(out, "ready %s\n", srv.Endpoint())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { res.Last, res.Each = follow(ctx, reps) })
	b0, r0 := written(reps)
	start := time.Now()
	_, _ = io.Copy(io.Discard, bufio.NewReader(in)) // until the leader's process is done
	b1, r1 := written(reps)
	res.Bytes, res.Reports, res.Elapsed = b1-b0, r1-r0, time.Since(start)
	cancel()
	wg.Wait()
	stop()
	if st, err := client.Status(context.Background(), srv.Endpoint()); err == nil {
		res.DBSize, res.DBInUse = st.DbSize, st.DbSizeInUse
	}
	return json.NewEncoder(out).Encode(res)
}

// startFleet starts the replicas on shared clients, each reporting every
// interval from a moment of its own within it, as independent processes
// would.
func startFleet(o options, endpoint string) ([]replica, func(), error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fopts := []fleet.Option{fleet.WithLogger(quiet), fleet.WithInterval(o.interval), fleet.WithTimeout(10 * time.Second)}
	win, err := window(1)
	if err != nil {
		return nil, nil, err
	}
	var clients []*clientv3.Client
	var reps []replica
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop := func() {
		cancel()
		wg.Wait()
		for _, r := range reps {
			r.reporter.Close()
			r.follower.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}
	for i := range o.replicas {
		if i < o.clients {
			c, err := fleettest.Client(endpoint)
			if err != nil {
				stop()
				return nil, nil, err
			}
			clients = append(clients, c)
		}
		r, err := newReplica(clients[i%len(clients)], i, win, fopts)
		if err != nil {
			stop()
			return nil, nil, err
		}
		reps = append(reps, r)
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * o.interval / time.Duration(o.replicas)):
			}
			_ = r.reporter.Run(ctx)
		})
	}
	return reps, stop, nil
}

func newReplica(c *clientv3.Client, i int, win *telemetry.Window, fopts []fleet.Option) (replica, error) {
	f, err := fleet.NewFollower(c, prefix, balancer.MustSplit(initial...), fopts...)
	if err != nil {
		return replica{}, err
	}
	r, err := fleet.NewReporter(c, prefix, fmt.Sprintf("replica-%d", i), source{win}, f, fopts...)
	if err != nil {
		return replica{}, err
	}
	return replica{f, r}, f.Start(context.Background())
}

func written(reps []replica) (bytes, reports int64) {
	for _, r := range reps {
		st := r.reporter.Status()
		bytes, reports = bytes+st.Bytes, reports+st.Writes
	}
	return bytes, reports
}

// follow watches for each new state every replica applies, and measures
// the time from its publication to each replica's application of it.
func follow(ctx context.Context, reps []replica) (last, each []time.Duration) {
	var done uint64
	for ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		lowest, ok := lowestApplied(reps)
		if !ok || lowest.Seq <= done {
			continue
		}
		done = lowest.Seq
		var worst time.Duration
		for _, r := range reps {
			d := r.follower.Status().AppliedAt.Sub(lowest.Time)
			each = append(each, d)
			worst = max(worst, d)
		}
		last = append(last, worst)
	}
	return last, each
}

// lowestApplied is the oldest state a replica follows, when all follow one.
func lowestApplied(reps []replica) (fleet.RolloutState, bool) {
	var low fleet.RolloutState
	for i, r := range reps {
		st, ok := r.follower.Applied()
		if !ok {
			return low, false
		}
		if i == 0 || st.Seq < low.Seq {
			low = st
		}
	}
	return low, true
}
