// Package demo runs the cookbook's recipes: a fleet of demo servers on
// loopback, a client with the ninelives split, shadow traffic and telemetry,
// a load generator and the sentinel, with a live terminal view, a summary
// and an HTML report.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

// Recipe is what differs between the cookbook's programs.
type Recipe struct {
	Name                string // "canary", "bluegreen"
	Baseline, Candidate string
	Instances           int
	// CandidateFaults are the candidate's faults at the start.
	CandidateFaults func(r Regression) demoserver.Faults
	// BaselineFaults are the baseline's faults; nil gives RegressionNone's
	// (BaseLatency a call).
	BaselineFaults func() demoserver.Faults
	// ShadowRate is the share of safe calls copied to the candidate from the
	// start; a strategy may change it.
	ShadowRate float64
	Judge      judge.Config
	// Strategy builds the sentinel's strategy once the client is up.
	Strategy func(env *Env) (sentinel.Strategy, error)
	// OnEvent sees every decision but holds, on the tick loop.
	OnEvent func(env *Env, e sentinel.Event)
	// Describe says in words what the regression does to this recipe's
	// candidate, for the view's header and the report; nil uses
	// Regression.Describe.
	Describe func(r Regression) string
	// Warmup is how many intervals of load the client makes before the
	// sentinel's first tick, as a client runs before a rollout begins.
	Warmup int
}

// DescribeRegression says in words what the regression does to the
// recipe's candidate.
func (rc *Recipe) DescribeRegression(r Regression) string {
	if rc.Describe != nil {
		return rc.Describe(r)
	}
	return r.Describe()
}

// Options are the flags of a recipe's program.
type Options struct {
	Regression  Regression
	Rate        int           // calls/s
	Duration    time.Duration // the longest the run lasts
	Interval    time.Duration // between sentinel ticks
	MetricsAddr string        // serve Prometheus /metrics here if set
	StatusAddr  string        // serve the rollout status page here if set
	Report      string        // write the HTML report here if set
	Out         io.Writer     // the live view; nil for none
	// Virtual runs on a virtual clock: each interval's calls are made as
	// fast as they can be, then the clock moves on. Tests use it.
	Virtual bool
	Seed    uint64
	// Tail is how many ticks the run goes on after a final decision.
	Tail int
	// CallTimeout is the deadline of each of the load's calls; 0: 2 s.
	CallTimeout time.Duration
	// Rescue installs interceptor/rescue: the candidate's failed or hung
	// calls of methods safe to repeat are sent once more to the baseline.
	Rescue bool
}

// Env is what a recipe's strategy and hooks work with.
type Env struct {
	Options Options
	Recipe  *Recipe
	Fleet   *demoserver.Fleet
	Split   *balancer.Split
	Conn    *grpc.ClientConn
	Shadow  *shadow.Interceptor
	Rescue  *rescue.Interceptor // nil unless Options.Rescue
	Metrics *telemetry.Metrics
	Clock   *Clock
}

// Result is what a run did.
type Result struct {
	Recipe     string
	Regression Regression
	Phase      sentinel.Phase
	Ticks      []Tick
	Events     []sentinel.Event // every decision but holds
	Alerts     []sentinel.Event
	Calls      int64 // the load's calls
	Failed     int64
	FailedSafe int64 // of Failed, the calls of methods safe to repeat
	// CandidateCalls counts the primary calls the candidate took before the
	// rollout reached its final phase.
	CandidateCalls int64
	// FinalTick is the tick of the final decision (0 if none).
	FinalTick int
	// Elapsed is how long the run lasted, on its clock.
	Elapsed time.Duration
	// Interrupted reports that the run's context was cancelled (Ctrl-C)
	// before the run ended by itself.
	Interrupted bool
	Status      sentinel.Status
	// Shadow is the shadow traffic's figures at the end of the run.
	Shadow ShadowFigures
	// Rescue is what the rescue interceptor did, nil without one.
	Rescue *rescue.Stats
}

// ShadowFigures are the shadow interceptor's figures, mismatch samples and
// learned noisy fields.
type ShadowFigures struct {
	Stats       shadow.Stats
	Mismatches  []shadow.Mismatch
	NoisyFields map[string][]string
}

// Tick is one row of the live view.
type Tick struct {
	N        int
	At       time.Duration // since the start
	Load     LoadStats
	Summary  sentinel.TickSummary
	Decision sentinel.Event
	Phase    sentinel.Phase
	Step     int
	StepName string
}

// Clock is the sentinel's clock: the wall clock, or a virtual one that the
// run moves by one interval per tick.
type Clock struct {
	mu      sync.Mutex
	virtual bool
	start   time.Time
	now     time.Time
}

// NewClock returns the wall clock, or a virtual clock that only Advance
// moves.
func NewClock(virtual bool) *Clock {
	now := time.Now()
	return &Clock{virtual: virtual, start: now, now: now}
}

// Now implements sentinel.Clock.
func (c *Clock) Now() time.Time {
	if !c.virtual {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Ticker implements sentinel.Clock; the run ticks the sentinel itself.
func (c *Clock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Advance moves a virtual clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Since is the time since the run began.
func (c *Clock) Since() time.Duration { return c.Now().Sub(c.start) }

type alertLog struct {
	mu     sync.Mutex
	events []sentinel.Event
	out    io.Writer
}

func (a *alertLog) Alert(_ context.Context, e sentinel.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	if a.out != nil {
		fmt.Fprintf(a.out, "  ALERT  %s: %s\n", e.Action, e.Reason)
	}
	return nil
}

func (a *alertLog) all() []sentinel.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sentinel.Event(nil), a.events...)
}

// Run runs a recipe to the end and returns what happened.
func Run(ctx context.Context, rc *Recipe, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	// The run fills in defaults on its own copy: the caller's recipe stays
	// as it was.
	rcCopy := *rc
	rc = &rcCopy
	if rc.Instances == 0 {
		rc.Instances = 3
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	clock := NewClock(opts.Virtual)
	env := &Env{Options: opts, Recipe: rc, Clock: clock}

	baseFaults := RegressionNone.Faults()
	if rc.BaselineFaults != nil {
		baseFaults = rc.BaselineFaults()
	}
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: rc.Baseline, Count: rc.Instances, Faults: baseFaults},
		demoserver.VersionSpec{Version: rc.Candidate, Count: rc.Instances, Faults: rc.CandidateFaults(opts.Regression)},
	)
	if err != nil {
		return nil, err
	}
	defer fleet.Stop()
	env.Fleet = fleet

	env.Split, err = balancer.NewSplit(balancer.Weight{Version: rc.Baseline, Weight: balancer.TotalWeight}, balancer.Weight{Version: rc.Candidate})
	if err != nil {
		return nil, err
	}

	// One MeterProvider: the sentinel's delta reader, and /metrics if asked.
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	mpOpts := []sdkmetric.Option{src.Option()}
	var prom *promexport.Exporter
	if opts.MetricsAddr != "" {
		if prom, err = promexport.New(nil); err != nil {
			return nil, err
		}
		mpOpts = append(mpOpts, prom.Option())
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	defer func() { _ = mp.Shutdown(context.Background()) }()
	env.Metrics, err = telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	stopInstr, err := env.Metrics.Instrument(env.Split)
	if err != nil {
		return nil, err
	}
	defer stopInstr()

	env.Shadow, err = shadow.New(shadow.Config{
		Candidate:    rc.Candidate,
		Baseline:     rc.Baseline,
		Rate:         rc.ShadowRate,
		IgnoreFields: []string{"served_by"},
		Metrics:      env.Metrics,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Shadow.Close(context.Background()) }()
	if opts.Rescue {
		env.Rescue, err = rescue.New(rescue.Config{Candidate: rc.Candidate, Baseline: rc.Baseline, Split: env.Split})
		if err != nil {
			return nil, err
		}
	}

	env.Conn, err = grpc.NewClient(fleet.Target(), dialOptions(env)...)
	if err != nil {
		return nil, err
	}
	defer env.Conn.Close()
	if err := waitReady(ctx, env); err != nil {
		return nil, err
	}

	var servers []*http.Server
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	if prom != nil {
		s, addr, err := serve(opts.MetricsAddr, prom.Handler(), "/metrics")
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		fmt.Fprintf(out, "Prometheus metrics: http://%s/metrics\n", addr)
	}

	strategy, err := rc.Strategy(env)
	if err != nil {
		return nil, err
	}
	alerts := &alertLog{out: out}
	sent, err := sentinel.New(env.Split, src, strategy,
		sentinel.WithVersions(rc.Baseline, rc.Candidate),
		sentinel.WithClock(clock),
		sentinel.WithInterval(opts.Interval),
		sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sentinel.WithAlerters(alerts),
		sentinel.WithDecisionRecorder(env.Metrics),
		sentinel.WithJudge(rc.Judge),
	)
	if err != nil {
		return nil, err
	}
	defer sent.Close()
	if opts.StatusAddr != "" {
		// A fresh control token per run, from crypto/rand: the page asks
		// for it before it pauses, resumes, promotes or aborts.
		token := statuspage.NewToken()
		h, err := statusHandler(sent, env.Shadow, rc, token)
		if err != nil {
			return nil, err
		}
		s, addr, err := serve(opts.StatusAddr, h, "/")
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		fmt.Fprintf(out, "Rollout status: http://%s/\n", addr)
		fmt.Fprintf(out, "Control token (pause, resume, promote, abort): %s\n", token)
	}

	res := &Result{Recipe: rc.Name, Regression: opts.Regression}
	load := NewLoad(env.Conn, opts.Rate, opts.Seed)
	if opts.CallTimeout > 0 {
		load.SetCallTimeout(opts.CallTimeout)
	}
	view := newView(out, rc, opts)
	view.header(env)
	for range rc.Warmup {
		res.add(load.Interval(ctx, opts.Interval, !opts.Virtual))
	}
	var lastSeq uint64
	tail := -1
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		stats := load.Interval(ctx, opts.Interval, !opts.Virtual)
		if ctx.Err() != nil {
			// Interrupted in the middle of the interval: its calls count,
			// but the sentinel does not judge a part of a tick.
			res.add(stats)
			res.Interrupted = true
			break
		}
		if opts.Virtual {
			clock.Advance(opts.Interval)
		}
		ev := sent.Tick(ctx)
		st := sent.Status()
		t := Tick{N: n, At: clock.Since(), Load: stats, Decision: ev, Phase: st.Phase, Step: st.Step, StepName: st.StepName}
		if k := len(st.History); k > 0 {
			t.Summary = st.History[k-1]
		}
		res.Ticks = append(res.Ticks, t)
		res.add(stats)
		if res.FinalTick == 0 {
			res.CandidateCalls += t.Summary.Versions[rc.Candidate].Calls
		}
		for _, e := range st.Events {
			if e.Seq > lastSeq {
				lastSeq = e.Seq
				if rc.OnEvent != nil {
					rc.OnEvent(env, e)
				}
			}
		}
		view.tick(t)
		if st.Phase.Final() && res.FinalTick == 0 {
			res.FinalTick = n
			tail = opts.Tail
			// The rollout is over: stop copying calls to the candidate.
			_ = env.Shadow.SetRate(0)
		}
		if tail == 0 || clock.Since() >= opts.Duration {
			break
		}
		if tail > 0 {
			tail--
		}
	}
	res.Elapsed = clock.Since()
	res.Status = sent.Status()
	res.Shadow = ShadowFigures{Stats: env.Shadow.Stats(), Mismatches: env.Shadow.Mismatches(), NoisyFields: env.Shadow.NoisyFields()}
	if env.Rescue != nil {
		st := env.Rescue.Stats()
		res.Rescue = &st
	}
	res.Phase = res.Status.Phase
	res.Events = res.Status.Events
	if err := sent.Close(); err != nil {
		return nil, err
	}
	res.Alerts = alerts.all()
	view.summary(res)
	if opts.Report != "" {
		if err := WriteReport(opts.Report, rc, res); err != nil {
			return res, err
		}
		fmt.Fprintf(out, "\nReport: %s\n", opts.Report)
	}
	return res, nil
}

// dialOptions is the client's wiring: the split with the sticky key, then
// the shadow's interceptors and, nearest the balancer, the rescue's.
func dialOptions(env *Env) []grpc.DialOption {
	unary := []grpc.UnaryClientInterceptor{env.Shadow.UnaryClientInterceptor()}
	stream := []grpc.StreamClientInterceptor{env.Shadow.StreamClientInterceptor()}
	if env.Rescue != nil {
		unary = append(unary, env.Rescue.UnaryClientInterceptor())
		stream = append(stream, env.Rescue.StreamClientInterceptor())
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(env.Split, balancer.StickyKey(UserHeader)),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...),
	}
}

// add counts an interval's calls.
func (r *Result) add(s LoadStats) {
	r.Calls += s.Calls
	r.Failed += s.Failed
	r.FailedSafe += s.FailedSafe
}

func (o *Options) check() error {
	switch {
	case o.Rate < 1 || o.Rate > 20000:
		return fmt.Errorf("ninelives: -rate %d, want 1..20000 calls/s", o.Rate)
	case o.Duration <= 0:
		return fmt.Errorf("ninelives: -duration %v, want a positive duration", o.Duration)
	case o.Interval <= 0:
		return fmt.Errorf("ninelives: tick interval %v, want a positive duration", o.Interval)
	case o.CallTimeout < 0:
		return fmt.Errorf("ninelives: call timeout %v, want a positive duration, or 0 for the default", o.CallTimeout)
	case o.Regression == "":
		o.Regression = RegressionNone
	}
	if o.Tail == 0 {
		o.Tail = 3
	}
	return nil
}

// waitReady waits up to 10 s for every endpoint of the fleet to be READY.
func waitReady(ctx context.Context, env *Env) error {
	env.Conn.Connect()
	deadline := time.Now().Add(10 * time.Second)
	want := len(env.Fleet.All())
	for len(env.Split.ReadyEndpoints("")) < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ninelives: only %d of %d demo servers are READY", len(env.Split.ReadyEndpoints("")), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// serve serves h on addr (a loopback address by default) and returns the
// address it listens on.
func serve(addr string, h http.Handler, path string) (*http.Server, string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("ninelives: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("ninelives: http server", "addr", addr, "error", err)
		}
	}()
	return s, lis.Addr().String(), nil
}
