package promsource_test

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry/promsource"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

const method = "/ninelives.demo.v1.DemoService/GetItem"

// observe records n attempts of a version, as the balancer's hook does.
func observe(c *client, version string, n int, latency time.Duration, err error) {
	for range n {
		c.metrics.ObserveAttempt(&balancer.Attempt{Version: version, Role: balancer.RolePrimary, Method: method, Err: err, Latency: latency})
	}
}

// TestCountsAcrossReplicasAndRestarts sums two client replicas, scopes a
// source to one of them, and counts across a replica's restart (its
// counters start again from zero on the same address) and across an outage
// between the source and Prometheus.
func TestCountsAcrossReplicasAndRestarts(t *testing.T) {
	srv := prometheus(t)
	tgA, tgB := target(t), target(t)
	a, b := newClient(t, tgA), newClient(t, tgB)

	var down atomic.Bool
	dialer := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if down.Load() {
				return nil, errors.New("the network to Prometheus is down")
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	both := newSource(t, srv, []*promtest.Target{tgA, tgB}, promsource.WithHTTPClient(hc))
	onlyA := newSource(t, srv, []*promtest.Target{tgA})

	// 100 calls of 12 ms and 10 failures of 30 ms on A, 50 calls of 12 ms
	// on B.
	unavailable := status.Error(codes.Unavailable, "down")
	observe(a, "stable", 100, 12*time.Millisecond, nil)
	observe(a, "canary", 10, 30*time.Millisecond, unavailable)
	observe(b, "stable", 50, 12*time.Millisecond, nil)
	wantA := a.collect(t)
	b.collect(t)
	waitScraped(t, srv, a, b)

	w := collect(t, both)
	stable := w.Version("stable").Role(balancer.RolePrimary)
	canary := w.Version("canary").Role(balancer.RolePrimary)
	assert.Equal(t, int64(150), stable.Calls)
	assert.Zero(t, stable.Errors)
	assert.Equal(t, int64(10), canary.Calls)
	assert.Equal(t, int64(10), canary.Errors)
	assert.Equal(t, map[codes.Code]int64{codes.Unavailable: 10}, canary.Codes)
	// 12 ms is in the explicit bucket (10 ms, 13 ms]: every call is placed
	// at its geometric middle, in one exponential bucket.
	bks := buckets(stable.Latency)
	require.Len(t, bks, 1)
	bk := bks[0]
	assert.Equal(t, uint64(150), bk.count)
	mid := math.Sqrt(0.010 * 0.013)
	assert.True(t, bk.lower < mid && mid <= bk.upper, "bucket (%v, %v] holds %v", bk.lower, bk.upper, mid)
	assert.InDelta(t, 150*0.012, stable.Latency.Sum, 1e-9, "the sum is exact")
	assert.Equal(t, 0.010, stable.Latency.Min)
	assert.Equal(t, 0.013, stable.Latency.Max)
	assert.InEpsilon(t, 0.012, stable.Latency.P50(), math.Sqrt(0.013/0.010)*math.Exp2(1.0/16)-1)
	assertSameWindow(t, wantA, collect(t, onlyA))

	// A restarts: a new exporter on the same address, counting from zero.
	// Meanwhile the source cannot reach Prometheus for one Collect.
	a = newClient(t, tgA)
	observe(a, "stable", 7, 3*time.Millisecond, nil)
	observe(b, "stable", 5, 3*time.Millisecond, nil)
	wantA = a.collect(t)
	b.collect(t)
	waitScraped(t, srv, a, b)
	down.Store(true)
	_, err := both.Collect(context.Background())
	require.Error(t, err)
	var qe *promsource.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Contains(t, err.Error(), "the network to Prometheus is down")
	assert.Contains(t, err.Error(), qe.Query, "the error names the query")
	assert.Contains(t, qe.Query, `{__name__=~"ninelives_rpc_calls_total|`)
	down.Store(false)
	observe(a, "stable", 3, 3*time.Millisecond, nil)
	wantA2 := a.collect(t)
	waitScraped(t, srv, a, b)

	w = collect(t, both)
	stable = w.Version("stable").Role(balancer.RolePrimary)
	assert.Equal(t, int64(7+5+3), stable.Calls, "after the restart, the failed Collect's calls too")
	assert.Empty(t, w.Version("canary").Roles, "the canary's old series is not counted again")
	assert.Equal(t, uint64(15), stable.Latency.Count)
	assert.InDelta(t, 15*0.003, stable.Latency.Sum, 1e-9)
	require.NoError(t, wantA.Merge(wantA2))
	assertSameWindow(t, wantA, collect(t, onlyA))
}
