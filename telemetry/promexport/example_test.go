package promexport_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats/opentelemetry"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

// ninelives' metrics, grpc-go's own stats/opentelemetry metrics and the
// sentinel's Source, all on one MeterProvider: one /metrics serves both sets
// of metrics to the same dashboard, and the Source reads its windows beside
// it.
func Example_withGRPCMetrics() {
	// A demo fleet on loopback stands in for the service.
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 1},
	)
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Stop()

	// One provider, two readers: the Source and the exporter.
	src, err := telemetry.NewSource()
	if err != nil {
		log.Fatal(err)
	}
	prom, err := promexport.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
	defer mp.Shutdown(context.Background())

	// ninelives records every call the split steers...
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
	stop, err := m.Instrument(split)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	// ...and grpc-go's plugin records its own metrics on the same provider.
	cc, err := grpc.NewClient(fleet.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split),
		opentelemetry.DialOption(opentelemetry.Options{
			MetricsOptions: opentelemetry.MetricsOptions{MeterProvider: mp},
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	client := demov1.NewDemoServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 20 {
		if _, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true)); err != nil {
			log.Fatal(err)
		}
	}

	// The sentinel's view.
	w, err := src.Collect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("calls in the window:", w.Version("stable").Role(balancer.RolePrimary).Calls+w.Version("canary").Role(balancer.RolePrimary).Calls)

	// The dashboard's view: serve prom.Handler() at /metrics (here on a
	// loopback test server) and list the latency histograms it has.
	srv := httptest.NewServer(prom.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var names []string
	for {
		mf := new(dto.MetricFamily)
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		if n := mf.GetName(); strings.HasSuffix(n, "duration_seconds") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	fmt.Println(strings.Join(names, "\n"))
	// Output:
	// calls in the window: 20
	// grpc_client_attempt_duration_seconds
	// grpc_client_call_duration_seconds
	// ninelives_rpc_duration_seconds
}
