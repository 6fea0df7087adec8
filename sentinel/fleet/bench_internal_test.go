package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

// realWindow is one replica's second of traffic as the telemetry Source
// collects it: 200 calls of stable and 20 of canary on one method, about
// 1 % failing, latencies spread over 1 to 20 ms, so that each histogram
// holds as many buckets as a real one.
func realWindow(tb testing.TB, seed uint64) *telemetry.Window {
	tb.Helper()
	src, err := telemetry.NewSource()
	require.NoError(tb, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	defer mp.Shutdown(context.Background())
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(tb, err)
	rng := rand.New(rand.NewPCG(seed, 1))
	unavailable := status.Error(codes.Unavailable, "down")
	for i := range 220 {
		v := "stable"
		if i%11 == 0 {
			v = "canary"
		}
		var err error
		if rng.IntN(100) == 0 {
			err = unavailable
		}
		lat := time.Duration(float64(time.Millisecond) * (1 + 19*rng.Float64()*rng.Float64()))
		m.ObserveAttempt(&balancer.Attempt{Version: v, Role: balancer.RolePrimary, Method: "/demo.Service/GetItem", Err: err, Latency: lat})
	}
	w, err := src.Collect(context.Background())
	require.NoError(tb, err)
	return w
}

// benchFleet is n replicas' reports written straight to an embedded etcd,
// as each replica's Reporter writes them (one transaction that puts the
// new report and drops those past the retention), and a leader reading
// them.
type benchFleet struct {
	tb      testing.TB
	client  *clientv3.Client
	keys    keys
	n, seq  int
	win     *telemetry.Window
	leader  *Leader
	clock   *sentineltest.Clock
	legacy  bool   // JSON reports read by a ranged read, as before
	keep    uint64 // the reports each replica keeps
	tickDur map[bool][]time.Duration
}

func newBenchFleet(tb testing.TB, n int, opts ...Option) *benchFleet {
	srv, err := fleettest.Start(tb.TempDir())
	require.NoError(tb, err)
	tb.Cleanup(srv.Stop)
	c, err := fleettest.Client(srv.Endpoint())
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	k, _ := newKeys("/bench")
	clock := sentineltest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{1000, 10000}, MinStepDuration: time.Hour, MinStepCalls: 1 << 40})
	require.NoError(tb, err)
	initial := []balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}}
	l, err := NewLeader(c, "/bench", "bench", initial, strategy, append([]Option{WithClock(clock), WithLogger(quietLog), WithTimeout(time.Minute)}, opts...)...)
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close() })
	require.NoError(tb, l.Campaign(context.Background()))
	return &benchFleet{tb: tb, client: c, keys: k, n: n, win: realWindow(tb, 1), leader: l, clock: clock, keep: 64, tickDur: map[bool][]time.Duration{}}
}

// reportAll writes one report of every replica, from 8 writers.
func (f *benchFleet) reportAll() {
	f.seq++
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < f.n; i += 8 {
				f.write(fmt.Sprintf("r-%d", i))
			}
		})
	}
	wg.Wait()
}

func (f *benchFleet) write(replica string) {
	seq := uint64(f.seq)
	r := &report{Format: StateFormat, Replica: replica, Epoch: "e", Seq: seq, Segments: []segment{{State: 1, Window: f.win}}}
	val := encodeReport(r)
	if f.legacy {
		var err error
		val, err = json.Marshal(r)
		require.NoError(f.tb, err)
	}
	ops := []clientv3.Op{clientv3.OpPut(f.keys.report(replica, "e", seq), string(val))}
	if keep := f.keep; seq > keep {
		ops = append(ops, clientv3.OpDelete(f.keys.report(replica, "e", 1), clientv3.WithRange(f.keys.report(replica, "e", seq-keep+1))))
	}
	_, err := f.client.Txn(context.Background()).Then(ops...).Commit()
	require.NoError(f.tb, err)
}

// tick writes every replica's report, then times the leader's tick.
func (f *benchFleet) tick(legacy bool) time.Duration {
	f.legacy = legacy
	f.leader.src.mu.Lock()
	f.leader.src.rangeOnly = legacy
	f.leader.src.closeWatchLocked()
	f.leader.src.mu.Unlock()
	if !legacy {
		f.leader.Tick(context.Background()) // opens the watch, past the legacy rounds' reports
	}
	f.clock.Advance(time.Second)
	f.reportAll()
	start := time.Now()
	_, err := f.leader.Tick(context.Background())
	d := time.Since(start)
	require.NoError(f.tb, err)
	require.Equal(f.tb, f.n, f.leader.Status().Source.Replicas, "every replica's report read")
	f.tickDur[legacy] = append(f.tickDur[legacy], d)
	return d
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkLeaderTick measures the leader's tick over n replicas, each
// with one new report since the last tick and 64 kept (the default
// retention), against an embedded etcd on loopback: the read of the
// reports, their decoding and sums, the sentinel's tick and the commit.
// Each iteration is a paired round: a tick as before (reports in JSON,
// read by a ranged read that scans every report kept) and a tick as now
// (the binary form, read from a watch). It reports each one's median time
// per replica and their ratio.
func BenchmarkLeaderTick(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			f := newBenchFleet(b, n)
			for range 64 { // fill the retention
				f.reportAll()
			}
			f.tick(true)
			b.ResetTimer()
			for range b.N {
				f.tick(true)
				f.tick(false)
			}
			b.StopTimer()
			before, after := median(f.tickDur[true]), median(f.tickDur[false])
			b.ReportMetric(float64(before.Nanoseconds())/float64(n), "ns/replica-before")
			b.ReportMetric(float64(after.Nanoseconds())/float64(n), "ns/replica-after")
			b.ReportMetric(float64(after)/float64(before), "after/before")
		})
	}
}

// BenchmarkDecodeReport is the leader's work per report: decoding it and
// adding its figures to the tick's window, for a report in the binary
// form and in JSON.
func BenchmarkDecodeReport(b *testing.B) {
	r := &report{Format: StateFormat, Replica: "r-1", Epoch: "e", Seq: 1, Segments: []segment{{State: 1, Window: realWindow(b, 1)}}}
	js, err := json.Marshal(r)
	require.NoError(b, err)
	for _, c := range []struct {
		name string
		val  []byte
	}{{"binary", encodeReport(r)}, {"json", js}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.val)))
			win := &telemetry.Window{}
			var scratch report
			for b.Loop() {
				rep, err := decodeReport(c.val, "r-1", "e", 1, &scratch)
				if err != nil {
					b.Fatal(err)
				}
				if err := win.Merge(rep.Segments[0].Window); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
