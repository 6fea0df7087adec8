package evaluate

import (
	"context"
	"path/filepath"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Stack is one run's client: the wiring of a recipe or of the README, as
// its user writes it, with the sentinel not yet started.
type Stack struct {
	Conn     *grpc.ClientConn
	Split    *balancer.Split
	Sentinel *sentinel.Sentinel
	closers  []func()
}

// Close closes what the stack opened, the last opened first.
func (st *Stack) Close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
}

// plan is what sets a wiring apart: its versions, its shadow traffic, its
// judge and its strategy.
type plan struct {
	baseline, candidate string
	shadow              shadow.Config // Candidate, Baseline and Metrics filled by build
	judge               judge.Config
	strategy            func(st *Stack, sh *shadow.Interceptor) (sentinel.Strategy, error)
}

// Versions are the names a wiring gives its baseline and candidate.
func (w Wiring) Versions() [2]string {
	if w == BlueGreen {
		return [2]string{"blue", "green"}
	}
	return [2]string{"stable", "canary"}
}

// Wire builds sc's client on target, as its program does, with the
// harness's sentinel options (log, alerts, history).
func Wire(env *Env, sc *Scenario, target string, opts ...sentinel.Option) (*Stack, error) {
	vs := sc.Wiring.Versions()
	p := plan{baseline: vs[0], candidate: vs[1]}
	switch sc.Wiring {
	case Canary:
		// cookbook/canary: a fifth of the safe calls copied, replies
		// compared but for served_by; the judge judges the mismatches.
		p.shadow = shadow.Config{IgnoreFields: []string{"served_by"}}
		if sc.Shadow {
			p.shadow.Rate, p.judge.EnableShadow = 0.2, true
		}
		p.strategy = func(*Stack, *shadow.Interceptor) (sentinel.Strategy, error) { return canaryPolicy(env, sc) }
	case BlueGreen:
		// cookbook/bluegreen: the shadow is off until the grace period.
		p.shadow = shadow.Config{IgnoreFields: []string{"served_by"}}
		p.strategy = func(st *Stack, sh *shadow.Interceptor) (sentinel.Strategy, error) {
			return blueGreenPolicy(env, st, sh)
		}
	default:
		// The README: 10 % copied, the Go canary, shadow judging.
		p.shadow = shadow.Config{Rate: 0.1}
		p.judge = judge.Config{EnableShadow: true}
		p.strategy = func(*Stack, *shadow.Interceptor) (sentinel.Strategy, error) {
			return sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: sc.MinStep})
		}
	}
	return build(target, p, opts)
}

// build wires telemetry, the split, the shadow interceptor, the client
// and the sentinel, as every recipe's main.go does.
func build(target string, p plan, opts []sentinel.Option) (st *Stack, err error) {
	st = &Stack{}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	st.closers = append(st.closers, func() { _ = mp.Shutdown(context.Background()) })
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	if st.Split, err = balancer.NewSplit(balancer.Weight{Version: p.baseline, Weight: balancer.TotalWeight}, balancer.Weight{Version: p.candidate}); err != nil {
		return nil, err
	}
	stop, err := metrics.Instrument(st.Split)
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, stop)
	p.shadow.Candidate, p.shadow.Baseline, p.shadow.Metrics = p.candidate, p.baseline, metrics
	sh, err := shadow.New(p.shadow)
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = sh.Close(context.Background()) })
	if st.Conn, err = grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(st.Split, balancer.StickyKey(demo.UserHeader)),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor())); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = st.Conn.Close() })
	strategy, err := p.strategy(st, sh)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sentinel.WithJudge(p.judge), sentinel.WithDecisionRecorder(metrics))
	if st.Sentinel, err = sentinel.New(st.Split, src, strategy, opts...); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = st.Sentinel.Close() })
	return st, nil
}

// canaryPolicy is cookbook/canary's canary.star with the scenario's steps.
func canaryPolicy(env *Env, sc *Scenario) (sentinel.Strategy, error) {
	steps := sc.Steps
	if steps == nil {
		cfg, err := sentinel.CanaryConfig{}.WithDefaults()
		if err != nil {
			return nil, err
		}
		steps = cfg.Steps
	}
	return script.Load(filepath.Join(env.Recipes, "canary", "canary.star"), script.WithParams(map[string]any{
		"steps":            steps,
		"min_step_seconds": int(sc.MinStep / time.Second),
		"min_step_calls":   sc.MinStepCalls,
	}))
}

// blueGreenPolicy is cookbook/bluegreen's bluegreen.star with the recipe's
// host facilities and settings (its Policy and Gates).
func blueGreenPolicy(env *Env, st *Stack, sh *shadow.Interceptor) (sentinel.Strategy, error) {
	getItem := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warmup"})
		return err
	}
	warm := sentinel.WarmupOn(st.Conn, st.Split, warmup.Config{
		Calls: []warmup.CallFunc{getItem}, SuccessesInRow: 5, LatencyCeiling: 50 * time.Millisecond})
	return script.Load(filepath.Join(env.Recipes, "bluegreen", "bluegreen.star"),
		script.WithWarmup(warm, 30*time.Second), script.WithShadow(sh),
		script.WithParams(map[string]any{
			"shadow_rate": 0.5, "shadow_grace": 5 * time.Second, "shadow_min_comparisons": 200, "mismatch_tolerance": 0.01,
			"baseline_span": time.Minute, "min_baseline_calls": 100, "rollback_window": 10 * time.Second, "rollback_min_calls": 500,
			"error_factor": 2.0, "error_floor": 0.01, "latency_factor": 1.5, "latency_margin": 10 * time.Millisecond, "alpha": 0.01,
		}))
}
