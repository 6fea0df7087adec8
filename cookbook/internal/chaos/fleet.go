package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// prefix is the rollout's key prefix in etcd.
const prefix = "/ninelives/chaos"

// Replica is one client replica of a fleet: its own etcd client, Split,
// telemetry, connection, Follower, Reporter and load.
type Replica struct {
	Split    *balancer.Split
	Follower *fleet.Follower
	Reporter *fleet.Reporter
	Load     *Load
	stop     func() Tally
	closers  []func()
}

// NewReplica wires a replica named name to target, reporting under
// prefix to the etcd at endpoints, and starts its load of rate calls/s.
func NewReplica(ctx context.Context, name, target string, endpoints []string, rate int, timeout time.Duration, opts []fleet.Option) (_ *Replica, err error) {
	r := &Replica{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	c, err := fleettest.Client(endpoints...)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { _ = c.Close() })
	split, src, _, err := instrumentedSplit(&r.closers)
	if err != nil {
		return nil, err
	}
	r.Split = split
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { _ = conn.Close() })
	if err := r.follow(ctx, c, name, src, opts); err != nil {
		return nil, err
	}
	r.Load = NewLoad(conn, rate, timeout, uint64(len(name)))
	r.stop = r.Load.Start()
	return r, nil
}

// follow starts the replica's Follower and its Reporter.
func (r *Replica) follow(ctx context.Context, c *clientv3.Client, name string, src telemetry.MetricSource, opts []fleet.Option) error {
	f, err := fleet.NewFollower(c, prefix, r.Split, opts...)
	if err != nil {
		return err
	}
	r.Follower = f
	r.closers = append(r.closers, func() { _ = f.Close() })
	if r.Reporter, err = fleet.NewReporter(c, prefix, name, src, f, opts...); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	r.closers = append(r.closers, func() { cancel(); wg.Wait(); _ = r.Reporter.Close() })
	// A Start that cannot read the state in time (a busy machine) leaves
	// the watch to catch up, as after an outage.
	_ = f.Start(ctx)
	wg.Go(func() { _ = r.Reporter.Run(ctx) })
	return nil
}

// StopLoad stops the replica's load and returns its tally (once).
func (r *Replica) StopLoad() Tally {
	t := r.stop()
	r.stop = func() Tally { return t }
	return t
}

// Close stops the load and closes what the replica holds.
func (r *Replica) Close() {
	if r.stop != nil {
		r.StopLoad()
	}
	for _, f := range slices.Backward(r.closers) {
		f()
	}
	r.closers = nil
}

// Lead keeps l leading and ticking every interval until ctx ends, timing
// each tick that commits in t (if not nil): when it does not lead, it
// campaigns.
func Lead(ctx context.Context, l *fleet.Leader, interval time.Duration, t *Timings) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for ctx.Err() == nil {
		if !l.IsLeader() {
			if l.Campaign(ctx) != nil {
				_ = sleep(ctx, interval)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		start := time.Now()
		if _, err := l.Tick(ctx); err == nil && t != nil {
			t.add(time.Since(start))
		}
	}
}

// weights are the replicas' candidate weights.
func weights(rs []*Replica) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Split.Weight(Candidate)
	}
	return out
}

// sumTallies adds up the replicas' tallies.
func sumTallies(ts []Tally) Tally {
	var sum Tally
	for _, t := range ts {
		sum.Calls += t.Calls
		sum.Failed += t.Failed
		sum.FailedSafe += t.FailedSafe
		sum.FailedBefore += t.FailedBefore
		sum.Errors = append(sum.Errors, t.Errors[:min(len(t.Errors), 5-len(sum.Errors))]...)
		if !t.FirstFailure.IsZero() && (sum.FirstFailure.IsZero() || t.FirstFailure.Before(sum.FirstFailure)) {
			sum.FirstFailure = t.FirstFailure
		}
		if t.LastFailure.After(sum.LastFailure) {
			sum.LastFailure = t.LastFailure
		}
	}
	return sum
}

// describe says in words what a leader's Close returned.
func describe(err error) string {
	var se *sentinel.ShutdownError
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &se):
		return fmt.Sprintf("%d alerts not delivered", len(se.Undelivered))
	}
	return err.Error()
}
