package telemetry_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The Source's windows after real calls: each covers the time since the
// previous Collect, by the Source's clock, and holds only the calls made in
// it; two windows merge into the step's whole.
func TestSourceWindowsAfterRealCalls(t *testing.T) {
	clock := newClock()
	m, src := recorder(t, telemetry.WithClock(clock.now))

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
	assert.Equal(t, map[codes.Code]int64{codes.Unavailable: 5}, ca.Codes)
	assert.Equal(t, []string{"canary", "stable"}, w1.VersionNames())

	// Second window: only what happened since the first.
	calls("stable", 10, "a", codes.OK)
	clock.advance(5 * time.Second)
	w2, err := src.Collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, w1.End, w2.Start)
	assert.EqualValues(t, 10, w2.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 10, w2.Version("stable").Role(balancer.RolePrimary).Latency.Count)
	assert.Zero(t, w2.Version("canary").Role(balancer.RolePrimary).Calls)

	// The step's whole duration: the two windows merged.
	all := new(telemetry.Window)
	require.NoError(t, all.Merge(w1))
	require.NoError(t, all.Merge(w2))
	assert.Equal(t, w1.Start, all.Start)
	assert.Equal(t, w2.End, all.End)
	assert.EqualValues(t, 32, all.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 32, all.Version("stable").Role(balancer.RolePrimary).Latency.Count)
	assert.EqualValues(t, 5, all.Version("canary").Role(balancer.RolePrimary).Errors)

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
	assert.Equal(t, map[codes.Code]int64{codes.OK: 2, codes.InvalidArgument: 2}, r.Codes, "every code is still counted")
}

// The instruments come from a Producer, past the SDK's views: a View on
// ninelives.rpc.duration changes neither the Source's windows nor what
// exporters get (WithDurationBuckets sets their buckets).
func TestViewsDoNotReachTheInstruments(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	reader := linkedReader()
	view := sdkmetric.NewView(sdkmetric.Instrument{Name: telemetry.MetricDuration},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: []float64{0.1, 1}}})
	mp := sdkmetric.NewMeterProvider(src.Option(), sdkmetric.WithReader(reader), sdkmetric.WithView(view))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem, Latency: time.Millisecond})

	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, w.Version("v").Role(balancer.RolePrimary).Latency.Count)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	h := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricDuration).Data.(metricdata.Histogram[float64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, telemetry.DurationBuckets, h.DataPoints[0].Bounds)
}

// Each role's histogram holds its own calls only, however the roles'
// latencies interleave.
func TestRoleHistogramsKeepApart(t *testing.T) {
	m, src := recorder(t)
	record := func(role balancer.Role, d time.Duration, n int) {
		for range n {
			m.ObserveAttempt(&balancer.Attempt{Version: "v", Role: role, Method: getItem, Latency: d})
		}
	}
	record(balancer.RolePrimary, time.Millisecond, 5)
	record(balancer.RoleShadow, time.Microsecond, 2)
	record(balancer.RoleShadow, time.Second, 2)
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	for role, want := range map[balancer.Role][2]float64{balancer.RolePrimary: {0.001, 0.001}, balancer.RoleShadow: {1e-6, 1}} {
		h := w.Version("v").Role(role).Latency
		var inBuckets uint64
		for _, c := range h.Counts {
			inBuckets += c
		}
		assert.Equal(t, h.Count, inBuckets+h.ZeroCount, role)
		assert.Equal(t, want[0], h.Min, role)
		assert.Equal(t, want[1], h.Max, role)
	}
}

// Calls recorded from many goroutines while windows are collected: every
// call lands in exactly one window, and each window is valid.
func TestConcurrentRecordAndCollect(t *testing.T) {
	m, src := recorder(t)
	const writers, each = 4, 5000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				m.ObserveAttempt(&balancer.Attempt{
					Version: []string{"stable", "canary"}[i%2],
					Role:    balancer.RolePrimary,
					Method:  []string{getItem, listItems, echo}[i%3],
					Err:     []error{nil, status.Error(codes.Unavailable, "x")}[(i/2)%2],
					Latency: time.Duration(1+g*each+i) * time.Microsecond,
				})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	all := new(telemetry.Window)
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		w, err := src.Collect(context.Background())
		require.NoError(t, err)
		require.NoError(t, all.Merge(w), "a valid window")
	}
	var calls, latencies, codeSum int64
	for _, v := range all.VersionNames() {
		r := all.Version(v).Role(balancer.RolePrimary)
		calls += r.Calls
		latencies += int64(r.Latency.Count)
		for _, n := range r.Codes {
			codeSum += n
		}
	}
	assert.EqualValues(t, writers*each, calls)
	assert.EqualValues(t, writers*each, latencies)
	assert.EqualValues(t, writers*each, codeSum)
}

// The second attempts of interceptor/rescue are recorded with the role
// rescue, apart from the baseline's primary calls: the candidate's failures
// count against it as primary calls, the baseline's primary figures hold
// only its own traffic, and readers see ninelives.role="rescue".
func TestRescuesAreARoleOfTheirOwn(t *testing.T) {
	mp, src, reader := sourceAndReader(t)
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)

	f := startFleet(t,
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{ErrorRate: 1}},
	)
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 0}, balancer.Weight{Version: "canary", Weight: balancer.TotalWeight})
	stop, err := m.Instrument(split)
	require.NoError(t, err)
	t.Cleanup(stop)
	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable", DisableHedge: true})
	require.NoError(t, err)
	c := demov1.NewDemoServiceClient(dial(t, f, split, grpc.WithChainUnaryInterceptor(rs.UnaryClientInterceptor())))
	for range 5 {
		r, err := c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
		require.Equal(t, "stable", r.GetServedBy().GetVersion())
	}

	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[codes.Code]int64{codes.Unavailable: 5}, w.Version("canary").Role(balancer.RolePrimary).Codes)
	assert.Zero(t, w.Version("stable").Role(balancer.RolePrimary).Calls, "no primary call of stable")
	rescued := w.Version("stable").Role(balancer.RoleRescue)
	assert.Equal(t, map[codes.Code]int64{codes.OK: 5}, rescued.Codes)
	assert.EqualValues(t, 5, rescued.Latency.Count)
	assert.Len(t, w.Version("stable").Roles, 1, "only rescue")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	calls := metricNamed(t, &rm, telemetry.ScopeName, telemetry.MetricCalls).Data.(metricdata.Sum[int64]).DataPoints
	key := func(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }
	byAttrs := map[string]int64{}
	for _, p := range calls {
		byAttrs[key(p.Attributes)] = p.Value
	}
	assert.Equal(t, map[string]int64{
		key(callAttrs("canary", balancer.RolePrimary, getItem, codes.Unavailable)): 5,
		key(callAttrs("stable", balancer.RoleRescue, getItem, codes.OK)):           5,
	}, byAttrs)
}

// Primary attempts that failed before the server answered are counted
// apart, among the errors, in windows and for exporters; shadow copies and
// answered failures are not, and with Unavailable no error the Source
// counts none.
func TestUnansweredCalls(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	other, err := telemetry.NewSource(telemetry.WithErrorCodes(codes.Internal))
	require.NoError(t, err)
	reader := linkedReader()
	mp := sdkmetric.NewMeterProvider(src.Option(), other.Option(), sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	lost := status.Error(codes.Unavailable, "error reading from server: EOF")
	for range 3 {
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Err: lost, Unanswered: true, Latency: time.Millisecond})
	}
	m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RoleShadow, Method: getItem, Err: lost, Unanswered: true, Latency: time.Millisecond})
	for range 2 {
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: balancer.RolePrimary, Method: getItem, Err: status.Error(codes.Unavailable, "injected"), Latency: time.Millisecond})
	}
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 3, w.Version("canary").Unanswered)
	assert.EqualValues(t, 5, w.Version("canary").Role(balancer.RolePrimary).Errors)
	assert.EqualValues(t, 1, w.Version("canary").Role(balancer.RoleShadow).Errors)

	w, err = other.Collect(context.Background())
	require.NoError(t, err)
	assert.Zero(t, w.Version("canary").Unanswered, "Unavailable is no error here")
	assert.EqualValues(t, 5, w.Version("canary").Role(balancer.RolePrimary).Calls)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Metrics{}
	for _, mt := range rm.ScopeMetrics[0].Metrics {
		got[mt.Name] = mt
	}
	assertCounter(t, got, telemetry.MetricUnanswered, "{call}",
		point{Attributes: attribute.NewSet(telemetry.AttrVersion.String("canary"), telemetry.AttrMethod.String(getItem[1:])), Value: 3})
	assert.NotEmpty(t, got[telemetry.MetricUnanswered].Description)
}
