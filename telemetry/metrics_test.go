package telemetry_test

import (
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
)

const (
	getItem    = "/ninelives.demo.v1.DemoService/GetItem"
	listItems  = "/ninelives.demo.v1.DemoService/ListItems"
	countItems = "/ninelives.demo.v1.DemoService/CountItems"
	echo       = "/ninelives.demo.v1.DemoService/Echo"
)

// scenario is a run of real RPCs through the balancer to a fleet of two
// stable servers and two canary servers that fail every call:
//
//	stable, primary: 6 GetItem OK, 2 GetItem InvalidArgument, one OK call of
//	  each stream kind (ListItems, CountItems, Echo)
//	stable, shadow: 2 GetItem OK
//	canary, primary: 3 GetItem Unavailable
//
// then the canary servers stop, the weights go to canary 100 %, and 4 calls
// fall back to stable (4 fallbacks against canary, 4 more stable GetItem OK).
// Last, it records shadow comparisons, drops and decisions directly.
func scenario(t *testing.T, m *telemetry.Metrics) {
	t.Helper()
	f := startFleet(t,
		demoserver.VersionSpec{Version: "stable", Count: 2},
		demoserver.VersionSpec{Version: "canary", Count: 2, Faults: demoserver.Faults{ErrorRate: 1}},
	)
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 5000}, balancer.Weight{Version: "canary", Weight: 5000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)
	cc := dial(t, f, split)
	c := demov1.NewDemoServiceClient(cc)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stable := balancer.ForceVersion(ctx, "stable")
	for range 6 {
		_, err := c.GetItem(stable, &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
	}
	for range 2 {
		_, err := c.GetItem(stable, &demov1.GetItemRequest{})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
	}
	streamCalls(t, c, stable)
	shadow := call.WithRole(stable, balancer.RoleShadow)
	for range 2 {
		_, err := c.GetItem(shadow, &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
	}
	canary := balancer.ForceVersion(ctx, "canary")
	for range 3 {
		_, err := c.GetItem(canary, &demov1.GetItemRequest{Id: "a"})
		require.Equal(t, codes.Unavailable, status.Code(err))
	}

	for _, s := range f.Servers("canary") {
		s.Stop()
	}
	waitFor(t, func() bool { return len(split.ReadyEndpoints("canary")) == 0 }, "canary endpoints gone")
	require.NoError(t, split.SetWeights(balancer.Weight{Version: "stable", Weight: 0}, balancer.Weight{Version: "canary", Weight: 10000}))
	for range 4 {
		r, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
		require.Equal(t, "stable", r.GetServedBy().GetVersion())
	}

	m.RecordShadowComparison(ctx, "canary", getItem, telemetry.ShadowMismatch)
	m.RecordShadowComparison(ctx, "canary", getItem, telemetry.ShadowMismatch)
	m.RecordShadowComparison(ctx, "canary", getItem, telemetry.ShadowMatch)
	m.RecordShadowDropped(ctx, "concurrency")
	m.RecordShadowDropped(ctx, "concurrency")
	m.RecordDecision(ctx, "hold")
	m.RecordDecision(ctx, "hold")
	m.RecordDecision(ctx, "promote")
}

// streamCalls makes one OK call of each streaming kind.
func streamCalls(t *testing.T, c demov1.DemoServiceClient, ctx context.Context) {
	t.Helper()
	ls, err := c.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 3})
	require.NoError(t, err)
	n := 0
	for {
		_, err := ls.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 3, n)

	cs, err := c.CountItems(ctx)
	require.NoError(t, err)
	require.NoError(t, cs.Send(&demov1.CountItemsRequest{}))
	require.NoError(t, cs.Send(&demov1.CountItemsRequest{}))
	cr, err := cs.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 2, cr.GetCount())

	es, err := c.Echo(ctx)
	require.NoError(t, err)
	require.NoError(t, es.Send(&demov1.EchoRequest{Text: "hi"}))
	er, err := es.Recv()
	require.NoError(t, err)
	require.Equal(t, "hi", er.GetText())
	require.NoError(t, es.CloseSend())
	_, err = es.Recv()
	require.ErrorIs(t, err, io.EOF)
}

func callAttrs(version string, role balancer.Role, method string, code codes.Code) attribute.Set {
	return attribute.NewSet(
		telemetry.AttrVersion.String(version),
		telemetry.AttrRole.String(string(role)),
		telemetry.AttrMethod.String(method[1:]),
		telemetry.AttrStatusCode.Int64(int64(code)),
	)
}

// expectedCalls are the attempts of scenario and their counts.
var expectedCalls = []struct {
	attrs attribute.Set
	n     int64
}{
	{callAttrs("stable", balancer.RolePrimary, getItem, codes.OK), 10},
	{callAttrs("stable", balancer.RolePrimary, getItem, codes.InvalidArgument), 2},
	{callAttrs("stable", balancer.RolePrimary, listItems, codes.OK), 1},
	{callAttrs("stable", balancer.RolePrimary, countItems, codes.OK), 1},
	{callAttrs("stable", balancer.RolePrimary, echo, codes.OK), 1},
	{callAttrs("stable", balancer.RoleShadow, getItem, codes.OK), 2},
	{callAttrs("canary", balancer.RolePrimary, getItem, codes.Unavailable), 3},
}

func TestInstrumentsAfterRealRPCs(t *testing.T) {
	reader := linkedReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	scenario(t, m)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	sm := rm.ScopeMetrics[0]
	assert.Equal(t, telemetry.ScopeName, sm.Scope.Name)
	assert.Equal(t, "devel", sm.Scope.Version, "the module's version, which a test binary does not record")
	got := map[string]metricdata.Metrics{}
	for _, mt := range sm.Metrics {
		got[mt.Name] = mt
	}

	var callPts []metricdata.DataPoint[int64]
	var durPts []metricdata.HistogramDataPoint[float64]
	for _, c := range expectedCalls {
		callPts = append(callPts, metricdata.DataPoint[int64]{Attributes: c.attrs, Value: c.n})
		durPts = append(durPts, metricdata.HistogramDataPoint[float64]{Attributes: c.attrs})
	}
	assertCounter(t, got, telemetry.MetricCalls, "{call}", callPts...)

	// Durations are measured, so the values are checked by hand: one per
	// attempt, in the advised buckets, each a plausible loopback latency.
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        telemetry.MetricDuration,
		Description: got[telemetry.MetricDuration].Description,
		Unit:        "s",
		Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: durPts},
	}, got[telemetry.MetricDuration], metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreValue())
	hist, ok := got[telemetry.MetricDuration].Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	for _, dp := range hist.DataPoints {
		var want int64
		for _, c := range expectedCalls {
			if c.attrs.Equals(&dp.Attributes) {
				want = c.n
			}
		}
		assert.EqualValues(t, want, dp.Count, "%v", dp.Attributes.ToSlice())
		assert.Equal(t, telemetry.DurationBuckets, dp.Bounds)
		var inBuckets uint64
		for _, n := range dp.BucketCounts {
			inBuckets += n
		}
		assert.Equal(t, dp.Count, inBuckets)
		minV, okMin := dp.Min.Value()
		maxV, okMax := dp.Max.Value()
		assert.True(t, okMin && okMax)
		assert.Greater(t, minV, 0.0)
		assert.Less(t, maxV, 20.0)
		assert.InDelta(t, dp.Sum, float64(dp.Count)*(minV+maxV)/2, float64(dp.Count)*(maxV-minV)/2+1e-12)
	}

	assertCounter(t, got, telemetry.MetricFallbacks, "{pick}",
		point{Attributes: attribute.NewSet(telemetry.AttrVersion.String("canary")), Value: 4},
	)

	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        telemetry.MetricWeight,
		Description: got[telemetry.MetricWeight].Description,
		Unit:        "{basis_point}",
		Data: metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
			{Attributes: attribute.NewSet(telemetry.AttrVersion.String("stable")), Value: 0},
			{Attributes: attribute.NewSet(telemetry.AttrVersion.String("canary")), Value: 10000},
		}},
	}, got[telemetry.MetricWeight], metricdatatest.IgnoreTimestamp())

	shadowAttrs := func(result string) attribute.Set {
		return attribute.NewSet(telemetry.AttrVersion.String("canary"), telemetry.AttrMethod.String(getItem[1:]), telemetry.AttrShadowResult.String(result))
	}
	assertCounter(t, got, telemetry.MetricComparisons, "{comparison}",
		point{Attributes: shadowAttrs(telemetry.ShadowMismatch), Value: 2},
		point{Attributes: shadowAttrs(telemetry.ShadowMatch), Value: 1},
	)

	assertCounter(t, got, telemetry.MetricDropped, "{call}",
		point{Attributes: attribute.NewSet(telemetry.AttrShadowReason.String("concurrency")), Value: 2},
	)

	assertCounter(t, got, telemetry.MetricDecisions, "{decision}",
		point{Attributes: attribute.NewSet(telemetry.AttrAction.String("hold")), Value: 2},
		point{Attributes: attribute.NewSet(telemetry.AttrAction.String("promote")), Value: 1},
	)

	for _, name := range []string{telemetry.MetricCalls, telemetry.MetricDuration, telemetry.MetricComparisons, telemetry.MetricDropped, telemetry.MetricWeight, telemetry.MetricFallbacks, telemetry.MetricDecisions} {
		assert.NotEmpty(t, got[name].Description, name)
	}
	assert.Len(t, got, 7, "no other instrument")
}

func TestRecordingAllocatesNothingAfterWarmUp(t *testing.T) {
	m, src := recorder(t)

	ok := &balancer.Attempt{Version: "stable", Role: balancer.RolePrimary, Method: getItem, Latency: 3 * time.Millisecond}
	failed := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Err: status.Error(codes.Unavailable, "down"), Latency: time.Millisecond}
	lost := &balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Err: status.Error(codes.Unavailable, "EOF"), Unanswered: true, Latency: time.Millisecond}
	ctx := context.Background()
	warm := func() {
		m.ObserveAttempt(ok)
		m.ObserveAttempt(failed)
		m.ObserveAttempt(lost)
		m.ObserveFallback("canary")
		m.RecordShadowComparison(ctx, "canary", getItem, telemetry.ShadowMatch)
		m.RecordShadowDropped(ctx, "concurrency")
		m.RecordDecision(ctx, "hold")
	}
	warm()
	assert.Zero(t, testing.AllocsPerRun(200, warm))

	w, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 202, w.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 404, w.Version("canary").Role(balancer.RolePrimary).Errors)
	assert.EqualValues(t, 202, w.Version("canary").Unanswered)
	assert.EqualValues(t, 202, w.Version("canary").Fallbacks)
}

func TestMethodCap(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	reader := linkedReader()
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp), telemetry.WithMethodCap(2))
	require.NoError(t, err)
	before := otelErrors.count()

	for _, method := range []string{"/s.S/A", "/s.S/B", "/s.S/C", "/s.S/D", "/s.S/A", "/s.S/C"} {
		m.ObserveAttempt(&balancer.Attempt{Version: "v1", Role: balancer.RolePrimary, Method: method, Latency: time.Millisecond})
	}
	m.RecordShadowComparison(context.Background(), "v1", "/s.S/E", telemetry.ShadowMatch)
	m.RecordShadowComparison(context.Background(), "v1", "/s.S/B", telemetry.ShadowMatch)
	assert.Equal(t, []string{`ninelives: telemetry records calls of more than 2 methods, the cap: s.S/C and further methods are recorded as rpc.method "other"; raise the cap with WithMethodCap`},
		otelErrors.since(before), "one warning, at the first method past the cap")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	byMethod := map[string]int64{}
	shadowByMethod := map[string]int64{}
	for _, mt := range rm.ScopeMetrics[0].Metrics {
		switch mt.Name {
		case telemetry.MetricCalls:
			for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(telemetry.AttrMethod)
				byMethod[v.AsString()] += dp.Value
			}
		case telemetry.MetricComparisons:
			for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value(telemetry.AttrMethod)
				shadowByMethod[v.AsString()] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{"s.S/A": 2, "s.S/B": 1, "other": 3}, byMethod, "C, D and C as other")
	assert.Equal(t, map[string]int64{"s.S/B": 1, "other": 1}, shadowByMethod, "the comparison of E as other")
}

func TestInstrumentStop(t *testing.T) {
	m, src := recorder(t)
	f := startFleet(t, demoserver.VersionSpec{Version: "stable", Count: 1})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	cc := dial(t, f, split)
	c := demov1.NewDemoServiceClient(cc)
	call := func() {
		_, err := c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true))
		require.NoError(t, err)
	}
	call()
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, w.Version("stable").Role(balancer.RolePrimary).Calls)

	stop()
	stop() // a second stop does nothing
	call()
	w, err = src.Collect(context.Background())
	require.NoError(t, err)
	assert.Zero(t, w.Version("stable").Role(balancer.RolePrimary).Calls, "detached: the call is not recorded")
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  telemetry.Option
		want string
	}{
		{"nil provider", telemetry.WithMeterProvider(nil), "ninelives: bad telemetry config: WithMeterProvider: the provider is nil"},
		{"method cap", telemetry.WithMethodCap(0), "ninelives: bad telemetry config: WithMethodCap = 0: want at least 1"},
		{"no buckets", telemetry.WithDurationBuckets(), "ninelives: bad telemetry config: WithDurationBuckets: want at least one bound"},
		{"unsorted buckets", telemetry.WithDurationBuckets(0.1, 0.05), "ninelives: bad telemetry config: WithDurationBuckets[1] = 0.05: want more than the bound before it, 0.1"},
		{"NaN bucket", telemetry.WithDurationBuckets(math.NaN()), "ninelives: bad telemetry config: WithDurationBuckets[0] = NaN: want a finite number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := telemetry.New(tc.opt)
			assert.Nil(t, m)
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, telemetry.ErrBadConfig)
		})
	}
	m, err := telemetry.New()
	require.NoError(t, err, "the global provider")
	_, err = m.Instrument(nil)
	assert.EqualError(t, err, "ninelives: bad telemetry config: Instrument: the split is nil")
	assert.ErrorIs(t, err, telemetry.ErrBadConfig)

	_, err = telemetry.NewSource(telemetry.WithErrorCodes(codes.Internal, codes.Code(99)))
	assert.EqualError(t, err, "ninelives: bad telemetry config: WithErrorCodes[1] = 99: not a gRPC status code (0..16)")
	assert.ErrorIs(t, err, telemetry.ErrBadConfig)
	_, err = telemetry.NewSource(telemetry.WithClock(nil))
	assert.EqualError(t, err, "ninelives: bad telemetry config: WithClock: the clock is nil")

	src, err := telemetry.NewSource()
	require.NoError(t, err)
	_, err = src.Collect(context.Background())
	assert.ErrorContains(t, err, "ninelives: collecting metrics:", "a reader on no provider")
}

// linkedReader is a reader of the test's own, cumulative, with ninelives'
// Producer linked to it.
func linkedReader() *sdkmetric.ManualReader {
	p := telemetry.NewProducer(nil)
	r := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	p.Link(r)
	return r
}

// sourceAndReader is a provider with a Source and a linked reader of the
// test's own, shut down when the test ends.
func sourceAndReader(t *testing.T) (*sdkmetric.MeterProvider, *telemetry.Source, *sdkmetric.ManualReader) {
	t.Helper()
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	reader := linkedReader()
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, src, reader
}

// point is a data point of a counter.
type point = metricdata.DataPoint[int64]

// assertCounter checks that got holds the cumulative counter name with unit
// and exactly the data points want, in any order.
func assertCounter(t *testing.T, got map[string]metricdata.Metrics, name, unit string, want ...point) {
	t.Helper()
	metricdatatest.AssertEqual(t, metricdata.Metrics{
		Name:        name,
		Description: got[name].Description,
		Unit:        unit,
		Data:        metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: want},
	}, got[name], metricdatatest.IgnoreTimestamp())
}
