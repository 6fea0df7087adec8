package release_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// serve starts a server with grpc's health service on loopback; a build
// other than "" is named in the health checks' header.
func serve(t *testing.T, build string) string {
	t.Helper()
	var opts []grpc.ServerOption
	if build != "" {
		opts = append(opts, grpc.ChainUnaryInterceptor(release.HealthInterceptor(build)))
	}
	s := grpc.NewServer(opts...)
	healthgrpc.RegisterHealthServer(s, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// The Prober asks every ready endpoint of each version for its build, over
// the client's own connection; an endpoint that does not say counts as
// unknown, with the reason.
func TestProberReadsEachEndpointsBuild(t *testing.T) {
	var pairs []balancer.VersionTarget
	for _, s := range []struct{ version, build string }{{"stable", "b1"}, {"stable", "b1"}, {"canary", "b2"}, {"canary", ""}} {
		pairs = append(pairs, balancer.VersionTarget{Version: s.version, Target: "passthrough:///" + serve(t, s.build)})
	}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"})
	cc, err := grpc.NewClient(balancer.CompositeTarget(pairs...), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	cc.Connect()
	require.Eventually(t, func() bool {
		return len(split.ReadyEndpoints("stable")) == 2 && len(split.ReadyEndpoints("canary")) == 2
	}, 10*time.Second, 5*time.Millisecond)

	p, err := release.NewProber(cc, split, 0)
	require.NoError(t, err)
	b, err := p.Builds(context.Background())
	require.NoError(t, err)
	build, ok := b["stable"].Uniform()
	assert.True(t, ok)
	assert.Equal(t, "b1", build)
	assert.Equal(t, 2, b["stable"].Endpoints)
	_, ok = b["canary"].Uniform()
	assert.False(t, ok, "one canary endpoint does not say")
	assert.Equal(t, map[string]int{"b2": 1}, b["canary"].Builds)
	assert.Equal(t, 1, b["canary"].Unknown)
	assert.Contains(t, b["canary"].Error, "HealthInterceptor")
	assert.Contains(t, b["canary"].String(), "b2 on 1, unknown on 1")

	_, err = release.NewProber(nil, split, 0)
	assert.ErrorIs(t, err, release.ErrBadOption)
	_, err = release.NewProber(cc, split, -time.Second)
	assert.ErrorContains(t, err, "timeout")
}
