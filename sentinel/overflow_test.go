package sentinel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Ten versions × 1,000 methods × 5 codes through telemetry with its default
// method cap of 100: every call reaches the sentinel's window, the 45,000
// past the cap are counted in its overflow, and the rollout alerts on them
// once.
func TestCallsPastTheMethodCapAreCountedAndAlertedOnce(t *testing.T) {
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(src.Option())
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := telemetry.New(telemetry.WithMeterProvider(mp))
	require.NoError(t, err)
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{MinStepDuration: time.Hour})
	require.NoError(t, err)
	r := newRigWithSource(t, src, c)

	versions := []string{"stable", "canary"}
	for i := 2; i < 10; i++ {
		versions = append(versions, fmt.Sprintf("v%d", i))
	}
	r.clock.Advance(time.Second)
	require.Equal(t, sentinel.ActionStart, r.s.Tick(context.Background()).Action)
	for range 2 {
		recordEveryMethod(m, versions, 1000)
		r.clock.Advance(time.Second)
		r.s.Tick(context.Background())
		st := r.s.Status()
		assert.EqualValues(t, 5000, st.LastTick["stable"].Calls, "every stable call")
		assert.EqualValues(t, 5000, st.LastTick["canary"].Calls, "every canary call")
	}
	require.NoError(t, r.s.Close())
	require.Len(t, r.alerts.events, 1, "one alert a rollout: %v", r.alerts.actions())
	assert.Equal(t, sentinel.ActionAlert, r.alerts.events[0].Action)
	assert.Equal(t, `the metric source recorded 45000 calls of this window under rpc.method "other", past telemetry's method cap: `+
		"the judge counts them, but dashboards cannot tell their methods apart; raise the cap (telemetry.WithMethodCap) above the methods the client calls",
		r.alerts.events[0].Reason)
}

// recordEveryMethod records one primary call of each version, method and
// one of five status codes.
func recordEveryMethod(m *telemetry.Metrics, versions []string, methods int) {
	errs := []error{nil, status.Error(codes.InvalidArgument, "x"), status.Error(codes.NotFound, "x"),
		status.Error(codes.Unavailable, "x"), status.Error(codes.DeadlineExceeded, "x")}
	a := &balancer.Attempt{Role: balancer.RolePrimary, Latency: 2 * time.Millisecond}
	for _, v := range versions {
		a.Version = v
		for i := range methods {
			a.Method = fmt.Sprintf("/load.Service/Method%04d", i)
			for _, err := range errs {
				a.Err = err
				m.ObserveAttempt(a)
			}
		}
	}
}
