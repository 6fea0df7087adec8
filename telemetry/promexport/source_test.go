package promexport_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promexport"
)

// The delta Source and the cumulative exporter read one provider; each sees
// its own correct figures, and /metrics, scraped over HTTP, has the
// per-version series with Prometheus' names.
func TestSourceAndExporterOnOneProvider(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	prom, err := promexport.New(nil)
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

	calls("stable", 20, "a", codes.OK)
	calls("stable", 2, "", codes.InvalidArgument)
	calls("canary", 5, "a", codes.Unavailable)
	w1, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 22, w1.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 5, w1.Version("canary").Role(balancer.RolePrimary).Errors)

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

	// The Source's second window has only what happened since the first;
	// Prometheus still counts from the start, and sees the new weights.
	require.NoError(t, split.Set("canary", 2500, "stable"))
	calls("stable", 10, "a", codes.OK)
	w2, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 10, w2.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.Zero(t, w2.Version("canary").Role(balancer.RolePrimary).Calls)
	mfs = scrape(t, prom.Handler())
	assert.Equal(t, 30.0, counter("stable", "0"))
	assert.Equal(t, 5.0, counter("canary", "14"))
	ws = series(mfs, "ninelives_split_weight", map[string]string{"ninelives_version": "canary"})
	require.Len(t, ws, 1)
	assert.Equal(t, 2500.0, ws[0].GetGauge().GetValue())
}
