// Command continuous is the ninelives continuous-delivery recipe: three
// releases in a row on the same client, with no restart and no re-dial.
// The version names are roles: "stable" and "canary" are two sets of
// servers, and a deployment puts a new build behind one or the other. A
// release lifecycle watches which build each serves (every server names
// its build in its health checks), starts a canary rollout when a new
// build is behind "canary", and once a promoted build is deployed behind
// "stable" too, gives "stable" all the traffic back.
//
//	go run ./cookbook/continuous                        # b2 good, b3 bad, b4 good
//	go run ./cookbook/continuous -status-addr 127.0.0.1:8080
//	ninelives status --watch --server http://127.0.0.1:8080/rollout
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/cookbook/internal/deploy"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
	"github.com/ninelives-go/ninelives/telemetry"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:], os.Stdout), os.Stderr)) }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("continuous", flag.ContinueOnError)
	fs.SetOutput(out)
	o := Defaults()
	fs.IntVar(&o.Rate, "rate", o.Rate, "calls per second")
	fs.DurationVar(&o.Tick, "tick", o.Tick, "the time between the lifecycle's rounds")
	fs.StringVar(&o.StatusAddr, "status-addr", "", "serve the status page and control API here (for ninelives status --watch)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "the longest one release may take")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o.Out = out
	res, err := Run(ctx, o)
	if err != nil {
		return err
	}
	for _, r := range res.Releases {
		if r.Good && r.Failed > 0 {
			return fmt.Errorf("ninelives: release %s failed %d calls", r.Build, r.Failed)
		}
	}
	return nil
}

// Release is one release of the run: a build, and whether it is good.
type Release struct {
	Build deploy.Build
	Good  bool
}

// Options are the recipe's settings.
type Options struct {
	Releases []Release
	Rate     int           // calls/s
	Tick     time.Duration // the lifecycle's rounds
	Step     time.Duration // the canary's shortest step
	Settle   time.Duration // a rolling deploy's wait after each change
	Timeout  time.Duration // the longest a release may take
	// CallTimeout is each call's deadline (tests on a busy machine give
	// more than the default 2 s, so that a starved test does not count a
	// slow call as a release's failure).
	CallTimeout time.Duration
	StatusAddr  string
	Out         io.Writer
}

// Defaults are the settings of `go run ./cookbook/continuous`: build b1
// everywhere, then b2 (good), b3 (a fifth of its calls fail) and b4 (good).
func Defaults() Options {
	return Options{
		Releases: []Release{
			{Build: deploy.Build{Name: "b2"}, Good: true},
			{Build: deploy.Build{Name: "b3", Faults: demoserver.Faults{ErrorRate: 0.2}}},
			{Build: deploy.Build{Name: "b4"}, Good: true},
		},
		Rate: 300, Tick: time.Second, Step: 3 * time.Second, Settle: 500 * time.Millisecond, Timeout: 2 * time.Minute,
		CallTimeout: 2 * time.Second,
	}
}

// Result is what a run did.
type Result struct {
	Releases []ReleaseResult
	// Conns is the number of client connections the run dialed: one.
	Conns int
}

// ReleaseResult is one release: how it ended, and the calls made while it
// went on (from its deploy behind canary to its rollback or finalization).
type ReleaseResult struct {
	Build        string
	Good         bool
	Outcome      sentinel.Phase
	Finalized    bool
	Calls        int64
	Failed       int64
	CanaryServed int64
	Took         time.Duration
	// Errors are the first errors of the failed calls.
	Errors []string
}

// Run runs the recipe.
func Run(ctx context.Context, o Options) (*Result, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	cluster, err := deploy.Start([]string{"stable", "canary"}, deploy.Build{Name: "b1"}, 2, o.Settle)
	if err != nil {
		return nil, err
	}
	defer cluster.Stop()

	// The client, as a service's client process runs it for its life: one
	// Split, one connection, telemetry, a sentinel and its release
	// lifecycle.
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: balancer.TotalWeight}, balancer.Weight{Version: "canary"})
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer mp.Shutdown(context.Background())
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	stopObs, err := metrics.Instrument(split)
	if err != nil {
		return nil, err
	}
	defer stopObs()
	cc, err := grpc.NewClient(cluster.Target("stable", "canary"), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	cc.Connect()

	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: o.Step, MinStepCalls: 100})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sentinel.New(split, src, strategy, sentinel.WithVersions("stable", "canary"), sentinel.WithDecisionRecorder(metrics),
		sentinel.WithJudge(judge.Config{Errors: judge.ErrorConfig{MinStepCalls: 100}, Latency: judge.LatencyConfig{MinStepCalls: 100}}),
		sentinel.WithLogger(quiet))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	prober, err := release.NewProber(cc, split, 0) // asks each endpoint its build
	if err != nil {
		return nil, err
	}
	life, err := release.New(s, prober, release.WithInterval(o.Tick), release.WithLogger(quiet))
	if err != nil {
		return nil, err
	}
	stopPage, err := servePage(life, o.StatusAddr, out)
	if err != nil {
		return nil, err
	}
	defer stopPage()
	lctx, stopLife := context.WithCancel(ctx)
	var lifeDone sync.WaitGroup
	lifeDone.Go(func() { _ = life.Run(lctx) })
	defer func() { stopLife(); lifeDone.Wait() }()

	return drive(ctx, o, cluster, cc, life, out)
}

// servePage serves the lifecycle's status page and control API at addr
// (none when addr is empty), printing where and the token.
func servePage(life *release.Lifecycle, addr string, out io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	token := statuspage.NewToken()
	h, err := statuspage.New(life, token, statuspage.WithTitle("ninelives: continuous delivery"))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/rollout/", http.StripPrefix("/rollout", h))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis)
	fmt.Fprintf(out, "status page: http://%s/rollout/ (NINELIVES_TOKEN=%s for the controls)\n", lis.Addr(), token)
	return func() { srv.Close() }, nil
}

// drive deploys each release behind canary, waits for its rollout to end,
// deploys a promoted build behind stable and waits for the finalization,
// while the load counts each release's calls.
func drive(ctx context.Context, o Options, cluster *deploy.Cluster, cc *grpc.ClientConn, life *release.Lifecycle, out io.Writer) (*Result, error) {
	counts := newCounter(len(o.Releases))
	lctx, stopLoad := context.WithCancel(ctx)
	var loadDone sync.WaitGroup
	load := demo.NewLoad(cc, o.Rate, 1)
	load.SetCallTimeout(o.CallTimeout)
	loadDone.Go(func() { counts.run(lctx, load) })
	defer func() { stopLoad(); loadDone.Wait() }()

	res := &Result{Conns: 1}
	view := &watcher{out: out, life: life, cluster: cluster}
	if err := view.until(ctx, o.Timeout, func(r release.Status) bool { return r.Stage == release.StageWaiting && r.Note != "" }); err != nil {
		return nil, err
	}
	for i, rel := range o.Releases {
		start := time.Now()
		counts.current.Store(int64(i))
		fmt.Fprintf(out, "\nrelease %d: build %s goes behind canary\n", i+1, rel.Build.Name)
		r, err := oneRelease(ctx, o, i, rel, cluster, view)
		if err != nil {
			return res, err
		}
		counts.current.Store(-1)
		r.Calls, r.Failed, r.CanaryServed, r.Errors = counts.of(i)
		r.Took = time.Since(start)
		res.Releases = append(res.Releases, r)
	}
	summary(out, res)
	return res, nil
}

// oneRelease runs one release to its end.
func oneRelease(ctx context.Context, o Options, i int, rel Release, cluster *deploy.Cluster, view *watcher) (ReleaseResult, error) {
	r := ReleaseResult{Build: rel.Build.Name, Good: rel.Good}
	ended := func(st release.Status) bool { return st.Number == i+1 && st.Stage != release.StageRolling }
	if err := deployWhile(ctx, o, cluster, "canary", rel.Build, view, ended); err != nil {
		return r, err
	}
	r.Outcome = view.life.Status().Phase
	if r.Outcome != sentinel.PhasePromoted {
		return r, nil
	}
	fmt.Fprintf(view.out, "build %s was promoted; it goes behind stable too\n", rel.Build.Name)
	finalized := func(st release.Status) bool { return st.Number == i+1 && st.Stage == release.StageWaiting }
	if err := deployWhile(ctx, o, cluster, "stable", deploy.Build{Name: rel.Build.Name}, view, finalized); err != nil {
		return r, err
	}
	r.Finalized = view.life.Status().ChangeAction == release.ActionFinalize
	return r, nil
}

// deployWhile deploys b behind version while the view shows the
// lifecycle, until done holds and the deploy is over.
func deployWhile(ctx context.Context, o Options, cluster *deploy.Cluster, version string, b deploy.Build, view *watcher,
	done func(release.Status) bool) error {
	deployed := make(chan error, 1)
	go func() { deployed <- cluster.Deploy(ctx, version, b) }()
	if err := view.until(ctx, o.Timeout, done); err != nil {
		<-deployed
		return err
	}
	return <-deployed
}

// counter counts the load's calls by release.
type counter struct {
	current atomic.Int64 // the release under way; -1 between
	mu      sync.Mutex
	calls   []demo.LoadStats
}

func newCounter(n int) *counter {
	c := &counter{calls: make([]demo.LoadStats, n)}
	c.current.Store(-1)
	return c
}

// run makes the load's calls a quarter second at a time until ctx ends,
// counting each quarter's into the release under way when it began: a
// quarter that ends in the next release began before the next build could
// get any traffic (its deploy behind canary takes longer).
func (c *counter) run(ctx context.Context, load *demo.Load) {
	for ctx.Err() == nil {
		i := c.current.Load()
		st := load.Interval(ctx, 250*time.Millisecond, true)
		if i < 0 {
			continue
		}
		c.mu.Lock()
		t := &c.calls[i]
		t.Calls, t.Failed = t.Calls+st.Calls, t.Failed+st.Failed
		t.Errors = append(t.Errors, st.Errors...)
		if t.Served == nil {
			t.Served = map[string]int64{}
		}
		t.Served["canary"] += st.Served["canary"]
		c.mu.Unlock()
	}
}

func (c *counter) of(i int) (calls, failed, canary int64, errs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.calls[i]
	return t.Calls, t.Failed, t.Served["canary"], t.Errors[:min(len(t.Errors), 5)]
}
