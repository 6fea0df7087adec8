package otlpexport_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/otlpexport"
)

// otlpReceiver is an OTLP/gRPC metrics receiver on loopback that keeps what
// it is sent.
type otlpReceiver struct {
	collectorpb.UnimplementedMetricsServiceServer
	mu      sync.Mutex
	got     []*collectorpb.ExportMetricsServiceRequest
	headers []string
}

func (r *otlpReceiver) Export(ctx context.Context, req *collectorpb.ExportMetricsServiceRequest) (*collectorpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, proto.Clone(req).(*collectorpb.ExportMetricsServiceRequest))
	r.headers = append(r.headers, md.Get("x-api-key")...)
	return &collectorpb.ExportMetricsServiceResponse{}, nil
}

// metrics returns the metrics of our scope in the requests received so far.
func (r *otlpReceiver) metrics() map[string]*metricspb.Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*metricspb.Metric{}
	for _, req := range r.got {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				if sm.GetScope().GetName() != telemetry.ScopeName {
					continue
				}
				for _, m := range sm.GetMetrics() {
					out[m.GetName()] = m
				}
			}
		}
	}
	return out
}

func startReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rcv := new(otlpReceiver)
	srv := grpc.NewServer()
	collectorpb.RegisterMetricsServiceServer(srv, rcv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return rcv, lis.Addr().String()
}

func TestOTLPPushToLoopbackReceiver(t *testing.T) {
	rcv, addr := startReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader, err := otlpexport.NewReader(ctx, addr,
		otlpexport.WithInsecure(),
		otlpexport.WithInterval(time.Hour), // pushes come from ForceFlush and Shutdown
		otlpexport.WithHeaders(map[string]string{"x-api-key": "k1"}),
	)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	shut := sync.OnceValue(func() error { return mp.Shutdown(context.Background()) })
	t.Cleanup(func() { _ = shut() })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	f := startFleet(t, demoserver.VersionSpec{Version: "stable", Count: 1}, demoserver.VersionSpec{Version: "canary", Count: 1})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 8000}, balancer.Weight{Version: "canary", Weight: 2000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	defer stop()
	c := demov1.NewDemoServiceClient(dial(t, f, split))
	for _, v := range []string{"stable", "stable", "stable", "canary"} {
		_, err := c.GetItem(balancer.ForceVersion(ctx, v), &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
	}

	require.NoError(t, mp.ForceFlush(ctx))
	got := rcv.metrics()
	calls := got[telemetry.MetricCalls]
	require.NotNil(t, calls, "received %d metrics", len(got))
	assert.True(t, calls.GetSum().GetIsMonotonic())
	assert.Equal(t, metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, calls.GetSum().GetAggregationTemporality())
	perVersion := map[string]int64{}
	for _, dp := range calls.GetSum().GetDataPoints() {
		attrs := map[string]string{}
		for _, kv := range dp.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		assert.Equal(t, "primary", attrs[string(telemetry.AttrRole)])
		assert.Equal(t, getItem[1:], attrs[string(telemetry.AttrMethod)])
		perVersion[attrs[string(telemetry.AttrVersion)]] += dp.GetAsInt()
	}
	assert.Equal(t, map[string]int64{"stable": 3, "canary": 1}, perVersion)

	dur := got[telemetry.MetricDuration]
	require.NotNil(t, dur)
	assert.Equal(t, "s", dur.GetUnit())
	var n uint64
	for _, dp := range dur.GetHistogram().GetDataPoints() {
		n += dp.GetCount()
		assert.Equal(t, telemetry.DurationBuckets, dp.GetExplicitBounds())
	}
	assert.EqualValues(t, 4, n)

	weights := map[string]int64{}
	for _, dp := range got[telemetry.MetricWeight].GetGauge().GetDataPoints() {
		weights[dp.GetAttributes()[0].GetValue().GetStringValue()] = dp.GetAsInt()
	}
	assert.Equal(t, map[string]int64{"stable": 8000, "canary": 2000}, weights)

	// Shutdown pushes a last time.
	_, err = c.GetItem(balancer.ForceVersion(ctx, "canary"), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	require.NoError(t, shut())
	perVersion = map[string]int64{}
	for _, dp := range rcv.metrics()[telemetry.MetricCalls].GetSum().GetDataPoints() {
		for _, kv := range dp.GetAttributes() {
			if kv.GetKey() == string(telemetry.AttrVersion) {
				perVersion[kv.GetValue().GetStringValue()] += dp.GetAsInt()
			}
		}
	}
	assert.Equal(t, map[string]int64{"stable": 3, "canary": 2}, perVersion)
	rcv.mu.Lock()
	assert.Equal(t, []string{"k1", "k1"}, rcv.headers)
	rcv.mu.Unlock()
}

// Options the exporter takes as they are, here insecure transport, apply
// after NewReader's own: the push reaches a receiver without TLS.
func TestExporterOptionsApply(t *testing.T) {
	rcv, addr := startReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader, err := otlpexport.NewReader(ctx, addr,
		otlpexport.WithInterval(time.Hour),
		otlpexport.WithExporterOptions(otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithHeaders(map[string]string{"x-api-key": "k2"})),
	)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	m.RecordDecision(ctx, "hold")
	require.NoError(t, mp.Shutdown(ctx))
	require.NotNil(t, rcv.metrics()[telemetry.MetricDecisions])
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	assert.Equal(t, []string{"k2"}, rcv.headers)
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	_, err := otlpexport.NewReader(ctx, "no-port")
	assert.ErrorIs(t, err, otlpexport.ErrBadConfig)
	assert.ErrorContains(t, err, `ninelives: bad OTLP config: endpoint = "no-port": want host:port: `)
	_, err = otlpexport.NewReader(ctx, "127.0.0.1:4317", otlpexport.WithInterval(0))
	assert.ErrorIs(t, err, otlpexport.ErrBadConfig)
	assert.EqualError(t, err, "ninelives: bad OTLP config: WithInterval = 0s: want more than 0")
}

// An exporter option that asks for delta temporality gets it: each push
// holds the calls since the one before.
func TestDeltaTemporality(t *testing.T) {
	rcv, addr := startReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader, err := otlpexport.NewReader(ctx, addr, otlpexport.WithInsecure(), otlpexport.WithInterval(time.Hour),
		otlpexport.WithExporterOptions(otlpmetricgrpc.WithTemporalitySelector(sdkmetric.DeltaTemporalitySelector)))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	for _, n := range []int{3, 2} {
		for range n {
			m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})
		}
		require.NoError(t, mp.ForceFlush(ctx))
		calls := rcv.metrics()[telemetry.MetricCalls].GetSum()
		assert.Equal(t, metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, calls.GetAggregationTemporality())
		require.Len(t, calls.GetDataPoints(), 1)
		assert.EqualValues(t, n, calls.GetDataPoints()[0].GetAsInt())
		dur := rcv.metrics()[telemetry.MetricDuration].GetHistogram()
		assert.Equal(t, metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, dur.GetAggregationTemporality())
		assert.EqualValues(t, n, dur.GetDataPoints()[0].GetCount())
	}
}
