package telemetry_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The sentinel's tick: collect a window, read a version's figures.
func ExampleSource_Collect() {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{ErrorRate: 1}},
	)
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Stop()

	src, err := telemetry.NewSource()
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer mp.Shutdown(context.Background())
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9500}, balancer.Weight{Version: "canary", Weight: 500})
	stop, err := m.Instrument(split)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	cc, err := grpc.NewClient(fleet.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	client := demov1.NewDemoServiceClient(cc)
	ctx := context.Background()
	for i := range 13 {
		v := "stable"
		if i%4 == 3 {
			v = "canary" // every fourth call, forced to the failing canary
		}
		_, _ = client.GetItem(balancer.ForceVersion(ctx, v), &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true))
	}

	w, err := src.Collect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range w.VersionNames() {
		r := w.Version(v).Role(balancer.RolePrimary)
		fmt.Printf("%s: %d calls, %d errors, %d latencies\n", v, r.Calls, r.Errors, r.Latency.Count)
	}
	// Output:
	// canary: 3 calls, 3 errors, 3 latencies
	// stable: 10 calls, 0 errors, 10 latencies
}

// Windows add up: the sentinel judges a whole step from its ticks.
func ExampleWindow_Merge() {
	tick1 := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		"canary": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 120, Errors: 1}}},
	}}
	tick2 := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{
		"canary": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 80, Errors: 3}}},
	}}
	step := new(telemetry.Window)
	for _, w := range []*telemetry.Window{tick1, tick2} {
		if err := step.Merge(w); err != nil {
			log.Fatal(err)
		}
	}
	r := step.Version("canary").Role(balancer.RolePrimary)
	fmt.Printf("%d calls, %d errors, %.1f %%\n", r.Calls, r.Errors, 100*float64(r.Errors)/float64(r.Calls))
	// A version the window never saw reads as zero, never nil.
	fmt.Println(step.Version("green").Role(balancer.RolePrimary).Calls)
	// Output:
	// 200 calls, 4 errors, 2.0 %
	// 0
}

// A reader of one's own gets the instruments through a Producer linked to it.
func ExampleProducer_Link() {
	p := telemetry.NewProducer(nil) // cumulative, as the reader
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	p.Link(reader)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: "/shop.Cart/Get", Latency: time.Millisecond})
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if sum, ok := mt.Data.(metricdata.Sum[int64]); ok && mt.Name == telemetry.MetricCalls {
				v, _ := sum.DataPoints[0].Attributes.Value(telemetry.AttrMethod)
				fmt.Printf("%s %s: %d\n", mt.Name, v.AsString(), sum.DataPoints[0].Value)
			}
		}
	}
	// Output:
	// ninelives.rpc.calls shop.Cart/Get: 3
}
