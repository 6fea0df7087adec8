package promexport_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const getItem = "/ninelives.demo.v1.DemoService/GetItem"

// startFleet starts the versions and stops them when the test ends.
var startFleet = demotest.Fleet

// dial opens a client on the fleet steered by split, waits until every
// endpoint is READY, and closes it when the test ends.
func dial(t testing.TB, f *demoserver.Fleet, split *balancer.Split, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc := demotest.Dial(t, f.Target(), append([]grpc.DialOption{balancer.WithSplit(split)}, opts...)...)
	demotest.Connect(t, cc)
	demotest.WaitFleetReady(t, split, f)
	return cc
}

// scrape fetches /metrics from h over a loopback HTTP server and decodes it.
func scrape(t testing.TB, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := map[string]*dto.MetricFamily{}
	for {
		mf := new(dto.MetricFamily)
		err := dec.Decode(mf)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		out[mf.GetName()] = mf
	}
	return out
}

// series returns the metric of family name whose labels include want.
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}
