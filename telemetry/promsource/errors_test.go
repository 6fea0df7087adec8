package promsource_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/telemetry/promsource"
	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

func TestCollectNamesTheQueryAndPrometheusError(t *testing.T) {
	strict, tg := strictPrometheus(t)
	c := newClient(t, tg)
	defer tg.Set(nil)
	observe(c, "stable", 3, time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, strict.WaitValue(ctx, `sum(ninelives_rpc_calls_total)`, 3))

	src, err := promsource.NewSource(strict.URL())
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Collect(ctx)
	require.Error(t, err)
	var qe *promsource.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Regexp(t, `^\{__name__=~"ninelives_rpc_calls_total\|.*"\}$`, qe.Query, "the selector, evaluated at the source's start")
	assert.Equal(t, strict.URL()+"/api/v1/query", qe.URL)
	assert.Equal(t, "execution", qe.Type)
	assert.Equal(t, http.StatusUnprocessableEntity, qe.Status)
	assert.Contains(t, err.Error(), "too many samples", "Prometheus' own message")
	assert.Contains(t, err.Error(), "ninelives: Prometheus query {__name__=~")
	t.Log(err)
}

func TestCollectFailsOnAnAddressThatIsNotPrometheus(t *testing.T) {
	srv := prometheus(t)
	src, err := promsource.NewSource(srv.URL() + "/not/prometheus")
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Collect(context.Background())
	var qe *promsource.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, http.StatusNotFound, qe.Status)
	assert.Contains(t, err.Error(), "not Prometheus' query API")

	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	src2, err := promsource.NewSource("http://"+addr, promsource.WithTimeout(2*time.Second))
	require.NoError(t, err)
	defer src2.Close()
	_, err = src2.Collect(context.Background())
	require.ErrorAs(t, err, &qe)
	assert.Zero(t, qe.Status)
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), addr)
}

// A series that Prometheus scraped with a status code that is no number
// fails the Collect with the series named, rather than being miscounted.
func TestCollectRejectsAMalformedSeries(t *testing.T) {
	srv := prometheus(t)
	tg := target(t)
	src := newSource(t, srv, []*promtest.Target{tg})
	tg.Set(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE ninelives_rpc_calls_total counter")
		fmt.Fprintln(w, `ninelives_rpc_calls_total{ninelives_version="stable",ninelives_role="primary",rpc_method="a.B/C",rpc_grpc_status_code="OK"} 5`)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitValue(ctx, fmt.Sprintf(`sum(ninelives_rpc_calls_total{instance=%q})`, tg.Addr()), 5))
	_, err := src.Collect(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `label rpc_grpc_status_code = "OK" is not a status code`)
	assert.Contains(t, err.Error(), `ninelives_rpc_calls_total{`)
	assert.Contains(t, err.Error(), `ninelives_version="stable"`)
}
