package evaluate

import (
	"context"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Stack is one run's client: the README's wiring (telemetry, the split
// with sticky users, the shadow interceptor, the sentinel with the default
// judge and a default strategy, its steps time-compressed), with the
// sentinel not yet started.
type Stack struct {
	Conn     *grpc.ClientConn
	Split    *balancer.Split
	Sentinel *sentinel.Sentinel
	Shadow   *shadow.Interceptor
	Rescue   *rescue.Interceptor // nil unless Wire was asked for it
	closers  []func()
}

// Close closes what the stack opened, the last opened first.
func (st *Stack) Close() {
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
}

// shadowRate is the share of safe calls the README's wiring copies to the
// canary when its scenario judges shadow mismatches.
const shadowRate = 0.1

// Versions are the names a wiring gives its baseline and candidate.
func (w Wiring) Versions() [2]string {
	if w == BlueGreen {
		return [2]string{"blue", "green"}
	}
	return [2]string{"stable", "canary"}
}

// Wire builds sc's client on target as the README does, with the
// harness's sentinel options (log, alerts, history); withRescue adds the
// rescue interceptor after the shadow interceptor, as its package shows.
func Wire(sc *Scenario, target string, withRescue bool, opts ...sentinel.Option) (_ *Stack, err error) {
	vs := sc.Wiring.Versions()
	st := &Stack{}
	defer func() {
		if err != nil {
			st.Close() // what was opened before the error
		}
	}()
	src, metrics, err := st.telemetry()
	if err != nil {
		return nil, err
	}
	if st.Split, err = balancer.NewSplit(balancer.Weight{Version: vs[0], Weight: balancer.TotalWeight}, balancer.Weight{Version: vs[1]}); err != nil {
		return nil, err
	}
	stop, err := metrics.Instrument(st.Split)
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, stop)
	// The demo's replies name the server that served them: a field the
	// service's user tells the comparison to ignore.
	shc := shadow.Config{Candidate: vs[1], Baseline: vs[0], Metrics: metrics, IgnoreFields: []string{"served_by"}}
	var jc judge.Config
	if sc.Shadow {
		shc.Rate, jc.EnableShadow = shadowRate, true
	}
	sh, err := shadow.New(shc)
	if err != nil {
		return nil, err
	}
	st.Shadow = sh
	st.closers = append(st.closers, func() { _ = sh.Close(context.Background()) })
	unary, stream := []grpc.UnaryClientInterceptor{sh.UnaryClientInterceptor()}, []grpc.StreamClientInterceptor{sh.StreamClientInterceptor()}
	if withRescue {
		rs, err := rescue.New(rescue.Config{Candidate: vs[1], Baseline: vs[0], Split: st.Split})
		if err != nil {
			return nil, err
		}
		st.Rescue = rs
		unary, stream = append(unary, rs.UnaryClientInterceptor()), append(stream, rs.StreamClientInterceptor())
	}
	if st.Conn, err = grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(st.Split, balancer.StickyKey(demo.UserHeader)),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...)); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = st.Conn.Close() })
	strategy, err := strategyOf(sc, st, sh)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sentinel.WithJudge(jc), sentinel.WithShadow(sh), sentinel.WithDecisionRecorder(metrics))
	if st.Sentinel, err = sentinel.New(st.Split, src, strategy, opts...); err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = st.Sentinel.Close() })
	return st, nil
}

// telemetry is the README's: the delta Source and the instruments on one
// meter provider.
func (st *Stack) telemetry() (*telemetry.Source, *telemetry.Metrics, error) {
	src, err := telemetry.NewSource()
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	st.closers = append(st.closers, func() { _ = mp.Shutdown(context.Background()) })
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	return src, metrics, err
}

// strategyOf is the scenario's default strategy with its steps
// time-compressed: the canary (its Steps, MinStep and MinStepCalls; zero
// for the defaults), or blue/green with a warm-up, a shadow grace period
// of blueGreenGrace and a rollback window of blueGreenWindow, blue keeping
// its default share through it.
func strategyOf(sc *Scenario, st *Stack, sh *shadow.Interceptor) (sentinel.Strategy, error) {
	if sc.Wiring != BlueGreen {
		return sentinel.NewCanary(sentinel.CanaryConfig{Steps: sc.Steps, MinStepDuration: sc.MinStep, MinStepCalls: sc.MinStepCalls})
	}
	getItem := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warmup"})
		return err
	}
	return sentinel.NewBlueGreen(sentinel.BlueGreenConfig{
		Warmup: warmup.For(st.Conn, st.Split, warmup.Config{Calls: []warmup.CallFunc{getItem}}),
		Shadow: sh, ShadowGrace: blueGreenGrace, RollbackWindow: blueGreenWindow,
	})
}

// blueGreenGrace and blueGreenWindow are blue/green's shadow grace period
// and rollback window, time-compressed (a user's defaults: 1 min, 5 min).
const (
	blueGreenGrace  = 5 * time.Second
	blueGreenWindow = 15 * time.Second
)
