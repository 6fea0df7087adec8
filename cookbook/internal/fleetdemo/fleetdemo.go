package fleetdemo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// Wiring is the recipe's side of a run: how a client replica and a
// sentinel are made.
type Wiring struct {
	// Replica wires one client replica named name to the demo servers'
	// target, with its own etcd client, under the rollout's prefix; opts
	// are the run's fleet options (clock, logger, TTL, interval).
	Replica func(ctx context.Context, name, target string, etcd *clientv3.Client, prefix string, opts []fleet.Option) (*Replica, error)
	// Sentinel makes one of the fleet's sentinels, with its own etcd
	// client.
	Sentinel func(etcd *clientv3.Client, prefix, name string, opts []fleet.Option) (*fleet.Leader, error)
}

// Replica is one client process of the fleet, as the recipe wires it.
type Replica struct {
	Split    *balancer.Split
	Conn     *grpc.ClientConn
	Follower *fleet.Follower
	Reporter *fleet.Reporter

	closers []func()
	load    *demo.Load
}

// Defer adds f to what Close does, in the reverse order of the calls.
func (r *Replica) Defer(f func()) { r.closers = append(r.closers, f) }

// Close closes what the replica holds; its etcd client is the run's.
func (r *Replica) Close() {
	for _, f := range slices.Backward(r.closers) {
		f()
	}
	r.closers = nil
}

// Options are the recipe's settings.
type Options struct {
	Endpoints  []string // etcd; none: an embedded one
	Replicas   int
	Regression demo.Regression
	Rate       int // calls/s per replica
	Interval   time.Duration
	TTL        time.Duration
	KillLeader bool
	Duration   time.Duration
	// Webhook, if set, is the URL the sentinels POST their alerts to;
	// DryRun makes them judge and report without moving a weight. The
	// recipe's Wiring reads both.
	Webhook string
	DryRun  bool
	// Virtual runs on a virtual clock: each interval's calls are made as fast
	// as they can be, then the clock moves on. Tests use it. The failover
	// still waits the real TTL.
	Virtual bool
	Seed    uint64
	// CallTimeout is the deadline of each of the load's calls; 0: 2 s.
	CallTimeout time.Duration
	Out         io.Writer // the live view; nil for none
	// Prefix is the rollout's key prefix in etcd; empty: a fresh one for
	// the run (NewPrefix). Run claims the prefix before it starts (see
	// claimPrefix) and refuses one that holds keys already, such as a
	// finished rollout's state or another run's claim.
	Prefix string
}

func (o *Options) check() error {
	switch {
	case o.Replicas < 1 || o.Replicas > 50:
		return fmt.Errorf("ninelives: -replicas %d, want 1..50", o.Replicas)
	case o.Rate < 10 || o.Rate > 5000:
		return fmt.Errorf("ninelives: -rate %d, want 10..5000 calls/s a replica", o.Rate)
	case o.TTL < time.Second || o.TTL%time.Second != 0:
		return fmt.Errorf("ninelives: -ttl %v, want whole seconds, at least 1s", o.TTL)
	}
	if err := demo.CheckTimes(o.Duration, o.Interval, o.CallTimeout); err != nil {
		return err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

// Regressions are the -regression values the recipe takes: the shared ones
// but diff, which only shadow traffic can see, and the fleet's replicas
// make none.
var Regressions = func() []string {
	var names []string
	for _, r := range demo.Regressions {
		if r != demo.RegressionDiff {
			names = append(names, string(r))
		}
	}
	return names
}()

// ParseRegression reads the -regression flag.
func ParseRegression(s string) (demo.Regression, error) {
	if slices.Contains(Regressions, s) {
		return demo.ParseRegression(s)
	}
	return "", fmt.Errorf("ninelives: -regression %q: want one of %s (the fleet's replicas make no shadow calls, so diff would go unseen)",
		s, strings.Join(Regressions, ", "))
}

// Result is what a run did, with the figures the README quotes.
type Result struct {
	// Prefix is the run's key prefix in etcd.
	Prefix string
	DryRun bool
	Phase  sentinel.Phase
	Ticks  int
	// Elapsed is how long the ticks lasted, on the run's clock; Interrupted
	// reports that the run's context was cancelled (Ctrl-C) before the run
	// ended by itself.
	Elapsed     time.Duration
	Interrupted bool
	// Decisions are the leaders' decisions but holds, in order, with the
	// sentinel that made each.
	Decisions []Decision
	// RegressionTick is the tick the canary turned bad (0: never);
	// RollbackTick the tick of the rollback decision.
	RegressionTick, RollbackTick int
	// ToAllZero is the time from the regression's start to every replica at
	// 0 % canary: measured in real time; on a virtual clock, the ticks it
	// took the judge plus the real propagation.
	ToAllZero time.Duration
	// Propagation is the longest time from a state's commit in etcd to its
	// application by the last replica.
	Propagation time.Duration
	// KilledAt is the tick the first leader was killed at (0: not killed);
	// TakeoverStep and TakeoverWeight are the step and canary weight the
	// standby resumed from, and Takeover the wall time it took.
	KilledAt       int
	StepAtKill     int
	TakeoverStep   int
	TakeoverWeight int
	Takeover       time.Duration
	// LostLeases counts the times a live sentinel lost its lease, on a
	// machine too busy to renew it within the TTL, and the fleet had no
	// leader until one of them won the election again.
	LostLeases int
	// FinalWeights is each replica's canary weight at the end; Applied the
	// state each applied last.
	FinalWeights []int
	Applied      []uint64
	// WritesPerReplicaTick is the replicas' etcd writes per replica per
	// tick; LeaderWritesPerTick the leaders'. WatchesPerReplica is the
	// watches each replica holds.
	WritesPerReplicaTick float64
	LeaderWritesPerTick  float64
	WatchesPerReplica    float64
	ReportBytes          int
	// Calls and Failed count the load's calls; TailCanaryCalls the calls
	// served by the canary after the rollout's final decision.
	Calls, Failed   int64
	TailCanaryCalls int64
	Rejected        int64
}

// Err is the run's error, with which the recipe's program exits:
// demo.Outcome's, but none for a dry run that ran its course.
func (r *Result) Err() error {
	if r.DryRun && !r.Interrupted {
		return nil
	}
	return demo.Outcome(r.Phase, r.Interrupted, r.Elapsed)
}

// Decision is one decision of the fleet's leader.
type Decision struct {
	Tick     int
	Sentinel string
	Event    sentinel.Event
}
