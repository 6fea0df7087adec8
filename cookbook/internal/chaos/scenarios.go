package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
)

// instances is how many servers each version has in a scenario.
const instances = 3

// candidateShare is the candidate's weight while a scenario's faults
// strike: 20 %, held (its next step is ten minutes away).
const candidateShare = 2000

// Scenarios are the chaos scenarios, in the order make chaos runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "kill and restart every candidate server", Run: killCandidates},
		{Name: "kill one baseline server", Run: killBaseline},
		{Name: "hang the candidate, shadow on, rescue on", Run: func(ctx context.Context, env Env, r *Result) error {
			return hangCandidate(ctx, env, r, true)
		}},
		{Name: "hang the candidate, shadow on, no rescue", Run: func(ctx context.Context, env Env, r *Result) error {
			return hangCandidate(ctx, env, r, false)
		}},
		{Name: "etcd down longer than the lease, fleet of 5", Run: func(ctx context.Context, env Env, r *Result) error {
			return etcdOutage(ctx, env, r, false)
		}},
		{Name: "etcd down longer than the lease, alert receiver hangs", Run: func(ctx context.Context, env Env, r *Result) error {
			return etcdOutage(ctx, env, r, true)
		}},
	}
}

// process is a scenario's client process under load: its servers, its
// stack, its load and its sentinel's ticks.
type process struct {
	servers *Servers
	stack   *Stack
	load    *Load
	ticks   *Ticker
	stop    func() Tally
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// startProcess starts the servers and a client process under load, and
// waits until the candidate has its share and every endpoint is READY.
func startProcess(ctx context.Context, env Env, r *Result, rescue bool) (*process, error) {
	servers, err := StartServers(env.Bin, demoserver.VersionSpec{Version: Baseline, Count: instances},
		demoserver.VersionSpec{Version: Candidate, Count: instances, Seed: 100})
	if err != nil {
		return nil, err
	}
	p := &process{servers: servers, ticks: &Ticker{}}
	p.stack, err = NewStack(StackConfig{Target: servers.Target(), Rescue: rescue, Steps: []int{candidateShare, 10000},
		MinStep: 10 * time.Minute, Logger: env.Logger})
	if err != nil {
		servers.Stop()
		return nil, err
	}
	p.load = NewLoad(p.stack.Conn, env.Rate, env.CallTimeout, 1)
	p.stop = p.load.Start()
	tctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	if err := p.rollout(ctx, tctx, env); err != nil {
		p.finish(r)
		return nil, err
	}
	return p, nil
}

// rollout warms the candidate up once every endpoint is READY, as a
// service does before a rollout, then starts the sentinel's ticks, and
// waits until the candidate has had its share for a phase.
func (p *process) rollout(ctx, tctx context.Context, env Env) error {
	if _, err := waitFor(ctx, env.Wait, "every endpoint READY", func() bool { return p.ready(Baseline) && p.ready(Candidate) }); err != nil {
		return err
	}
	rep, err := warmup.Version(ctx, p.stack.Conn, p.stack.Split, Candidate, warmup.Config{Calls: []warmup.CallFunc{getItem},
		SuccessesInRow: 200, MaxAttempts: 1000, Timeout: env.Wait})
	if err != nil {
		return err
	}
	if !rep.Passed {
		return fmt.Errorf("ninelives: chaos: the candidate's warm-up failed: %+v", rep.Endpoints)
	}
	p.wg.Go(func() { p.ticks.Tick(tctx, p.stack.Sentinel, time.Second) })
	if _, err := waitFor(ctx, env.Wait, "the candidate at 20 %", func() bool { return p.stack.Split.Weight(Candidate) == candidateShare }); err != nil {
		return err
	}
	if err := sleep(ctx, env.Phase); err != nil {
		return err
	}
	if p.stack.Split.Weight(Candidate) != candidateShare {
		return fmt.Errorf("ninelives: chaos: the sentinel took the healthy candidate's share away before the fault (a false rollback on a busy machine?): %s", p.verdict())
	}
	return nil
}

// getItem is the warm-up's call.
func getItem(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warm-up"})
	return err
}

// seen waits until the client sees the crash (version has left READY
// endpoints) and marks the load then.
func (p *process) seen(ctx context.Context, env Env, r *Result, version string, left int) error {
	took, err := waitFor(ctx, env.Wait, "the client seeing the crash", func() bool {
		return len(p.stack.Split.ReadyEndpoints(version)) <= left
	})
	p.load.Mark()
	r.figure("seen", took)
	return err
}

// verdict says where the sentinel stands: its last decision and its
// judge's verdict, test by test.
func (p *process) verdict() string {
	st := p.stack.Sentinel.Status()
	out := fmt.Sprintf("phase %s, step %d", st.Phase, st.Step)
	if d := st.LastDecision; d != nil {
		out += fmt.Sprintf(", last decision %s: %s", d.Action, d.Reason)
	}
	for _, v := range st.Verdict.Tests {
		out += fmt.Sprintf("; %s %s: %s", v.Test, v.Outcome, v.Reason)
	}
	return out
}

// ready reports whether every endpoint of version is READY.
func (p *process) ready(version string) bool {
	return len(p.stack.Split.ReadyEndpoints(version)) == p.servers.Count(version)
}

// finish stops the load and the ticks, closes the client and the
// servers, and keeps the tally and the tick times in r.
func (p *process) finish(r *Result) {
	p.once.Do(func() {
		r.Tally = p.stop()
		p.cancel()
		p.wg.Wait()
		p.stack.Close()
		p.servers.Stop()
		r.Ticks.ds = p.ticks.ds
	})
}

// crash kills the instances which of version under load, waits until the
// client has seen it and a phase more, and starts them again: it returns
// when they are READY, and when it crashed and restarted them.
func (p *process) crash(ctx context.Context, env Env, r *Result, version string, which ...int) (crashed, restarted time.Time, err error) {
	r.at("crash")
	crashed = time.Now()
	for _, i := range which {
		p.servers.Kill(version, i)
	}
	if err := p.seen(ctx, env, r, version, p.servers.Count(version)-len(which)); err != nil {
		return crashed, restarted, err
	}
	if err := sleep(ctx, env.Phase); err != nil {
		return crashed, restarted, err
	}
	r.at("restart")
	restarted = time.Now()
	for _, i := range which {
		if err := p.servers.Restart(version, i); err != nil {
			return crashed, restarted, err
		}
	}
	back, err := waitFor(ctx, env.Wait, version+" READY again", func() bool { return p.ready(version) })
	r.figure(version+" READY", back)
	return crashed, restarted, err
}

// checkCrash checks that no call begun after the client saw the crash
// failed, and none of a safe method if safe.
func checkCrash(r *Result, safe bool) {
	t := r.Tally
	if safe {
		r.check(t.FailedSafe == 0, "no call of a safe method failed", "%d failed: %v", t.FailedSafe, t.Errors)
	}
	r.check(t.Failed == t.FailedBefore, "no call begun after the client saw the crash failed", "%d failed, %d of them before: %v",
		t.Failed, t.FailedBefore, t.Errors)
}

// killCandidates crashes every candidate server under load, then starts
// them again: the baseline serves every call meanwhile, the rescue
// interceptor answers the safe calls the candidate was serving, and the
// candidate serves again once it is back, unless the sentinel rolled it
// back for the calls the crash failed.
func killCandidates(ctx context.Context, env Env, r *Result) error {
	p, err := startProcess(ctx, env, r, true)
	if err != nil {
		return err
	}
	defer p.finish(r)
	crashed, restarted, err := p.crash(ctx, env, r, Candidate, 0, 1, 2)
	if err != nil {
		return err
	}
	rolledBack := func() bool { _, ok := p.ticks.First(sentinel.ActionRollback, crashed); return ok }
	if _, err := waitFor(ctx, env.Wait, "the candidate serving again", func() bool {
		return p.load.ServedSince(Candidate, restarted) || rolledBack()
	}); err != nil {
		return err
	}
	if rolledBack() {
		r.note("the sentinel rolled the crashed candidate back: %s", p.verdict())
	} else {
		r.figure("serving", time.Since(restarted))
	}
	if err := sleep(ctx, env.Phase); err != nil {
		return err
	}
	p.finish(r)
	checkCrash(r, true)
	r.note("phase %s; rescued %d", p.ticks.Phase(), p.stack.Rescue.Stats().Rescued)
	return nil
}

// killBaseline crashes one baseline server under load and starts it again:
// the other two serve its share.
func killBaseline(ctx context.Context, env Env, r *Result) error {
	p, err := startProcess(ctx, env, r, true)
	if err != nil {
		return err
	}
	defer p.finish(r)
	if _, _, err := p.crash(ctx, env, r, Baseline, 0); err != nil {
		return err
	}
	if err := sleep(ctx, env.Phase); err != nil {
		return err
	}
	p.finish(r)
	checkCrash(r, false)
	r.note("phase %s", p.ticks.Phase())
	return nil
}

// hangCandidate makes every candidate server hang under load with shadow
// copies on: the sentinel rolls back, the shadow's copies in flight stay
// within their bound, and with the rescue interceptor no call of a safe
// method fails.
func hangCandidate(ctx context.Context, env Env, r *Result, rescue bool) error {
	p, err := startProcess(ctx, env, r, rescue)
	if err != nil {
		return err
	}
	defer p.finish(r)
	maxShadow := p.watchShadow(ctx)
	p.load.Mark()
	hung := time.Now()
	r.at("hang")
	if err := p.servers.SetFaults(Candidate, demoserver.Faults{Hang: true}); err != nil {
		return err
	}
	rolled, err := waitFor(ctx, env.Wait, "the rollback", func() bool { _, ok := p.ticks.First(sentinel.ActionRollback, hung); return ok })
	if err != nil {
		return fmt.Errorf("%w; the sentinel: %s", err, p.verdict())
	}
	r.figure("rollback", rolled)
	if err := sleep(ctx, env.Phase); err != nil {
		return err
	}
	if err := p.servers.SetFaults(Candidate, demoserver.Faults{}); err != nil {
		return err
	}
	p.finish(r)
	p.checkHang(r, maxShadow())
	return nil
}

// checkHang checks the hang's outcome: no safe call failed with the
// rescue interceptor, and the shadow kept to its bound.
func (p *process) checkHang(r *Result, maxShadow int) {
	t := r.Tally
	if rs := p.stack.Rescue; rs != nil {
		st := rs.Stats()
		r.check(t.FailedSafe == 0, "no call of a safe method failed", "%d failed: %v", t.FailedSafe, t.Errors)
		r.note("rescued %d (hedged %d), throttled %d; unsafe calls failed: %d", st.Rescued, st.Hedged, st.Throttled, t.Failed-t.FailedSafe)
	} else {
		r.note("failed: %d (%d safe): %v", t.Failed, t.FailedSafe, t.Errors[:min(len(t.Errors), 2)])
	}
	r.check(maxShadow <= shadowBound, "the shadow's copies in flight stay within their bound", "at most %d in flight, bound %d",
		maxShadow, shadowBound)
	r.note("shadow: at most %d copies in flight (bound %d), dropped %v", maxShadow, shadowBound, p.stack.Shadow.Stats().Dropped)
}

// shadowBound is the shadow's default MaxConcurrent.
const shadowBound = 64

// watchShadow samples the shadow's copies in flight every 10 ms until the
// process finishes, and returns the most seen.
func (p *process) watchShadow(ctx context.Context) func() int {
	var mu sync.Mutex
	most := 0
	ctx, cancel := context.WithCancel(ctx)
	prev := p.cancel
	p.cancel = func() { cancel(); prev() }
	p.wg.Go(func() {
		for sleep(ctx, 10*time.Millisecond) == nil {
			n := p.stack.Shadow.Stats().InFlight
			mu.Lock()
			most = max(most, n)
			mu.Unlock()
		}
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}
