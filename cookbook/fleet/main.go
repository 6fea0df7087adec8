// Command fleet is the ninelives fleet recipe: five client replicas, each
// with its own gRPC connection, Split, telemetry and etcd client, steered
// together by one of two sentinels elected through etcd. The canary turns
// bad at its second step; the leading sentinel judges the fleet's summed
// figures and rolls it back on every replica at once. On the way, the
// first leader is killed and the standby carries on from the same step.
//
//	go run ./cookbook/fleet                          # embedded etcd, an error regression
//	go run ./cookbook/fleet -regression none         # a healthy canary, promoted fleet-wide
//	go run ./cookbook/fleet -etcd http://127.0.0.1:2379
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(out)
	etcd := fs.String("etcd", "", "etcd endpoints, comma-separated; empty starts an embedded etcd on loopback")
	replicas := fs.Int("replicas", 5, "client replicas")
	regression := fs.String("regression", "errors", "what goes wrong with the canary at its second step: "+strings.Join(regressions, ", "))
	rate := fs.Int("rate", 100, "calls per second of each replica")
	ttl := fs.Duration("ttl", 2*time.Second, "the etcd lease TTL: how soon a dead replica or sentinel is gone")
	kill := fs.Bool("kill-leader", true, "kill the leading sentinel in the middle of the first step")
	duration := fs.Duration("duration", 2*time.Minute, "the longest the run lasts")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	reg, err := parseRegression(*regression)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var endpoints []string
	if *etcd != "" {
		endpoints = strings.Split(*etcd, ",")
	}
	res, err := Run(ctx, Options{
		Endpoints:  endpoints,
		Replicas:   *replicas,
		Regression: reg,
		Rate:       *rate,
		Interval:   time.Second,
		TTL:        *ttl,
		KillLeader: *kill,
		Duration:   *duration,
		Out:        out,
	})
	if err != nil {
		return err
	}
	return demo.Outcome(res.Phase, res.Interrupted, res.Elapsed)
}

// regressions are the -regression values the recipe takes: the shared ones
// but diff, which only shadow traffic can see, and the fleet's replicas
// make none.
var regressions = func() []string {
	var names []string
	for _, r := range demo.Regressions {
		if r != demo.RegressionDiff {
			names = append(names, string(r))
		}
	}
	return names
}()

// parseRegression reads the -regression flag.
func parseRegression(s string) (demo.Regression, error) {
	if slices.Contains(regressions, s) {
		return demo.ParseRegression(s)
	}
	return "", fmt.Errorf("ninelives: -regression %q: want one of %s (the fleet's replicas make no shadow calls, so diff would go unseen)",
		s, strings.Join(regressions, ", "))
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
	// Virtual runs on a virtual clock: each interval's calls are made as fast
	// as they can be, then the clock moves on. Tests use it. The failover
	// still waits the real TTL.
	Virtual bool
	Seed    uint64
	Out     io.Writer // the live view; nil for none
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
	case o.Duration <= 0:
		return fmt.Errorf("ninelives: -duration %v, want a positive duration", o.Duration)
	case o.Interval <= 0:
		return fmt.Errorf("ninelives: interval %v, want a positive duration", o.Interval)
	}
	return nil
}

// Result is what a run did, with the figures the README quotes.
type Result struct {
	// Prefix is the run's key prefix in etcd.
	Prefix string
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

// Decision is one decision of the fleet's leader.
type Decision struct {
	Tick     int
	Sentinel string
	Event    sentinel.Event
}

// replica is one client process of the fleet.
type replica struct {
	name     string
	client   *clientv3.Client
	split    *balancer.Split
	cc       *grpc.ClientConn
	mp       *sdkmetric.MeterProvider
	stopObs  func()
	follower *fleet.Follower
	reporter *fleet.Reporter
	load     *demo.Load
}

func (r *replica) close() {
	r.reporter.Close()
	r.follower.Close()
	r.stopObs()
	r.cc.Close()
	r.mp.Shutdown(context.Background())
	r.client.Close()
}

// BasePrefix is where the runs' key prefixes are in etcd.
const BasePrefix = "/ninelives/cookbook/fleet"

// NewPrefix returns a key prefix of its own for a run that starts at t:
// BasePrefix, the time, and a random suffix, so that a second run against
// the same etcd never finds the first one's rollout state.
func NewPrefix(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return fmt.Sprintf("%s/%s-%s", BasePrefix, t.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}

// OwnerKey is the key under a run's prefix that claims the prefix for the
// run; its value says which run.
const OwnerKey = "/owner"

// claimPrefix claims prefix for the run owner in one etcd transaction: if
// no key is under prefix, it writes prefix+OwnerKey; otherwise it returns an
// error naming the prefix. Two runs given the same prefix cannot both pass,
// however close together they start: the second finds the first's claim.
func claimPrefix(ctx context.Context, endpoints []string, prefix, owner string) error {
	c, err := fleettest.Client(endpoints...)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	under := prefix + "/"
	r, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(under), "=", 0).WithPrefix()).
		Then(clientv3.OpPut(prefix+OwnerKey, owner)).
		Else(clientv3.OpGet(under, clientv3.WithPrefix(), clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return fmt.Errorf("ninelives: claiming %s in etcd: %w", prefix, err)
	}
	if !r.Succeeded {
		return fmt.Errorf("ninelives: etcd already holds %d keys under %s (an earlier run's rollout, or another run's claim?): use another prefix",
			r.Responses[0].GetResponseRange().Count, prefix)
	}
	return nil
}

var initial = []balancer.Weight{{Version: "stable", Weight: balancer.TotalWeight}, {Version: "canary", Weight: 0}}

// Policy is the recipe's canary: 10 %, 25 %, 50 %, then 100 %, each step at
// least 5 s and 200 canary calls, fleet-wide.
func Policy() (sentinel.Strategy, error) {
	return sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 2500, 5000, 10000}, MinStepDuration: 5 * time.Second, MinStepCalls: 200})
}

// Judge is the recipe's judge: the defaults (α = 1 % over the rollout),
// with 200 candidate calls a step before a test may pass.
var Judge = judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 200}, Latency: judge.LatencyConfig{MinStepCalls: 200}}

// Run runs the recipe.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	var srv *fleettest.Server
	endpoints := opts.Endpoints
	if len(endpoints) == 0 {
		dir, err := os.MkdirTemp("", "ninelives-fleet-etcd-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if srv, err = fleettest.Start(dir); err != nil {
			return nil, err
		}
		defer srv.Stop()
		endpoints = []string{srv.Endpoint()}
	}
	servers, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 3, Faults: demo.RegressionNone.Faults()},
		demoserver.VersionSpec{Version: "canary", Count: 3, Faults: demo.RegressionNone.Faults()},
	)
	if err != nil {
		return nil, err
	}
	defer servers.Stop()

	clk := demo.NewClock(opts.Virtual)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fopts := []fleet.Option{fleet.WithClock(clk), fleet.WithLogger(logger), fleet.WithTTL(opts.TTL), fleet.WithInterval(opts.Interval)}

	prefix := opts.Prefix
	if prefix == "" {
		prefix = NewPrefix(time.Now())
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("the fleet recipe, pid %d on %s, started %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := claimPrefix(ctx, endpoints, prefix, owner); err != nil {
		return nil, err
	}
	res := &Result{Prefix: prefix}
	fmt.Fprintf(out, "etcd: %s, keys under %s\n", strings.Join(endpoints, ","), prefix)
	var reps []*replica
	defer func() {
		for _, r := range reps {
			r.close()
		}
	}()
	for i := range opts.Replicas {
		r, err := newReplica(ctx, fmt.Sprintf("replica-%d", i+1), endpoints, prefix, servers.Target(), fopts)
		if err != nil {
			return nil, err
		}
		r.load = demo.NewLoad(r.cc, opts.Rate, opts.Seed+uint64(i)*7919)
		reps = append(reps, r)
	}
	for _, r := range reps {
		if err := waitReady(ctx, r.split); err != nil {
			return nil, err
		}
	}

	// Two sentinels, each with its own etcd client, as if in two processes.
	type sent struct {
		name   string
		client *clientv3.Client
		leader *fleet.Leader
		done   chan error
		killed bool
		won    atomic.Int64 // when Campaign returned (UnixNano)
	}
	var sentinels []*sent
	campaignCtx, stopCampaigns := context.WithCancel(ctx)
	defer func() {
		stopCampaigns()
		for _, s := range sentinels {
			<-s.done
			s.leader.Close()
			if !s.killed {
				s.client.Close()
			}
		}
	}()
	for _, name := range []string{"sentinel-a", "sentinel-b"} {
		c, err := fleettest.Client(endpoints...)
		if err != nil {
			return nil, err
		}
		strategy, err := Policy()
		if err != nil {
			c.Close()
			return nil, err
		}
		l, err := fleet.NewLeader(c, prefix, name, initial, strategy,
			append(fopts, fleet.WithSentinelOptions(sentinel.WithJudge(Judge)))...)
		if err != nil {
			c.Close()
			return nil, err
		}
		s := &sent{name: name, client: c, leader: l, done: make(chan error, 1)}
		sentinels = append(sentinels, s)
		// The first campaigns alone, so that it leads; then the standby.
		go func() {
			err := l.Campaign(campaignCtx)
			s.won.Store(time.Now().UnixNano())
			s.done <- err
		}()
		if name == "sentinel-a" {
			select {
			case err := <-s.done:
				if err != nil {
					return nil, err
				}
				s.done <- nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	leading := func() *sent {
		for _, s := range sentinels {
			if s.leader.IsLeader() && !s.killed {
				return s
			}
		}
		return nil
	}

	var rev0 int64
	if srv != nil {
		rev0 = srv.Revision()
	}
	var regressionAt time.Time
	var killedAt time.Time
	tail := 0
	start := time.Now()
	fmt.Fprintf(out, "%d replicas × %d calls/s; canary 10%% → 25%% → 50%% → 100%%; regression at 25%%: %s\n\n",
		opts.Replicas, opts.Rate, opts.Regression.Describe())
	for tick := 1; ; tick++ {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		if time.Since(start) > opts.Duration || tick > int(opts.Duration/opts.Interval)+60 {
			break
		}
		res.Ticks = tick
		clk.Advance(opts.Interval)
		// Every replica's calls for one interval, at once.
		stats := make([]demo.LoadStats, len(reps))
		var wg sync.WaitGroup
		for i, r := range reps {
			wg.Go(func() { stats[i] = r.load.Interval(ctx, opts.Interval, !opts.Virtual) })
		}
		wg.Wait()
		if ctx.Err() != nil {
			// Interrupted in the middle of the interval: its calls count,
			// but the leader does not judge a part of a tick.
			for _, s := range stats {
				res.Calls += s.Calls
				res.Failed += s.Failed
			}
			res.Interrupted = true
			break
		}
		var served = map[string]int64{}
		var failed int64
		for _, s := range stats {
			res.Calls += s.Calls
			res.Failed += s.Failed
			failed += s.Failed
			for v, n := range s.Served {
				served[v] += n
			}
		}
		if res.Phase.Final() {
			res.TailCanaryCalls += served["canary"]
		}
		for _, r := range reps {
			_ = r.reporter.Report(ctx) // a failure keeps the figures for the next report
		}
		l := leading()
		line := fmt.Sprintf("%4ds  ", tick)
		if l == nil {
			line += "no leader yet (the standby waits for the dead leader's lease to expire)"
			fmt.Fprintln(out, line)
			if opts.Virtual && !killedAt.IsZero() {
				waitLeader(ctx, func() bool { return leading() != nil }, 3*opts.TTL)
			}
			continue
		}
		if !killedAt.IsZero() && res.Takeover == 0 {
			res.Takeover = time.Unix(0, l.won.Load()).Sub(killedAt)
			st := l.leader.Status()
			if st.State != nil {
				res.TakeoverStep, res.TakeoverWeight = st.State.Step, st.State.Weight("canary")
			}
			fmt.Fprintf(out, "      %s took over after %v, resuming step %d at %d bp\n", l.name, res.Takeover.Round(time.Millisecond),
				res.TakeoverStep, res.TakeoverWeight)
		}
		before := l.leader.Status().State
		ev, err := l.leader.Tick(ctx)
		if err != nil {
			fmt.Fprintf(out, "%s%s: %v\n", line, l.name, err)
			continue
		}
		after := l.leader.Status().State
		if after != nil && (before == nil || after.Seq != before.Seq) {
			committed := time.Now()
			if err := waitApplied(ctx, reps, after.Seq); err != nil {
				if ctx.Err() == nil {
					return res, err
				}
				res.Interrupted = true
				break
			}
			res.Propagation = max(res.Propagation, time.Since(committed))
		}
		res.Phase = ev.Phase
		if ev.Action != sentinel.ActionHold {
			res.Decisions = append(res.Decisions, Decision{Tick: tick, Sentinel: l.name, Event: ev})
		}
		line += fmt.Sprintf("%-10s %-22s canary %-4s on every replica | calls %4d, canary %4d, failed %3d | %s",
			l.name, demo.PhaseLabel(ev.Phase, ev.Step, ev.StepName), sentinel.StepLabel(reps[0].split.Weight("canary")), sum(served), served["canary"], failed, demo.DecisionLabel(ev))
		fmt.Fprintln(out, line)

		switch {
		case ev.Action == sentinel.ActionRollback && res.RollbackTick == 0:
			res.RollbackTick = tick
			switch {
			case regressionAt.IsZero():
			case opts.Virtual: // the ticks' time, and the real propagation
				res.ToAllZero = time.Duration(tick-res.RegressionTick)*opts.Interval + res.Propagation
			default: // every replica has applied the rollback by now
				res.ToAllZero = time.Since(regressionAt)
			}
		case ev.Step == 2 && res.RegressionTick == 0 && opts.Regression != demo.RegressionNone && ev.Phase == sentinel.PhaseProgressing:
			res.RegressionTick, regressionAt = tick, time.Now()
			servers.SetFaults("canary", opts.Regression.Faults())
			fmt.Fprintf(out, "      the canary turns bad: %s\n", opts.Regression.Describe())
		case opts.KillLeader && res.KilledAt == 0 && ev.Step == 1 && ev.Action == sentinel.ActionHold:
			res.KilledAt, res.StepAtKill, killedAt = tick, ev.Step, time.Now()
			l.killed = true
			l.client.Close() // the leader's process dies: its lease is left to expire
			fmt.Fprintf(out, "      %s is killed in the middle of step %d\n", l.name, ev.Step)
		}
		if ev.Phase.Final() {
			if tail++; tail > 2 {
				break
			}
		}
	}
	res.Elapsed = time.Since(start)
	if opts.Virtual {
		res.Elapsed = time.Duration(res.Ticks) * opts.Interval
	}

	for _, r := range reps {
		res.FinalWeights = append(res.FinalWeights, r.split.Weight("canary"))
		st, _ := r.follower.Applied()
		res.Applied = append(res.Applied, st.Seq)
		fs := r.follower.Status()
		res.WatchesPerReplica += float64(fs.Watches) / float64(len(reps))
		res.Rejected += fs.Rejections
		rs := r.reporter.Status()
		res.WritesPerReplicaTick += float64(rs.Writes) / float64(max(res.Ticks, 1)) / float64(len(reps))
		res.ReportBytes = max(res.ReportBytes, rs.LastBytes)
	}
	var leaderWrites int64
	for _, s := range sentinels {
		leaderWrites += s.leader.Status().Writes
	}
	res.LeaderWritesPerTick = float64(leaderWrites) / float64(max(res.Ticks, 1))
	summary(out, opts, res, srv, rev0)
	return res, nil
}

func summary(out io.Writer, opts Options, res *Result, srv *fleettest.Server, rev0 int64) {
	fmt.Fprintf(out, "\nThe rollout is %s after %d ticks.\n", res.Phase, res.Ticks)
	if res.Interrupted {
		fmt.Fprintf(out, "The run was interrupted after %v.\n", res.Elapsed.Round(time.Second))
	}
	for _, d := range res.Decisions {
		fmt.Fprintf(out, "  tick %2d  %-10s %s\n", d.Tick, d.Sentinel, demo.DecisionLabel(d.Event))
	}
	if res.KilledAt > 0 {
		fmt.Fprintf(out, "Failover: the leader was killed at tick %d in step %d; the standby took over %v later (TTL %v) and resumed step %d at %s.\n",
			res.KilledAt, res.StepAtKill, res.Takeover.Round(time.Millisecond), opts.TTL, res.TakeoverStep, sentinel.StepLabel(res.TakeoverWeight))
	}
	if res.RollbackTick > 0 && res.RegressionTick > 0 {
		fmt.Fprintf(out, "Regression at tick %d, rollback decided at tick %d: every replica at 0 %% canary %v after the regression started (%d ticks of %v; at most %v from a state's commit in etcd to the last replica).\n",
			res.RegressionTick, res.RollbackTick, res.ToAllZero.Round(time.Millisecond), res.RollbackTick-res.RegressionTick, opts.Interval,
			res.Propagation.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "Final canary weights: %v (states applied: %v); %d bad states rejected.\n", res.FinalWeights, res.Applied, res.Rejected)
	fmt.Fprintf(out, "Calls: %d, failed %d (the canary's own faults); canary calls after the end: %d.\n", res.Calls, res.Failed, res.TailCanaryCalls)
	perSec := res.WritesPerReplicaTick / opts.Interval.Seconds()
	fmt.Fprintf(out, "etcd load: %.2f writes/s per replica (one report a tick, %d bytes at most), %.2f leader writes a tick, %.0f watch per replica",
		perSec, res.ReportBytes, res.LeaderWritesPerTick, res.WatchesPerReplica)
	if srv != nil {
		fmt.Fprintf(out, "; %d revisions in all", srv.Revision()-rev0)
	}
	fmt.Fprintln(out, ".")
}

func newReplica(ctx context.Context, name string, endpoints []string, prefix, target string, fopts []fleet.Option) (*replica, error) {
	c, err := fleettest.Client(endpoints...)
	if err != nil {
		return nil, err
	}
	r := &replica{name: name, client: c, split: balancer.MustSplit(initial...)}
	src, err := telemetry.NewSource()
	if err != nil {
		c.Close()
		return nil, err
	}
	r.mp = sdkmetric.NewMeterProvider(src.Option())
	m, err := telemetry.New(telemetry.WithMeterProvider(r.mp))
	if err == nil {
		r.stopObs, err = m.Instrument(r.split)
	}
	if err == nil {
		r.cc, err = grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(r.split))
	}
	if err == nil {
		r.follower, err = fleet.NewFollower(c, prefix, r.split, fopts...)
	}
	if err == nil {
		r.reporter, err = fleet.NewReporter(c, prefix, name, src, r.follower, fopts...)
	}
	if err == nil {
		err = r.follower.Start(ctx)
	}
	if err != nil {
		r.mp.Shutdown(context.Background())
		if r.stopObs != nil {
			r.stopObs()
		}
		if r.cc != nil {
			r.cc.Close()
		}
		if r.follower != nil {
			r.follower.Close()
		}
		c.Close()
		return nil, err
	}
	r.cc.Connect()
	return r, nil
}

// waitReady waits until both versions have READY endpoints in the split.
func waitReady(ctx context.Context, split *balancer.Split) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(split.ReadyEndpoints("stable")) == 0 || len(split.ReadyEndpoints("canary")) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("ninelives: the demo servers are not READY after 10 s: %v", split.Endpoints(""))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// waitApplied waits until every replica has applied the state seq.
func waitApplied(ctx context.Context, reps []*replica, seq uint64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, r := range reps {
			if st, ok := r.follower.Applied(); !ok || st.Seq < seq {
				all = false
			}
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("ninelives: not every replica applied the new state within 10 s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// waitLeader waits, at most d, until ok.
func waitLeader(ctx context.Context, ok func() bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for !ok() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
