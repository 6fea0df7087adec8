package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
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
	// Rate is the soak's calls/s: half through the client process, half
	// over the fleet's replicas.
	Rate   int
	Logger *slog.Logger
	// Progress gets a line per sample (nil: none).
	Progress io.Writer
	// EtcdExe, if set, runs etcd in a process of its own (see
	// EtcdProcess); otherwise it runs in this one.
	EtcdExe string
	// HeapProfile, if set, is where a heap profile is written at each
	// sample, numbered: HeapProfile.00, .01, … (compare two with go tool
	// pprof -base).
	HeapProfile string
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
	// Errors are the first few errors of the calls.
	Errors []string
}

// Soak runs release after release, good and bad in turn, in a client
// process and in a fleet of five replicas on embedded etcd, for
// cfg.Duration, and samples the process every cfg.Every.
func Soak(ctx context.Context, cfg SoakConfig) ([]SoakSample, error) {
	endpoint, stop, err := soakEtcd(cfg)
	if err != nil {
		return nil, err
	}
	defer stop()
	client, err := fleettest.Client(endpoint)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	proc, err := soakProcess(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer proc.close()
	fl, err := soakFleet(ctx, cfg, endpoint)
	if err != nil {
		return nil, err
	}
	defer fl.close()
	return soak(ctx, cfg, client, endpoint, proc, fl)
}

// soakEtcd starts the soak's etcd: in a process of its own if
// cfg.EtcdExe is set, in this one otherwise.
func soakEtcd(cfg SoakConfig) (endpoint string, stop func(), err error) {
	if cfg.EtcdExe == "" {
		srv, err := startEtcd(cfg.Dir)
		if err != nil {
			return "", nil, err
		}
		return srv.Endpoint(), srv.Stop, nil
	}
	dir, err := os.MkdirTemp(cfg.Dir, "etcd")
	if err != nil {
		return "", nil, err
	}
	p, err := StartEtcdProcess(cfg.EtcdExe, dir)
	if err != nil {
		return "", nil, err
	}
	return p.Endpoint, p.Stop, nil
}

// soak drives both setups' releases for cfg.Duration and samples.
func soak(ctx context.Context, cfg SoakConfig, client *clientv3.Client, endpoint string, proc, fl *soakSetup) ([]SoakSample, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	errs := make(chan error, 2)
	for _, s := range []*soakSetup{proc, fl} {
		go func() {
			err := s.drive(ctx)
			if err != nil {
				cancel() // a stuck rollout ends the soak
			}
			errs <- err
		}()
	}
	samples := sampleEvery(ctx, cfg, client, endpoint, proc, fl)
	cancel()
	var err error
	for range 2 {
		err = errors.Join(err, <-errs)
	}
	return samples, err
}

// startEtcd starts a one-member etcd with its data in a new directory
// under dir.
func startEtcd(dir string) (*fleettest.Server, error) {
	d, err := os.MkdirTemp(dir, "etcd")
	if err != nil {
		return nil, err
	}
	return fleettest.Start(d)
}

// sampleEvery samples until ctx ends: at the start, then every cfg.Every.
func sampleEvery(ctx context.Context, cfg SoakConfig, client *clientv3.Client, endpoint string, proc, fl *soakSetup) []SoakSample {
	start := time.Now()
	var out []SoakSample
	for {
		s := SoakSample{At: time.Since(start).Round(time.Second), Sample: quiet(proc, fl)}
		s.Process, s.Fleet = proc.rollouts(), fl.rollouts()
		s.EtcdBytes, s.EtcdInUse = etcdSize(client, endpoint)
		if n := len(out); s.EtcdBytes == 0 && n > 0 { // etcd did not answer in time: its last size
			s.EtcdBytes, s.EtcdInUse = out[n-1].EtcdBytes, out[n-1].EtcdInUse
		}
		out = append(out, s)
		if cfg.Progress != nil {
			fmt.Fprintln(cfg.Progress, row(s))
		}
		if cfg.HeapProfile != "" {
			writeHeapProfile(fmt.Sprintf("%s.%02d", cfg.HeapProfile, len(out)-1), cfg.Progress)
		}
		if sleep(ctx, cfg.Every) != nil {
			return out
		}
	}
}

// quiet samples the process with no call in flight: it pauses the loads,
// waits for their calls to end (at most their deadline and a second),
// takes the least of three samples half a second apart, figure by figure,
// and resumes the loads. On a machine too busy for the load, calls queue
// up; what they hold is not what the process keeps.
func quiet(setups ...*soakSetup) Sample {
	var resume []func()
	for _, s := range setups {
		for _, l := range s.loads {
			resume = append(resume, l.Pause(3*time.Second))
		}
	}
	defer func() {
		for _, r := range resume {
			r()
		}
	}()
	low := Take()
	for range 2 {
		time.Sleep(500 * time.Millisecond)
		s := Take()
		low = Sample{Goroutines: min(low.Goroutines, s.Goroutines), HeapBytes: min(low.HeapBytes, s.HeapBytes), FDs: min(low.FDs, s.FDs)}
	}
	return low
}

// writeHeapProfile writes the heap's profile to path, saying on out
// (if not nil) when it cannot.
func writeHeapProfile(path string, out io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
	}
	if err != nil && out != nil {
		fmt.Fprintf(out, "heap profile: %v\n", err)
	}
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
	loads []*Load
	close func()

	mu     sync.Mutex
	counts Rollouts
}

func (s *soakSetup) rollouts() Rollouts {
	s.mu.Lock()
	c := s.counts
	s.mu.Unlock()
	t := s.tally()
	c.Calls, c.Failed, c.Errors = t.Calls, t.Failed, t.Errors
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
	load := NewLoad(stack.Conn, cfg.Rate/2, 2*time.Second, 7)
	stop := load.Start()
	s.view = func() (release.Status, sentinel.Phase, bool) {
		st, rel := life.Snapshot() // one moment: two reads a round apart may tear
		return rel, st.Phase, true
	}
	s.tally, s.loads = load.Tally, []*Load{load}
	s.close = func() { stop(); cancel(); wg.Wait(); stack.Close(); s.servers.Stop() }
	return s, nil
}

// soakServers are a setup's servers: two of each version.
func soakServers(bin string) (*Servers, error) {
	return StartServers(bin, demoserver.VersionSpec{Version: Baseline, Count: 2}, demoserver.VersionSpec{Version: Candidate, Count: 2, Seed: 100})
}

// soakFleet is the fleet of the soak: five replicas sharing half of cfg.Rate, and
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
		r, err := NewReplica(ctx, fmt.Sprintf("replica-%d", i), s.servers.Target(), []string{endpoint}, cfg.Rate/2/replicas, 2*time.Second, opts)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
		closers = append(closers, r.Close)
	}
	for _, r := range rs {
		s.loads = append(s.loads, r.Load)
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
