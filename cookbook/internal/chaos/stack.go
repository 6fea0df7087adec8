package chaos

import (
	"context"
	"log/slog"
	"slices"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Baseline and Candidate are the versions of every scenario.
const (
	Baseline  = "stable"
	Candidate = "canary"
)

// initial are the weights before a rollout: everything on the baseline.
var initial = []balancer.Weight{{Version: Baseline, Weight: balancer.TotalWeight}, {Version: Candidate, Weight: 0}}

// StackConfig says how a client process is wired.
type StackConfig struct {
	Target string
	// Rescue installs interceptor/rescue.
	Rescue bool
	// Steps are the canary's steps, each at least MinStep long.
	Steps   []int
	MinStep time.Duration
	// Alerters receive the sentinel's alerts; CloseTimeout bounds its
	// Close (0: the default).
	Alerters     []sentinel.Alerter
	CloseTimeout time.Duration
	Logger       *slog.Logger
}

// Stack is one client process as a service wires it: a Split, telemetry
// read back by the sentinel, shadow copies of a fifth of the safe calls,
// the rescue interceptor (if asked) and a canary sentinel. Its sentinel
// does not tick by itself: Ticker ticks it.
type Stack struct {
	Split    *balancer.Split
	Conn     *grpc.ClientConn
	Shadow   *shadow.Interceptor
	Rescue   *rescue.Interceptor
	Sentinel *sentinel.Sentinel
	closers  []func()
}

// NewStack wires a client process to cfg.Target.
func NewStack(cfg StackConfig) (_ *Stack, err error) {
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var src *telemetry.Source
	var metrics *telemetry.Metrics
	if s.Split, src, metrics, err = instrumentedSplit(&s.closers); err != nil {
		return nil, err
	}
	if err := s.dial(cfg, metrics); err != nil {
		return nil, err
	}
	s.Sentinel, err = newSentinel(s.Split, src, cfg)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = s.Sentinel.Close() })
	return s, nil
}

// instrumentedSplit makes a Split, everything on the baseline, whose
// calls telemetry records on a meter provider the returned Source reads
// back; closers gets what undoes it.
func instrumentedSplit(closers *[]func()) (*balancer.Split, *telemetry.Source, *telemetry.Metrics, error) {
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	*closers = append(*closers, func() { _ = mp.Shutdown(context.Background()) })
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		return nil, nil, nil, err
	}
	split, err := balancer.NewSplit(initial...)
	if err != nil {
		return nil, nil, nil, err
	}
	stop, err := metrics.Instrument(split)
	if err != nil {
		return nil, nil, nil, err
	}
	*closers = append(*closers, stop)
	return split, src, metrics, nil
}

// dial makes the client connection with its interceptors.
func (s *Stack) dial(cfg StackConfig, metrics *telemetry.Metrics) error {
	var err error
	s.Shadow, err = shadow.New(shadow.Config{Candidate: Candidate, Baseline: Baseline, Rate: 0.2,
		IgnoreFields: []string{"served_by"}, Metrics: metrics})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.Shadow.Close(context.Background()) })
	unary := []grpc.UnaryClientInterceptor{s.Shadow.UnaryClientInterceptor()}
	stream := []grpc.StreamClientInterceptor{s.Shadow.StreamClientInterceptor()}
	if cfg.Rescue {
		if s.Rescue, err = rescue.New(rescue.Config{Candidate: Candidate, Baseline: Baseline, Split: s.Split}); err != nil {
			return err
		}
		unary, stream = append(unary, s.Rescue.UnaryClientInterceptor()), append(stream, s.Rescue.StreamClientInterceptor())
	}
	s.Conn, err = grpc.NewClient(cfg.Target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(s.Split, balancer.StickyKey("x-user-id")),
		grpc.WithChainUnaryInterceptor(unary...), grpc.WithChainStreamInterceptor(stream...))
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.Conn.Close() })
	s.Conn.Connect()
	return nil
}

// newSentinel is a canary sentinel on split, judging errors, latency and
// shadow mismatches.
func newSentinel(split sentinel.Router, src telemetry.MetricSource, cfg StackConfig) (*sentinel.Sentinel, error) {
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: cfg.Steps, MinStepDuration: cfg.MinStep})
	if err != nil {
		return nil, err
	}
	opts := []sentinel.Option{sentinel.WithJudge(judgeOf(true)), sentinel.WithAlerters(cfg.Alerters...),
		sentinel.WithLogger(cfg.Logger)}
	if cfg.CloseTimeout > 0 {
		opts = append(opts, sentinel.WithCloseTimeout(cfg.CloseTimeout))
	}
	return sentinel.New(split, src, strategy, opts...)
}

// judgeOf is the judge of the chaos and the soak: errors, latency by its
// centre only, and shadow mismatches where there are shadow copies. The
// tails of six server processes on a machine as busy as a shared one
// differ by themselves (a healthy candidate's p95 2 ms above the
// baseline's was seen), while every fault here moves the centre: a hang
// takes each call to the hedge delay or the deadline.
func judgeOf(shadow bool) judge.Config {
	return judge.Config{EnableShadow: shadow, Latency: judge.LatencyConfig{DisableTail: true}}
}

// Close closes what the stack holds, the sentinel first.
func (s *Stack) Close() {
	for _, f := range slices.Backward(s.closers) {
		f()
	}
	s.closers = nil
}
