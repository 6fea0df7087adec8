package telemetry_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The delta Source and a cumulative Prometheus exporter read one provider;
// each sees its own correct figures, and /metrics, scraped over HTTP, has the
// per-version series.
func TestSourceAndPrometheusOnOneProvider(t *testing.T) {
	clock := newClock()
	src, err := telemetry.NewSource(telemetry.WithClock(clock.now))
	require.NoError(t, err)
	prom, err := telemetry.NewPrometheus(nil)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option(), prom.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	f := startFleet(t,
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 2, Faults: demoserver.Faults{ErrorRate: 1}},
	)
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 9000}, balancer.Weight{Version: "canary", Weight: 1000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)
	c := demov1.NewDemoServiceClient(dial(t, f, split))
	ctx := context.Background()
	calls := func(version string, n int, id string, want codes.Code) {
		t.Helper()
		for range n {
			_, err := c.GetItem(balancer.ForceVersion(ctx, version), &demov1.GetItemRequest{Id: id})
			require.Equal(t, want, status.Code(err))
		}
	}

	start := clock.now()
	calls("stable", 20, "a", codes.OK)
	calls("stable", 2, "", codes.InvalidArgument)
	calls("canary", 5, "a", codes.Unavailable)
	clock.advance(10 * time.Second)

	w1, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, start, w1.Start)
	assert.Equal(t, start.Add(10*time.Second), w1.End)
	st := w1.Version("stable").Role(balancer.RolePrimary)
	assert.EqualValues(t, 22, st.Calls)
	assert.Zero(t, st.Errors, "InvalidArgument is not in the default error set")
	assert.Equal(t, map[codes.Code]int64{codes.OK: 20, codes.InvalidArgument: 2}, st.Codes)
	assert.EqualValues(t, 22, st.Latency.Count)
	assert.Greater(t, st.Latency.P50(), 0.0)
	assert.LessOrEqual(t, st.Latency.P50(), st.Latency.P99())
	assert.LessOrEqual(t, st.Latency.P99(), st.Latency.Max)
	assert.GreaterOrEqual(t, st.Latency.P50(), st.Latency.Min)
	ca := w1.Version("canary").Role(balancer.RolePrimary)
	assert.EqualValues(t, 5, ca.Calls)
	assert.EqualValues(t, 5, ca.Errors)
	assert.Equal(t, 1.0, ca.ErrorRate())
	assert.Equal(t, map[codes.Code]int64{codes.Unavailable: 5}, ca.Codes)
	assert.Equal(t, map[string]int64{"stable": 9000, "canary": 1000}, w1.Weights)
	assert.Equal(t, []string{"canary", "stable"}, w1.VersionNames())

	mfs := scrape(t, prom.Handler())
	counter := func(version, code string) float64 {
		s := series(mfs, "ninelives_rpc_calls_total", map[string]string{"ninelives_version": version, "ninelives_role": "primary", "rpc_grpc_status_code": code, "rpc_method": getItem[1:]})
		require.Len(t, s, 1, "series %s %s", version, code)
		return s[0].GetCounter().GetValue()
	}
	assert.Equal(t, 20.0, counter("stable", "0"))
	assert.Equal(t, 2.0, counter("stable", "3"))
	assert.Equal(t, 5.0, counter("canary", "14"))
	hs := series(mfs, "ninelives_rpc_duration_seconds", map[string]string{"ninelives_version": "stable", "rpc_grpc_status_code": "0"})
	require.Len(t, hs, 1)
	assert.EqualValues(t, 20, hs[0].GetHistogram().GetSampleCount())
	assert.Len(t, hs[0].GetHistogram().GetBucket(), len(telemetry.DurationBuckets)+1, "the advised explicit buckets and +Inf")
	ws := series(mfs, "ninelives_split_weight", map[string]string{"ninelives_version": "canary"})
	require.Len(t, ws, 1)
	assert.Equal(t, 1000.0, ws[0].GetGauge().GetValue())

	// Second window: only what happened since the first.
	require.NoError(t, split.Set("canary", 2500, "stable"))
	calls("stable", 10, "a", codes.OK)
	clock.advance(5 * time.Second)
	w2, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, w1.End, w2.Start)
	assert.EqualValues(t, 10, w2.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 10, w2.Version("stable").Role(balancer.RolePrimary).Latency.Count)
	assert.Zero(t, w2.Version("canary").Role(balancer.RolePrimary).Calls)
	assert.Equal(t, map[string]int64{"stable": 7500, "canary": 2500}, w2.Weights)

	// Prometheus still counts from the start.
	mfs = scrape(t, prom.Handler())
	assert.Equal(t, 30.0, counter("stable", "0"))
	assert.Equal(t, 5.0, counter("canary", "14"))

	// The step's whole duration: the two windows merged.
	all := new(telemetry.Window)
	require.NoError(t, all.Merge(w1))
	require.NoError(t, all.Merge(w2))
	assert.Equal(t, w1.Start, all.Start)
	assert.Equal(t, w2.End, all.End)
	assert.EqualValues(t, 32, all.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 32, all.Version("stable").Role(balancer.RolePrimary).Latency.Count)
	assert.EqualValues(t, 5, all.Version("canary").Role(balancer.RolePrimary).Errors)
	assert.Equal(t, w2.Weights, all.Weights, "the later window's weights")

	// A status page can show it.
	js, err := json.Marshal(all)
	require.NoError(t, err)
	var back telemetry.Window
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, all.Version("stable").Role(balancer.RolePrimary), back.Version("stable").Role(balancer.RolePrimary))
	assert.True(t, all.Start.Equal(back.Start))
}

func TestCustomErrorCodes(t *testing.T) {
	m, src := recorder(t, telemetry.WithErrorCodes(codes.InvalidArgument))
	f := startFleet(t, demoserver.VersionSpec{Version: "stable", Count: 1})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	defer stop()
	c := demov1.NewDemoServiceClient(dial(t, f, split))
	for _, id := range []string{"a", "", "", "b"} {
		_, _ = c.GetItem(context.Background(), &demov1.GetItemRequest{Id: id})
	}
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	r := w.Version("stable").Role(balancer.RolePrimary)
	assert.EqualValues(t, 4, r.Calls)
	assert.EqualValues(t, 2, r.Errors)
	assert.True(t, src.IsError(codes.InvalidArgument))
	assert.False(t, src.IsError(codes.Unavailable))
}

// A View that turns the duration into explicit buckets reaches every reader;
// the source says so instead of guessing.
func TestSourceRejectsExplicitDurationView(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	view := sdkmetric.NewView(sdkmetric.Instrument{Name: telemetry.MetricDuration},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: []float64{0.1, 1}}})
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithView(view))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
	_, err = src.Collect(context.Background())
	assert.ErrorContains(t, err, "ninelives: ninelives.rpc.duration reaches the source as metricdata.Histogram[float64]")
}
