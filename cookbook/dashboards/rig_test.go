package dashboards_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// scrapeInterval is how often the test's Prometheus scrapes the client.
const scrapeInterval = 250 * time.Millisecond

// rig is a client process as a user wires it, on a demo fleet: the split,
// the telemetry with the Prometheus exporter and the sentinel's source on
// one MeterProvider, the shadow interceptor, and a canary sentinel ticked
// by hand; a real Prometheus scrapes the exporter.
//
// The fleet makes every panel of the dashboard show something: stable
// fails a tenth of its calls (Unavailable), canary changes a reply field
// (shadow mismatches), and dark has weight but no READY endpoint
// (fallbacks). PutItem calls are sampled by the shadow but never copied
// (shadow drops), and the sentinel's ticks record decisions.
type rig struct {
	fleet  *demoserver.Fleet
	split  *balancer.Split
	cc     *grpc.ClientConn
	target *promtest.Target
	prom   *promtest.Server
	s      *sentinel.Sentinel
	clock  *sentineltest.Clock
	calls  atomic.Int64
}

func startRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{}
	r.startPrometheus(t)
	r.fleet = demotest.Fleet(t,
		demoserver.VersionSpec{Version: "stable", Count: 2, Faults: demoserver.Faults{ErrorRate: 0.1}},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{PriceDelta: 5}},
		demoserver.VersionSpec{Version: "dark", Count: 1},
	)
	r.split = balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: 9000},
		balancer.Weight{Version: "canary", Weight: 0},
		balancer.Weight{Version: "dark", Weight: 1000},
	)
	m, src := r.startTelemetry(t)
	sh, err := shadow.New(shadow.Config{Candidate: "canary", Rate: 1, Seed: 1, Metrics: m,
		IgnoreFields: []string{"served_by", "generated_at"}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sh.Close(context.Background())) })
	r.cc = demotest.Dial(t, r.fleet.Target(), balancer.WithSplit(r.split),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()))
	demotest.Connect(t, r.cc)
	demotest.WaitFleetReady(t, r.split, r.fleet)
	r.fleet.Servers("dark")[0].Stop()
	demotest.WaitReady(t, r.split, map[string]int{"stable": 2, "canary": 1, "dark": 0})
	r.startSentinel(t, m, src)
	return r
}

// startPrometheus starts the target the client's exporter is served at
// and a Prometheus scraping it.
func (r *rig) startPrometheus(t *testing.T) {
	t.Helper()
	tg, err := promtest.NewTarget()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tg.Close()) })
	srv, err := promtest.Start(t.TempDir(), promtest.Config{Targets: []string{tg.Addr()}, ScrapeInterval: scrapeInterval})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	r.target, r.prom = tg, srv
}

// startTelemetry instruments the split on a MeterProvider read by the
// sentinel's source and by the Prometheus exporter the target serves.
func (r *rig) startTelemetry(t *testing.T) (*telemetry.Metrics, *telemetry.Source) {
	t.Helper()
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	exp, err := promexport.New(nil)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option(), exp.Option())
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	stop, err := m.Instrument(r.split)
	require.NoError(t, err)
	t.Cleanup(stop)
	r.target.Set(exp.Handler())
	t.Cleanup(func() { r.target.Set(nil) })
	return m, src
}

// startSentinel makes a canary rollout of stable → canary on the split,
// on a clock of its own: its first tick starts it at 20 %, and the
// following ones hold, as its steps last a minute.
func (r *rig) startSentinel(t *testing.T, m *telemetry.Metrics, src *telemetry.Source) {
	t.Helper()
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{2000, 5000}})
	require.NoError(t, err)
	r.clock = sentineltest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r.s, err = sentinel.New(r.split, src, canary,
		sentinel.WithVersions("stable", "canary"),
		sentinel.WithClock(r.clock),
		sentinel.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		sentinel.WithDecisionRecorder(m))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.s.Close()) })
}

// tick runs one round of the sentinel a second later.
func (r *rig) tick() sentinel.Event {
	r.clock.Advance(time.Second)
	return r.s.Tick(context.Background())
}

// load makes n calls from four goroutines: GetItem, with a PutItem and a
// ListItems every tenth call. Calls may fail only as stable's injected
// failures do.
func (r *rig) load(t *testing.T, n int) {
	t.Helper()
	client := demov1.NewDemoServiceClient(r.cc)
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := oneCall(client, i); status.Code(err) != codes.OK && status.Code(err) != codes.Unavailable {
					errs <- err
					return
				}
				r.calls.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func oneCall(client demov1.DemoServiceClient, i int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch i % 10 {
	case 3:
		_, err := client.PutItem(ctx, &demov1.PutItemRequest{Item: &demov1.Item{Id: "p"}})
		return err
	case 7:
		stream, err := client.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 2})
		if err != nil {
			return err
		}
		for {
			if _, err := stream.Recv(); err != nil {
				return ignoreEOF(err)
			}
		}
	}
	_, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	return err
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// waitScrapes waits until Prometheus has finished two scrapes of the
// client begun after the call.
func (r *rig) waitScrapes(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, r.target.WaitScrapesAfterNow(ctx))
}

// promAPI is a client of the rig's Prometheus.
func (r *rig) promAPI(t *testing.T) prom {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return prom{url: r.prom.URL(), client: &http.Client{Transport: tr, Timeout: time.Minute}}
}
