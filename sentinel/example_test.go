package sentinel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// A sentinel steering real calls on loopback: a client splits them between
// a stable server and a canary that fails every call, telemetry's Source
// reads them back, and a clock the example moves stands in for the
// seconds. The canary starts at 10 %; once the judge has seen enough of its
// calls it fails it, and the sentinel sends all the traffic back to stable
// and alerts. A program calls s.Run(ctx) instead of Tick.
func ExampleNew() {
	servers, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{ErrorRate: 1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer servers.Stop()

	src, err := telemetry.NewSource()
	if err != nil {
		fmt.Println(err)
		return
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer func() { _ = mp.Shutdown(context.Background()) }()
	metrics, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		fmt.Println(err)
		return
	}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	stop, err := metrics.Instrument(split)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	cc, err := grpc.NewClient(servers.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()

	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}})
	if err != nil {
		fmt.Println(err)
		return
	}
	clock := sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	alerts := new(alertLines)
	s, err := sentinel.New(split, src, canary,
		sentinel.WithClock(clock),
		sentinel.WithLogger(slog.New(slog.DiscardHandler)),
		sentinel.WithAlerters(alerts))
	if err != nil {
		fmt.Println(err)
		return
	}
	client := demov1.NewDemoServiceClient(cc)
	for tick := 1; tick <= 10 && !s.Status().Phase.Final(); tick++ {
		// 200 users call once a second; each stays on one version.
		for u := range 200 {
			ctx := balancer.WithStickyKey(context.Background(), "user-"+strconv.Itoa(u))
			_, _ = client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true))
		}
		clock.Advance(time.Second)
		e := s.Tick(context.Background())
		fmt.Printf("%ds: %s, canary at %s\n", tick, e.Action, plan.Label(split.Weight("canary")))
	}
	if err := s.Close(); err != nil { // delivers the alerts
		fmt.Println(err)
	}
	fmt.Println("failed by the", s.Status().Verdict.Test, "test; alerts:", alerts.actions())
	// Output:
	// 1s: start, canary at 10%
	// 2s: hold, canary at 10%
	// 3s: hold, canary at 10%
	// 4s: rollback, canary at 0%
	// failed by the errors test; alerts: [rollback]
}

// alertLines is an Alerter that keeps the actions it is told of.
type alertLines struct {
	mu   sync.Mutex
	seen []sentinel.Action
}

func (a *alertLines) Alert(_ context.Context, e sentinel.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, e.Action)
	return nil
}

func (a *alertLines) actions() []sentinel.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen
}

// The canary strategy walks its steps while the judge passes the candidate:
// each step lasts at least MinStepDuration and MinStepCalls of the
// canary's calls, and its last step promotes. Here a sentineltest.Source
// hands the sentinel each second's figures — a thousand calls split by the
// weights, none failing — and the judge looks at errors only.
func ExampleNewCanary() {
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 5000, 10000}, MinStepDuration: 2 * time.Second, MinStepCalls: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	src := new(sentineltest.Source)
	clock := sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := sentinel.New(split, src, canary,
		sentinel.WithClock(clock),
		sentinel.WithLogger(slog.New(slog.DiscardHandler)),
		sentinel.WithJudge(judge.Config{DisableLatency: true, Errors: judge.ErrorConfig{MinStepCalls: 100}}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for tick := 1; !s.Status().Phase.Final(); tick++ {
		toCanary := int64(split.Weight("canary")) / 10 // of 1,000 calls
		src.Set(&telemetry.Window{Versions: map[string]*telemetry.VersionStats{
			"stable": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 1000 - toCanary}}},
			"canary": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: toCanary}}},
		}}, nil)
		clock.Advance(time.Second)
		e := s.Tick(context.Background())
		fmt.Printf("%ds %-8s canary %-4s %s\n", tick, e.Action, plan.Label(split.Weight("canary")), e.Reason)
	}
	// Output:
	// 1s start    canary 10%  canary starts at 10%
	// 2s hold     canary 10%  step 1 (10%): 1s of 2s
	// 3s advance  canary 50%  step 1 (10%) passed: every test passes (errors)
	// 4s hold     canary 50%  step 2 (50%): 1s of 2s
	// 5s promote  canary 100% step 2 (50%) passed: every test passes (errors)
}
