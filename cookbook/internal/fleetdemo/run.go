package fleetdemo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// runner is one run: what it started, and what its loop has seen.
type runner struct {
	opts      Options
	w         Wiring
	clk       *demo.Clock
	fopts     []fleet.Option
	etcdDir   string
	etcd      *fleettest.Server // nil with Options.Endpoints
	endpoints []string
	servers   *demoserver.Fleet
	reps      []*Replica
	clients   []*clientv3.Client // the replicas' etcd clients
	sentinels []*sent
	campCtx   context.Context // the sentinels' campaigns, until the run ends
	stopCamp  context.CancelFunc
	campaigns sync.WaitGroup
	res       *Result

	rev0                   int64
	start                  time.Time
	regressionAt, killedAt time.Time
	tail                   int
	leaderless             bool // since a lease was lost, no sentinel has led
}

// sent is one of the fleet's sentinels, as if in a process of its own.
type sent struct {
	name        string
	client      *clientv3.Client
	leader      *fleet.Leader
	killed      bool
	campaigning atomic.Bool
	won         atomic.Int64 // when Campaign last returned (UnixNano)
}

// Run runs the recipe with the replicas and sentinels w makes.
func Run(ctx context.Context, opts Options, w Wiring) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	r := &runner{opts: opts, w: w, clk: demo.NewClock(opts.Virtual), res: &Result{DryRun: opts.DryRun}}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	if err := r.startReplicas(ctx); err != nil {
		return nil, err
	}
	if err := r.startSentinels(ctx); err != nil {
		return nil, err
	}
	if err := r.loop(ctx); err != nil {
		return r.res, err
	}
	r.collect()
	r.summary()
	return r.res, nil
}

// setup starts etcd (unless the run has one), the demo's servers, and
// claims the run's key prefix.
func (r *runner) setup(ctx context.Context) error {
	r.endpoints = r.opts.Endpoints
	if len(r.endpoints) == 0 {
		dir, err := os.MkdirTemp("", "ninelives-fleet-etcd-")
		if err != nil {
			return err
		}
		r.etcdDir = dir
		if r.etcd, err = fleettest.Start(dir); err != nil {
			return err
		}
		r.endpoints = []string{r.etcd.Endpoint()}
	}
	var err error
	r.servers, err = demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 3, Faults: demo.RegressionNone.Faults()},
		demoserver.VersionSpec{Version: "canary", Count: 3, Faults: demo.RegressionNone.Faults()},
	)
	if err != nil {
		return err
	}
	r.fopts = []fleet.Option{fleet.WithClock(r.clk), fleet.WithLogger(demo.QuietLogger()), fleet.WithTTL(r.opts.TTL), fleet.WithInterval(r.opts.Interval)}
	r.res.Prefix = r.opts.Prefix
	if r.res.Prefix == "" {
		r.res.Prefix = NewPrefix(time.Now())
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("the fleet recipe, pid %d on %s, started %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := claimPrefix(ctx, r.endpoints, r.res.Prefix, owner); err != nil {
		return err
	}
	fmt.Fprintf(r.opts.Out, "etcd: %s, keys under %s\n", strings.Join(r.endpoints, ","), r.res.Prefix)
	return nil
}

// startReplicas wires the replicas, each with an etcd client of its own,
// and waits for their connections.
func (r *runner) startReplicas(ctx context.Context) error {
	for i := range r.opts.Replicas {
		c, err := fleettest.Client(r.endpoints...)
		if err != nil {
			return err
		}
		r.clients = append(r.clients, c)
		rep, err := r.w.Replica(ctx, fmt.Sprintf("replica-%d", i+1), r.servers.Target(), c, r.res.Prefix, r.fopts)
		if err != nil {
			return err
		}
		rep.Conn.Connect()
		rep.load = demo.NewLoad(rep.Conn, r.opts.Rate, r.opts.Seed+uint64(i)*7919)
		if r.opts.CallTimeout > 0 {
			rep.load.SetCallTimeout(r.opts.CallTimeout)
		}
		r.reps = append(r.reps, rep)
	}
	for _, rep := range r.reps {
		if err := waitReady(ctx, rep); err != nil {
			return err
		}
	}
	return nil
}

// startSentinels makes two sentinels, each with its own etcd client, as if
// in two processes. The first campaigns alone, so that it leads; then the
// standby.
func (r *runner) startSentinels(ctx context.Context) error {
	r.campCtx, r.stopCamp = context.WithCancel(ctx)
	for _, name := range []string{"sentinel-a", "sentinel-b"} {
		c, err := fleettest.Client(r.endpoints...)
		if err != nil {
			return err
		}
		l, err := r.w.Sentinel(c, r.res.Prefix, name, r.fopts)
		if err != nil {
			c.Close()
			return err
		}
		s := &sent{name: name, client: c, leader: l}
		r.sentinels = append(r.sentinels, s)
		done := r.campaign(s)
		if name != "sentinel-a" {
			continue
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.etcd != nil {
		r.rev0 = r.etcd.Revision()
	}
	return nil
}

// campaign makes s campaign until it leads or the run ends; the channel
// has Campaign's error.
func (r *runner) campaign(s *sent) <-chan error {
	done := make(chan error, 1)
	s.campaigning.Store(true)
	r.campaigns.Go(func() {
		err := s.leader.Campaign(r.campCtx)
		s.won.Store(time.Now().UnixNano())
		s.campaigning.Store(false)
		done <- err
	})
	return done
}

// close stops what the run started, the sentinels first.
func (r *runner) close() {
	if r.stopCamp != nil {
		r.stopCamp()
	}
	r.campaigns.Wait()
	for _, s := range r.sentinels {
		s.leader.Close()
		if !s.killed {
			s.client.Close()
		}
	}
	for _, rep := range r.reps {
		rep.Close()
	}
	for _, c := range r.clients {
		c.Close()
	}
	if r.servers != nil {
		r.servers.Stop()
	}
	if r.etcd != nil {
		r.etcd.Stop()
	}
	if r.etcdDir != "" {
		os.RemoveAll(r.etcdDir)
	}
}

// leading is the sentinel that leads, if any.
func (r *runner) leading() *sent {
	for _, s := range r.sentinels {
		if s.leader.IsLeader() && !s.killed {
			return s
		}
	}
	return nil
}

// waitReady waits until both versions have READY endpoints in the split.
func waitReady(ctx context.Context, rep *Replica) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(rep.Split.ReadyEndpoints("stable")) == 0 || len(rep.Split.ReadyEndpoints("canary")) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("ninelives: the demo servers are not READY after 10 s: %v", rep.Split.Endpoints(""))
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
func waitApplied(ctx context.Context, reps []*Replica, seq uint64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, rep := range reps {
			if st, ok := rep.Follower.Applied(); !ok || st.Seq < seq {
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
