package telemetry_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// recorder is a Metrics on a provider of its own with a Source.
func recorder(t testing.TB, opts ...telemetry.SourceOption) (*telemetry.Metrics, *telemetry.Source) {
	t.Helper()
	src, err := telemetry.NewSource(opts...)
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	return m, src
}

// errorBound is the largest relative error of h's quantiles, as the
// Histogram's documentation states it: the ratio of a bucket's bounds less
// one, 2^(2^-Scale) − 1.
func errorBound(h telemetry.Histogram) float64 {
	return math.Exp2(math.Exp2(-float64(h.Scale))) - 1
}

// upperBounds are the upper bounds of the buckets of h that hold values.
func upperBounds(h telemetry.Histogram) []float64 {
	var out []float64
	for i, c := range h.Counts {
		if c > 0 {
			out = append(out, math.Exp2(float64(int64(h.Offset)+int64(i)+1)*math.Exp2(-float64(h.Scale))))
		}
	}
	return out
}

// sampleQuantile is the value of rank ⌈q·n⌉ of sorted xs.
func sampleQuantile(sorted []float64, q float64) float64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(r, 1)-1]
}

// Quantiles of 100,000 log-normal latencies, recorded through the hook and
// read back by the Source, stay within the histogram's error bound of the
// sample quantiles, and within 5 % of the distribution's true p50 and p99.
func TestQuantileAccuracyLogNormal(t *testing.T) {
	const (
		n     = 100000
		mu    = -3.912 // ln(0.02): a 20 ms median
		sigma = 0.8
		z99   = 2.3263478740408408
	)
	m, src := recorder(t)
	rng := rand.New(rand.NewPCG(42, 7))
	xs := make([]float64, 0, n)
	a := &balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem}
	var windows []*telemetry.Window
	for i := range n {
		d := time.Duration(math.Exp(mu+sigma*rng.NormFloat64()) * 1e9)
		xs = append(xs, d.Seconds())
		a.Latency = d
		m.ObserveAttempt(a)
		if i == n/2 {
			w, err := src.Collect(context.Background())
			require.NoError(t, err)
			windows = append(windows, w)
		}
	}
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	windows = append(windows, w)
	raw := slices.Clone(xs)
	sort.Float64s(xs)

	all := new(telemetry.Window)
	for _, w := range windows {
		require.NoError(t, all.Merge(w))
	}
	h := all.Version("v").Role(balancer.RolePrimary).Latency
	require.EqualValues(t, n, h.Count)
	bound := errorBound(h)
	t.Logf("scale %d, %d buckets, error bound %.2f %%", h.Scale, len(h.Counts), 100*bound)
	assert.GreaterOrEqual(t, h.Scale, int32(4), "latencies spanning far less than 2^20 keep scale 4 or finer")
	assert.LessOrEqual(t, bound, 0.0443)
	assert.Equal(t, xs[0], h.Min)
	assert.Equal(t, xs[n-1], h.Max)

	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		est, exact := h.Quantile(q), sampleQuantile(xs, q)
		rel := math.Abs(est-exact) / exact
		assert.LessOrEqual(t, rel, bound, "q=%v: estimate %v, sample %v", q, est, exact)
		assert.LessOrEqual(t, rel, 0.05, "q=%v", q)
		t.Logf("q=%v estimate %.6f sample %.6f error %.3f %%", q, est, exact, 100*rel)
	}
	p50, p99 := math.Exp(mu), math.Exp(mu+z99*sigma)
	assert.InEpsilon(t, p50, h.P50(), 0.05)
	assert.InEpsilon(t, p99, h.P99(), 0.05)

	// Each window alone is within its own bound of its own samples.
	for i, part := range [][]float64{raw[:n/2+1], raw[n/2+1:]} {
		part = slices.Sorted(slices.Values(part))
		hw := windows[i].Version("v").Role(balancer.RolePrimary).Latency
		require.EqualValues(t, len(part), hw.Count)
		for _, q := range []float64{0.5, 0.99} {
			est, exact := hw.Quantile(q), sampleQuantile(part, q)
			assert.LessOrEqual(t, math.Abs(est-exact)/exact, errorBound(hw), "window %d q=%v", i, q)
		}
	}

	// Slow calls: exact counts above thresholds, estimated within 0.2 % of
	// the calls (the one bucket that straddles the threshold is estimated).
	for _, thr := range []float64{0.005, 0.02, 0.05, 0.1, 0.25} {
		exact := n - sort.SearchFloat64s(xs, math.Nextafter(thr, math.Inf(1)))
		got := h.CountAbove(thr)
		assert.InDelta(t, exact, got, 0.002*n, "above %v s", thr)
	}
	// On a bucket bound the count is exact (up to values that land on the
	// bound itself).
	upper := upperBounds(h)[len(upperBounds(h))/2]
	exact := n - sort.SearchFloat64s(xs, math.Nextafter(upper, math.Inf(1)))
	assert.InDelta(t, exact, h.CountAbove(upper), 2)
}

// Random data sets of many shapes: no estimate ever leaves the stated bound.
func TestQuantileErrorBoundHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 12 {
		m, src := recorder(t)
		n := 200 + rng.IntN(3000)
		mu := -9 + 8*rng.Float64() // medians from 0.1 ms to 0.3 s
		sigma := 0.05 + 2*rng.Float64()
		xs := make([]float64, n)
		a := &balancer.Attempt{Version: "v", Role: balancer.RolePrimary, Method: getItem}
		for i := range xs {
			d := time.Duration(math.Exp(mu+sigma*rng.NormFloat64())*1e9) + 1
			xs[i] = d.Seconds()
			a.Latency = d
			m.ObserveAttempt(a)
		}
		slices.Sort(xs)
		w, err := src.Collect(context.Background())
		require.NoError(t, err)
		h := w.Version("v").Role(balancer.RolePrimary).Latency
		for _, q := range []float64{0.01, 0.1, 0.5, 0.75, 0.9, 0.99, 1} {
			est, exact := h.Quantile(q), sampleQuantile(xs, q)
			assert.LessOrEqual(t, math.Abs(est-exact)/exact, errorBound(h)+1e-12,
				"trial %d (n=%d μ=%.2f σ=%.2f scale %d) q=%v: %v vs %v", trial, n, mu, sigma, h.Scale, q, est, exact)
		}
	}
}

func TestHistogramArithmetic(t *testing.T) {
	// Scale 0: bucket i is (2^i, 2^(i+1)].
	h := telemetry.Histogram{Count: 4, Sum: 10, Min: 1.5, Max: 3.5, Scale: 0, Offset: 0, Counts: []uint64{2, 2}}
	assert.EqualValues(t, 2, h.CountAbove(2), "on a bound: exact")
	assert.EqualValues(t, 4, h.CountAbove(1), "below Min: all")
	assert.EqualValues(t, 0, h.CountAbove(3.5), "at Max: none")
	assert.EqualValues(t, 1, h.CountAbove(math.Sqrt(2*3.5)), "half of (2, 3.5] geometrically")
	assert.Equal(t, 1.5, h.Quantile(0))
	assert.Equal(t, 2.0, h.Quantile(0.5))
	assert.Equal(t, 3.5, h.Quantile(1))
	assert.InDelta(t, math.Sqrt(1.5*2), h.Quantile(0.25), 1e-12)
	assert.True(t, math.IsNaN(h.Quantile(1.5)))
	assert.True(t, math.IsNaN(h.Quantile(math.NaN())))

	var empty telemetry.Histogram
	assert.True(t, empty.Empty())
	assert.True(t, math.IsNaN(empty.P50()))
	assert.Zero(t, empty.CountAbove(0.1))

	// Zeros sit below every bucket.
	z := telemetry.Histogram{Count: 3, Sum: 4, Min: 0, Max: 4, Scale: 0, ZeroCount: 2, Offset: 1, Counts: []uint64{1}}
	assert.Equal(t, 0.0, z.P50())
	assert.Equal(t, 4.0, z.Quantile(1))
	assert.EqualValues(t, 1, z.CountAbove(0))
}

func TestWindowMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// a: scale 1, buckets 2, 3, 4 → at scale 0: 1, 1, 2.
	ha := telemetry.Histogram{Count: 6, Sum: 12, Min: 1.5, Max: 7, Scale: 1, Offset: 2, Counts: []uint64{1, 2, 3}}
	// b: scale 0, bucket 1.
	hb := telemetry.Histogram{Count: 5, Sum: 14, Min: 0, Max: 3.9, Scale: 0, ZeroCount: 1, Offset: 1, Counts: []uint64{4}}
	a := &telemetry.Window{
		Start: t0, End: t0.Add(10 * time.Second),
		Versions: map[string]*telemetry.VersionStats{
			"canary": {
				Roles: map[balancer.Role]*telemetry.RoleStats{
					balancer.RolePrimary: {Calls: 6, Errors: 1, Codes: map[codes.Code]int64{codes.OK: 5, codes.Internal: 1}, Latency: ha},
				},
				Shadow:    map[string]int64{telemetry.ShadowMatch: 3},
				Fallbacks: 2,
			},
		},
	}
	b := &telemetry.Window{
		Start: t0.Add(10 * time.Second), End: t0.Add(20 * time.Second),
		Overflow: telemetry.Overflow{OtherMethods: 7},
		Versions: map[string]*telemetry.VersionStats{
			"canary": {
				Roles: map[balancer.Role]*telemetry.RoleStats{
					balancer.RolePrimary: {Calls: 5, Errors: 2, Codes: map[codes.Code]int64{codes.OK: 3, codes.Unavailable: 2}, Latency: hb},
					balancer.RoleShadow:  {Calls: 1, Codes: map[codes.Code]int64{codes.OK: 1}},
				},
				Shadow: map[string]int64{telemetry.ShadowMatch: 1, telemetry.ShadowMismatch: 2},
			},
			"stable": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 40, Codes: map[codes.Code]int64{codes.OK: 40}}}},
		},
	}
	aBefore := a.Clone()
	bJSON, err := json.Marshal(b)
	require.NoError(t, err)

	w := a.Clone()
	require.NoError(t, w.Merge(b))
	assert.Equal(t, t0, w.Start)
	assert.Equal(t, t0.Add(20*time.Second), w.End)
	p := w.Version("canary").Role(balancer.RolePrimary)
	assert.EqualValues(t, 11, p.Calls)
	assert.EqualValues(t, 3, p.Errors)
	assert.Equal(t, map[codes.Code]int64{codes.OK: 8, codes.Internal: 1, codes.Unavailable: 2}, p.Codes)
	assert.Equal(t, telemetry.Histogram{Count: 11, Sum: 26, Min: 0, Max: 7, Scale: 0, ZeroCount: 1, Offset: 1, Counts: []uint64{7, 3}}, p.Latency)
	assert.EqualValues(t, 1, w.Version("canary").Role(balancer.RoleShadow).Calls)
	assert.EqualValues(t, 40, w.Version("stable").Role(balancer.RolePrimary).Calls)
	assert.Equal(t, map[string]int64{telemetry.ShadowMatch: 4, telemetry.ShadowMismatch: 2}, w.Version("canary").Shadow)
	assert.EqualValues(t, 2, w.Version("canary").Fallbacks)
	assert.EqualValues(t, 7, w.Overflow.OtherMethods)

	// Merging in the other order gives the same sums and times.
	r := b.Clone()
	require.NoError(t, r.Merge(a))
	assert.Equal(t, w.Version("canary").Role(balancer.RolePrimary), r.Version("canary").Role(balancer.RolePrimary))
	assert.Equal(t, w.Start, r.Start)
	assert.Equal(t, w.End, r.End)

	// Nothing was shared: the inputs are as they were.
	w.Versions["canary"].Roles[balancer.RolePrimary].Latency.Counts[0] = 99
	w.Versions["canary"].Shadow[telemetry.ShadowMatch] = 99
	assert.Equal(t, aBefore, a)
	bAfter, err := json.Marshal(b)
	require.NoError(t, err)
	assert.JSONEq(t, string(bJSON), string(bAfter))

	// A bad histogram (as from a decoded window) is refused, w unchanged.
	bad := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"x": {Roles: map[balancer.Role]*telemetry.RoleStats{
		balancer.RolePrimary: {Calls: 1, Latency: telemetry.Histogram{Count: 1, Scale: 25, Counts: []uint64{1}}},
	}}}}
	c := a.Clone()
	err = c.Merge(bad)
	assert.EqualError(t, err, `ninelives: bad telemetry window: versions["x"].roles["primary"].latency.scale = 25: want -10..20`)
	assert.ErrorIs(t, err, telemetry.ErrBadWindow)
	assert.Equal(t, a, c)
	var nilW *telemetry.Window
	assert.EqualError(t, nilW.Merge(a), "ninelives: bad telemetry window: Merge: the window merged into is nil")
	assert.NoError(t, c.Merge(nil))
}

func TestMergeKeepsBucketsBounded(t *testing.T) {
	// One value of 2^-20 s and one of 64 s, each at scale 20: the merged
	// histogram spans 26 doublings, 26·2^20 buckets at scale 20, so it
	// drops to scale 7 (26·128 + 1 buckets ≤ 4096).
	lo, hi := math.Ldexp(1, -20), 64.0
	a := telemetry.Histogram{Count: 1, Sum: lo, Min: lo, Max: lo, Scale: 20, Offset: -20<<20 - 1, Counts: []uint64{1}}
	b := telemetry.Histogram{Count: 1, Sum: hi, Min: hi, Max: hi, Scale: 20, Offset: 6<<20 - 1, Counts: []uint64{1}}
	one := func(h telemetry.Histogram) *telemetry.Window {
		return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"v": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Calls: 1, Latency: h}}}}}
	}
	w := one(a)
	require.NoError(t, w.Merge(one(b)))
	h := w.Version("v").Role(balancer.RolePrimary).Latency
	assert.Equal(t, int32(7), h.Scale)
	assert.Len(t, h.Counts, 26*128+1)
	assert.EqualValues(t, 2, h.Count)
	assert.Equal(t, lo, h.Quantile(0.25))
	assert.InEpsilon(t, hi, h.Quantile(1), 1e-12)
	assert.EqualValues(t, 1, h.CountAbove(1))
}

func TestZeroValuesNeverPanic(t *testing.T) {
	var nilW *telemetry.Window
	r := nilW.Version("canary").Role(balancer.RolePrimary)
	assert.Zero(t, r.Calls)
	assert.True(t, math.IsNaN(r.Latency.P99()))
	assert.Nil(t, nilW.VersionNames())
	assert.Nil(t, nilW.Clone())
	w := new(telemetry.Window)
	assert.Zero(t, w.Version("x").Role(balancer.RoleWarmup).Latency.CountAbove(1))
	assert.Empty(t, w.Version("x").Shadow)
	js, err := json.Marshal(w)
	require.NoError(t, err)
	assert.JSONEq(t, `{"start":"0001-01-01T00:00:00Z","end":"0001-01-01T00:00:00Z"}`, string(js))
}

func TestMutableVersionAndRole(t *testing.T) {
	w := new(telemetry.Window)
	r := w.MutableVersion("canary").MutableRole(balancer.RoleShadow)
	r.Calls, r.Errors = 10, 2
	w.MutableVersion("canary").MutableRole(balancer.RoleShadow).Calls++
	w.MutableVersion("canary").Fallbacks = 3
	assert.Equal(t, []string{"canary"}, w.VersionNames())
	got := w.Version("canary")
	assert.Equal(t, int64(11), got.Role(balancer.RoleShadow).Calls, "the second call writes the same figures")
	assert.Equal(t, int64(2), got.Role(balancer.RoleShadow).Errors)
	assert.Equal(t, int64(3), got.Fallbacks)
	assert.Zero(t, got.Role(balancer.RolePrimary).Calls, "only the role asked for is added")
}

func TestHistogramJSON(t *testing.T) {
	h := telemetry.Histogram{Count: 4, Sum: 10, Min: 1.5, Max: 3.5, Scale: 0, Offset: 0, Counts: []uint64{2, 2}}
	js, err := json.Marshal(h)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(js, &fields))
	assert.Equal(t, 2.0, fields["p50"])
	assert.InDelta(t, 2*math.Pow(3.5/2, 0.98), fields["p99"], 1e-12)
	var back telemetry.Histogram
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, h, back)
	js, err = json.Marshal(telemetry.Histogram{})
	require.NoError(t, err)
	assert.NotContains(t, string(js), "p50", "no NaN for an empty histogram")
}

func TestMergeInPlaceAndAcrossScales(t *testing.T) {
	one := func(h telemetry.Histogram) *telemetry.Window {
		return &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"v": {Roles: map[balancer.Role]*telemetry.RoleStats{balancer.RolePrimary: {Latency: h}}}}}
	}
	// o, at a finer scale, falls inside w's buckets: (2^1, 2^1.25] and
	// (2^1.25, 2^1.5] are both inside (2, 4].
	w := one(telemetry.Histogram{Count: 4, Sum: 10, Min: 0.6, Max: 15, Scale: 0, Offset: 0, Counts: []uint64{1, 1, 1, 1}})
	o := telemetry.Histogram{Count: 2, Sum: 5, Min: 2.2, Max: 2.6, Scale: 2, Offset: 4, Counts: []uint64{1, 1}}
	require.NoError(t, w.Merge(one(o)))
	assert.Equal(t, telemetry.Histogram{Count: 6, Sum: 15, Min: 0.6, Max: 15, Scale: 0, Offset: 0, Counts: []uint64{1, 3, 1, 1}},
		w.Version("v").Role(balancer.RolePrimary).Latency)
	assert.Equal(t, []uint64{1, 1}, o.Counts)

	// Outside them, the buckets grow: (2^4, 2^5] at scale 0.
	far := telemetry.Histogram{Count: 1, Sum: 20, Min: 20, Max: 20, Scale: 3, Offset: 34, Counts: []uint64{1}}
	require.NoError(t, w.Merge(one(far)))
	assert.Equal(t, telemetry.Histogram{Count: 7, Sum: 35, Min: 0.6, Max: 20, Scale: 0, Offset: 0, Counts: []uint64{1, 3, 1, 1, 1}},
		w.Version("v").Role(balancer.RolePrimary).Latency)
}

func TestUnknownRolesCollapseIntoOther(t *testing.T) {
	m, src := recorder(t)
	for _, r := range []balancer.Role{balancer.RolePrimary, "probe-1", "probe-2", balancer.RoleWarmup} {
		m.ObserveAttempt(&balancer.Attempt{Version: "canary", Role: r, Method: "/x.Y/Z", Latency: time.Millisecond})
	}
	w, err := src.Collect(context.Background())
	require.NoError(t, err)
	v := w.Version("canary")
	assert.EqualValues(t, 1, v.Role(balancer.RolePrimary).Calls)
	assert.EqualValues(t, 1, v.Role(balancer.RoleWarmup).Calls)
	assert.EqualValues(t, 2, v.Role("other").Calls, "both invented roles")
	assert.Len(t, v.Roles, 3)
}

// Every check of a histogram from outside names its field by its JSON name,
// under the version and role that hold it.
func TestMergeRefusesBadHistograms(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    telemetry.Histogram
		want string
	}{
		{"scale", telemetry.Histogram{Scale: -11}, "latency.scale = -11: want -10..20"},
		{"counts", telemetry.Histogram{Counts: make([]uint64, 1<<20+1)}, "latency.counts: 1048577 buckets, want at most 1048576"},
		{"offset", telemetry.Histogram{Offset: math.MaxInt32, Counts: []uint64{1}}, "latency.offset = 2147483647: the last bucket's index is above 2147483647"},
		{"min", telemetry.Histogram{Min: math.NaN()}, "latency.min = NaN: want a number"},
		{"max", telemetry.Histogram{Max: math.NaN()}, "latency.max = NaN: want a number"},
		{"sum", telemetry.Histogram{Sum: math.NaN()}, "latency.sum = NaN: want a number"},
		{"min above max", telemetry.Histogram{Count: 1, Min: 2, Max: 1}, "latency.min = 2: above max 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := &telemetry.Window{Versions: map[string]*telemetry.VersionStats{"canary": {Roles: map[balancer.Role]*telemetry.RoleStats{
				balancer.RoleShadow: {Latency: tc.h},
			}}}}
			err := new(telemetry.Window).Merge(bad)
			assert.EqualError(t, err, `ninelives: bad telemetry window: versions["canary"].roles["shadow"].`+tc.want)
			assert.ErrorIs(t, err, telemetry.ErrBadWindow)
		})
	}
}
