package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// SoakConfig are the soak's settings.
type SoakConfig struct {
	// Bin is the demofleet program, Dir a scratch directory.
	Bin, Dir string
	// Duration is how long the soak runs, Every how often it samples,
	// Warmup after how long the samples must stay flat.
	Duration, Every, Warmup time.Duration
	// Rate is the calls/s of the client process, and of the fleet over
	// its replicas.
	Rate   int
	Logger *slog.Logger
	// Progress gets a line per sample (nil: none).
	Progress io.Writer
}

// SoakSample is what the soak's process held at a sample, and how far the
// rollouts had come.
type SoakSample struct {
	At time.Duration
	Sample
	// EtcdBytes is the size of etcd's database, EtcdInUse the part of it
	// in use.
	EtcdBytes, EtcdInUse int64
	Process, Fleet       Rollouts
}

// Rollouts counts a setup's rollouts by how they ended, and its calls.
type Rollouts struct {
	Promoted, RolledBack int
	// Wrong counts the good builds rolled back and the bad ones promoted.
	Wrong         int
	Calls, Failed int64
}

// Soak runs release after release, good and bad in turn, in a client
// process and in a fleet of five replicas on embedded etcd, for
// cfg.Duration, and samples the process every cfg.Every.
func Soak(ctx context.Context, cfg SoakConfig) ([]SoakSample, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "etcd")
	if err != nil {
		return nil, err
	}
	etcd, err := fleettest.Start(dir)
	if err != nil {
		return nil, err
	}
	defer etcd.Stop()
	client, err := fleettest.Client(etcd.Endpoint())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	proc, err := soakProcess(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer proc.close()
	fl, err := soakFleet(ctx, cfg, etcd.Endpoint())
	if err != nil {
		return nil, err
	}
	defer fl.close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	errs := make(chan error, 2)
	for _, s := range []*soakSetup{proc, fl} {
		go func() { errs <- s.drive(ctx) }()
	}
	samples := sampleEvery(ctx, cfg, client, etcd.Endpoint(), proc, fl)
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			return samples, err
		}
	}
	return samples, nil
}

// sampleEvery samples until ctx ends: at the start, then every cfg.Every.
func sampleEvery(ctx context.Context, cfg SoakConfig, client *clientv3.Client, endpoint string, proc, fl *soakSetup) []SoakSample {
	start := time.Now()
	var out []SoakSample
	for {
		s := SoakSample{At: time.Since(start).Round(time.Second), Sample: floor(ctx)}
		s.Process, s.Fleet = proc.rollouts(), fl.rollouts()
		s.EtcdBytes, s.EtcdInUse = etcdSize(client, endpoint)
		if n := len(out); s.EtcdBytes == 0 && n > 0 { // etcd did not answer in time: its last size
			s.EtcdBytes, s.EtcdInUse = out[n-1].EtcdBytes, out[n-1].EtcdInUse
		}
		out = append(out, s)
		if cfg.Progress != nil {
			fmt.Fprintln(cfg.Progress, row(s))
		}
		if sleep(ctx, cfg.Every) != nil {
			return out
		}
	}
}

// floor is the least of five samples of the process a second apart, each
// figure apart: what the calls in flight at one moment hold does not pass
// for growth, and what leaks raises the floor.
func floor(ctx context.Context) Sample {
	low := Take()
	for range 4 {
		if sleep(ctx, time.Second) != nil {
			break
		}
		s := Take()
		low = Sample{Goroutines: min(low.Goroutines, s.Goroutines), HeapBytes: min(low.HeapBytes, s.HeapBytes), FDs: min(low.FDs, s.FDs)}
	}
	return low
}

// etcdSize is the size of etcd's database and the part of it in use (0
// when etcd does not answer within 5 s).
func etcdSize(client *clientv3.Client, endpoint string) (size, inUse int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := client.Status(ctx, endpoint)
	if err != nil {
		return 0, 0
	}
	return st.DbSize, st.DbSizeInUse
}

// soakSetup is one setup of the soak: its servers, the deployment that
// says which build each version serves, and where its lifecycle stands.
type soakSetup struct {
	name    string
	servers *Servers
	dep     *deployment
	// view returns where the lifecycle stands and the rollout's phase;
	// ok is false while it is not known (a fleet without a leader).
	view  func() (st release.Status, phase sentinel.Phase, ok bool)
	tally func() Tally
	close func()

	mu     sync.Mutex
	counts Rollouts
}

func (s *soakSetup) rollouts() Rollouts {
	s.mu.Lock()
	c := s.counts
	s.mu.Unlock()
	t := s.tally()
	c.Calls, c.Failed = t.Calls, t.Failed
	return c
}

// rolloutWait bounds one rollout of the soak.
const rolloutWait = 5 * time.Minute

// drive releases builds b2, b3, … until ctx ends: the even ones good, the
// odd ones failing 5 % of their calls.
func (s *soakSetup) drive(ctx context.Context) error {
	for n := 2; ; n++ {
		err := s.rollout(ctx, n)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ninelives: soak: %s: %w", s.name, err)
		}
	}
}

// rollout deploys build n behind the candidate and waits for its end;
// once it is promoted, it deploys it behind the baseline too and waits
// until the lifecycle has finalized it.
func (s *soakSetup) rollout(ctx context.Context, n int) error {
	build, bad := fmt.Sprintf("b%d", n), n%2 == 1
	var faults demoserver.Faults
	if bad {
		faults.ErrorRate = 0.05
	}
	if err := s.servers.SetFaults(Candidate, faults); err != nil {
		return err
	}
	s.dep.set(Candidate, build)
	var phase sentinel.Phase
	if _, err := waitFor(ctx, rolloutWait, "the rollout of "+build, func() bool {
		st, p, ok := s.view()
		phase = p
		return ok && st.Build == build && st.Stage != release.StageRolling
	}); err != nil {
		return err
	}
	s.count(phase, bad)
	if phase != sentinel.PhasePromoted {
		return nil
	}
	s.dep.set(Baseline, build)
	_, err := waitFor(ctx, rolloutWait, "the finalization of "+build, func() bool {
		st, _, ok := s.view()
		return ok && st.Stage == release.StageWaiting
	})
	return err
}

func (s *soakSetup) count(phase sentinel.Phase, bad bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	promoted := phase == sentinel.PhasePromoted
	if promoted {
		s.counts.Promoted++
	} else {
		s.counts.RolledBack++
	}
	if promoted == bad {
		s.counts.Wrong++
	}
}

// deployment is the soak's deployment system: the build behind each
// version, every endpoint serving it.
type deployment struct {
	mu        sync.Mutex
	builds    map[string]string
	endpoints int
}

func newDeployment(endpoints int) *deployment {
	return &deployment{builds: map[string]string{Baseline: "b1", Candidate: "b1"}, endpoints: endpoints}
}

func (d *deployment) set(version, build string) {
	d.mu.Lock()
	d.builds[version] = build
	d.mu.Unlock()
}

// Builds implements release.BuildSource.
func (d *deployment) Builds(context.Context) (release.Builds, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := release.Builds{}
	for v, b := range d.builds {
		out[v] = release.VersionBuilds{Endpoints: d.endpoints, Builds: map[string]int{b: d.endpoints}}
	}
	return out, nil
}

// soakSteps are the soak's canary steps, each at least soakStep long.
var soakSteps = []int{2000, 5000, 10000}

const soakStep = 5 * time.Second

// soakProcess is the client process of the soak: the whole stack, its
// sentinel driven by a release lifecycle.
func soakProcess(ctx context.Context, cfg SoakConfig) (_ *soakSetup, err error) {
	s := &soakSetup{name: "process", dep: newDeployment(2)}
	if s.servers, err = soakServers(cfg.Bin); err != nil {
		return nil, err
	}
	stack, err := NewStack(StackConfig{Target: s.servers.Target(), Rescue: true, Steps: soakSteps, MinStep: soakStep, Logger: cfg.Logger})
	if err != nil {
		s.servers.Stop()
		return nil, err
	}
	life, err := release.New(stack.Sentinel, s.dep, release.WithInterval(time.Second), release.WithLogger(cfg.Logger))
	if err != nil {
		stack.Close()
		s.servers.Stop()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = life.Run(ctx) })
	load := NewLoad(stack.Conn, cfg.Rate, 2*time.Second, 7)
	stop := load.Start()
	s.view = func() (release.Status, sentinel.Phase, bool) { return life.Release(), life.Status().Phase, true }
	s.tally = load.Tally
	s.close = func() { stop(); cancel(); wg.Wait(); stack.Close(); s.servers.Stop() }
	return s, nil
}

// soakServers are a setup's servers: two of each version.
func soakServers(bin string) (*Servers, error) {
	return StartServers(bin, demoserver.VersionSpec{Version: Baseline, Count: 2}, demoserver.VersionSpec{Version: Candidate, Count: 2, Seed: 100})
}

// soakFleet is the fleet of the soak: five replicas sharing cfg.Rate, and
// a leader running release after release.
func soakFleet(ctx context.Context, cfg SoakConfig, endpoint string) (_ *soakSetup, err error) {
	s := &soakSetup{name: "fleet", dep: newDeployment(2)}
	var closers []func()
	s.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.servers, err = soakServers(cfg.Bin); err != nil {
		return nil, err
	}
	closers = append(closers, s.servers.Stop)
	opts := []fleet.Option{fleet.WithTTL(5 * time.Second), fleet.WithTimeout(time.Second), fleet.WithLogger(cfg.Logger)}
	var rs []*Replica
	for i := range replicas {
		r, err := NewReplica(ctx, fmt.Sprintf("replica-%d", i), s.servers.Target(), []string{endpoint}, cfg.Rate/replicas, 2*time.Second, opts)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
		closers = append(closers, r.Close)
	}
	s.tally = func() Tally {
		var ts []Tally
		for _, r := range rs {
			ts = append(ts, r.Load.Tally())
		}
		return sumTallies(ts)
	}
	return s, s.lead(ctx, cfg, endpoint, opts, &closers)
}

// lead starts the fleet's leader, which runs the lifecycle.
func (s *soakSetup) lead(ctx context.Context, cfg SoakConfig, endpoint string, opts []fleet.Option, closers *[]func()) error {
	c, err := fleettest.Client(endpoint)
	if err != nil {
		return err
	}
	*closers = append(*closers, func() { _ = c.Close() })
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: soakSteps, MinStepDuration: soakStep})
	if err != nil {
		return err
	}
	l, err := fleet.NewLeader(c, prefix, "sentinel-a", initial, strategy,
		append(opts, fleet.WithRelease(s.dep), fleet.WithSentinelOptions(sentinel.WithLogger(cfg.Logger), sentinel.WithJudge(judgeOf(false))))...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { Lead(ctx, l, time.Second, nil) })
	*closers = append(*closers, func() { cancel(); wg.Wait(); _ = l.Close() })
	s.view = func() (release.Status, sentinel.Phase, bool) {
		st := l.Status()
		if st.Release == nil || st.Sentinel == nil {
			return release.Status{}, "", false
		}
		return *st.Release, st.Sentinel.Phase, true
	}
	return nil
}
