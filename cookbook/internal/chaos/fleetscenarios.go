package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// The fleet's settings in the chaos scenarios: five replicas, leases of 3 s,
// etcd calls bounded by half a second.
const (
	replicas     = 5
	ttl          = 3 * time.Second
	etcdTimeout  = 500 * time.Millisecond
	closeTimeout = 5 * time.Second // the sentinel's default
)

// fleetRun is a fleet on embedded etcd under load.
type fleetRun struct {
	etcd     *fleettest.Server
	servers  *Servers
	receiver *Receiver
	replicas []*Replica
	leader   *fleet.Leader
	ticks    Timings
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// startFleet starts etcd, the servers, the alert receiver, the replicas
// and the leader, and waits until every replica has the candidate at 20 %.
func startFleet(ctx context.Context, env Env, hang bool) (_ *fleetRun, err error) {
	f := &fleetRun{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.etcd, err = startEtcd(env.Dir); err != nil {
		return nil, err
	}
	if f.servers, err = StartServers(env.Bin, demoserver.VersionSpec{Version: Baseline, Count: 2},
		demoserver.VersionSpec{Version: Candidate, Count: 2, Seed: 100}); err != nil {
		return nil, err
	}
	if f.receiver, err = NewReceiver(hang); err != nil {
		return nil, err
	}
	opts := []fleet.Option{fleet.WithTTL(ttl), fleet.WithTimeout(etcdTimeout), fleet.WithLogger(env.Logger)}
	for i := range replicas {
		r, err := NewReplica(ctx, fmt.Sprintf("replica-%d", i), f.servers.Target(), []string{f.etcd.Endpoint()}, env.Rate/replicas, env.CallTimeout, opts)
		if err != nil {
			return nil, err
		}
		f.replicas = append(f.replicas, r)
	}
	if err := f.startLeader(ctx, env, opts); err != nil {
		return nil, err
	}
	_, err = waitFor(ctx, env.Wait, "every replica at 20 %", func() bool {
		return !slices.ContainsFunc(weights(f.replicas), func(w int) bool { return w != candidateShare })
	})
	return f, err
}

// startLeader makes the fleet's sentinel, alerting the receiver, and
// keeps it leading.
func (f *fleetRun) startLeader(ctx context.Context, env Env, opts []fleet.Option) error {
	c, err := fleettest.Client(f.etcd.Endpoint())
	if err != nil {
		return err
	}
	alerter, err := f.receiver.Alerter()
	if err != nil {
		c.Close()
		return err
	}
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{candidateShare, 10000}, MinStepDuration: 10 * time.Minute})
	if err != nil {
		c.Close()
		return err
	}
	f.leader, err = fleet.NewLeader(c, prefix, "sentinel-a", initial, strategy,
		append(opts, fleet.WithSentinelOptions(sentinel.WithAlerters(alerter), sentinel.WithLogger(env.Logger), sentinel.WithJudge(judgeOf(false))))...)
	if err != nil {
		c.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	f.cancel = func() { cancel(); f.wg.Wait(); c.Close() }
	f.wg.Go(func() { Lead(ctx, f.leader, time.Second, &f.ticks) })
	return nil
}

// close closes everything the run holds that is still open.
func (f *fleetRun) close() {
	if f.cancel != nil {
		_ = f.leader.Close()
		f.cancel()
	}
	for _, r := range f.replicas {
		r.Close()
	}
	if f.etcd != nil {
		f.etcd.Stop()
	}
	if f.servers != nil {
		f.servers.Stop()
	}
	if f.receiver != nil {
		f.receiver.Close()
	}
}

// etcdOutage stops etcd under a loaded fleet for three leases, then starts
// it again: every replica keeps its weights and no call fails; the leader
// loses its lease, leads again and commits. With a hanging alert receiver
// the leader recovers as fast, while the receiver still holds an alert, and
// its Close returns within its bound, naming the alerts it could not
// deliver.
func etcdOutage(ctx context.Context, env Env, r *Result, hang bool) error {
	f, err := startFleet(ctx, env, hang)
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.alert(ctx, env); err != nil {
		return err
	}
	before := weights(f.replicas)
	r.at("etcd stopped")
	f.etcd.Stop()
	if err := sleep(ctx, 3*ttl); err != nil {
		return err
	}
	kept := slices.Equal(weights(f.replicas), before)
	if err := f.recover(ctx, env, r, hang); err != nil {
		return err
	}
	if err := sleep(ctx, env.Phase); err != nil {
		return err
	}
	var tallies []Tally
	for _, rp := range f.replicas {
		tallies = append(tallies, rp.StopLoad())
	}
	r.Tally = sumTallies(tallies)
	r.Ticks.ds = f.ticks.ds
	f.closeLeader(r, hang)
	r.check(kept, "every replica kept its weights while etcd was away", "%v before, %v at its end", before, weights(f.replicas))
	r.check(r.Tally.Failed == 0, "no call failed", "%d failed: %v", r.Tally.Failed, r.Tally.Errors)
	st := f.leader.Status()
	r.check(st.Source.Lost == 0, "no report lost", "%d lost", st.Source.Lost)
	r.note("leader: %d terms, term %d; receiver took %d alerts", st.Terms, st.Term, f.receiver.Got.Load())
	return nil
}

// alert pauses and resumes the rollout through etcd, two alerts for the
// receiver, and waits until it has taken the first.
func (f *fleetRun) alert(ctx context.Context, env Env) error {
	ctrl := f.leader.Controller()
	for _, a := range []sentinel.Action{sentinel.ActionPause, sentinel.ActionResume} {
		if _, err := ctrl.Do(ctx, fleet.Command{Action: a, Who: "chaos", Reason: "an alert for the receiver"}); err != nil {
			return err
		}
	}
	if _, err := waitFor(ctx, env.Wait, "an alert at the receiver", func() bool { return f.receiver.Got.Load() > 0 }); err != nil {
		return err
	}
	return sleep(ctx, env.Phase)
}

// recover starts etcd again and waits until the leader leads in a new
// term and commits, and every replica has sent what it held.
func (f *fleetRun) recover(ctx context.Context, env Env, r *Result, hang bool) error {
	st := f.leader.Status()
	r.at("etcd started")
	if err := f.etcd.Restart(); err != nil {
		return err
	}
	back, err := waitFor(ctx, env.Wait, "the leader leading and committing again", func() bool {
		now := f.leader.Status()
		return now.Leading && now.Terms > st.Terms && now.Writes > st.Writes
	})
	if err != nil {
		return err
	}
	r.figure("leader", back)
	if hang {
		r.check(f.receiver.InFlight.Load() > 0, "the leader recovered while the receiver held an alert", "%d held", f.receiver.InFlight.Load())
	}
	sent, err := waitFor(ctx, env.Wait, "every replica's held reports sent", func() bool {
		return !slices.ContainsFunc(f.replicas, func(rp *Replica) bool { return rp.Reporter.Status().Pending })
	})
	r.figure("reports", back+sent)
	return err
}

// closeLeader closes the leader and checks its bound: two etcd timeouts
// and the sentinel's close timeout, with ten seconds to spare for a busy
// machine.
func (f *fleetRun) closeLeader(r *Result, hang bool) {
	start := time.Now()
	err := f.leader.Close()
	took := time.Since(start)
	f.cancel()
	f.cancel = nil
	r.figure("Close", took)
	bound := 2*etcdTimeout + closeTimeout
	r.check(took <= bound+10*time.Second, "the leader's Close returns within its bound", "%v, bound %v", took.Round(time.Millisecond), bound)
	var se *sentinel.ShutdownError
	if hang {
		r.check(errors.As(err, &se) && len(se.Undelivered) > 0, "Close names the alerts it could not deliver", "%s", describe(err))
	} else {
		r.check(err == nil, "Close delivered every alert", "%s", describe(err))
	}
}
