package release

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/internal/config"
)

// BuildHeader is the response header in which a server names the build it
// runs, on its health checks (HealthInterceptor sets it).
const BuildHeader = "ninelives-build"

// healthCheck is the method the Prober calls on every endpoint.
const healthCheck = "/grpc.health.v1.Health/Check"

// MaxBuildLen bounds a build id; a longer one, or one with a character
// other than printable ASCII, leaves the endpoint's build unknown.
const MaxBuildLen = 128

// HealthInterceptor makes a server name its build in the BuildHeader of
// each answer to grpc's health check (grpc.health.v1.Health/Check), which
// the server must serve (google.golang.org/grpc/health). Other calls are
// left alone, so the service's own traffic pays nothing.
//
//	s := grpc.NewServer(grpc.ChainUnaryInterceptor(release.HealthInterceptor(build)))
//	healthgrpc.RegisterHealthServer(s, health.NewServer())
func HealthInterceptor(build string) grpc.UnaryServerInterceptor {
	md := metadata.Pairs(BuildHeader, build)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthCheck {
			_ = grpc.SetHeader(ctx, md)
		}
		return h(ctx, req)
	}
}

// VersionBuilds says which builds a version's ready endpoints serve.
type VersionBuilds struct {
	// Endpoints counts the ready endpoints asked.
	Endpoints int `json:"endpoints"`
	// Builds counts the endpoints by the build they named.
	Builds map[string]int `json:"builds,omitempty"`
	// Unknown counts the endpoints that named no usable build; Error says
	// why one of them did not.
	Unknown int    `json:"unknown,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Uniform returns the build every endpoint serves, when there is at least
// one endpoint and all of them named the same build.
func (v VersionBuilds) Uniform() (string, bool) {
	if v.Endpoints == 0 || v.Unknown > 0 || len(v.Builds) != 1 {
		return "", false
	}
	for b := range v.Builds {
		return b, true
	}
	return "", false
}

// Other returns a build other than build that an endpoint serves, if any.
func (v VersionBuilds) Other(build string) (string, bool) {
	for _, b := range slices.Sorted(maps.Keys(v.Builds)) {
		if b != build {
			return b, true
		}
	}
	return "", false
}

// String renders the builds as "b7 on 2 of 3 endpoints, b8 on 1".
func (v VersionBuilds) String() string {
	if v.Endpoints == 0 {
		return "no ready endpoint"
	}
	var parts []string
	for _, b := range slices.Sorted(maps.Keys(v.Builds)) {
		parts = append(parts, fmt.Sprintf("%s on %d", b, v.Builds[b]))
	}
	if v.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("unknown on %d (%s)", v.Unknown, v.Error))
	}
	return fmt.Sprintf("%s of %d endpoints", strings.Join(parts, ", "), v.Endpoints)
}

// Builds maps each version to what its endpoints serve.
type Builds map[string]VersionBuilds

// BuildSource tells which builds the versions' endpoints serve. The Prober
// asks the endpoints; a program may give its own (its deployment system's
// records, say).
type BuildSource interface {
	Builds(ctx context.Context) (Builds, error)
}

// Prober asks every ready endpoint of each version of a Split which build
// it serves: a health check forced to the endpoint, carrying the warm-up
// role so that telemetry keeps it apart from the service's traffic, whose
// answer names the build in its BuildHeader.
type Prober struct {
	cc      *grpc.ClientConn
	split   *balancer.Split
	timeout time.Duration
}

// NewProber returns a Prober of the endpoints that split's clients know,
// through cc (a client the split steers). Each check is bounded by timeout
// (0: 2 s).
func NewProber(cc *grpc.ClientConn, split *balancer.Split, timeout time.Duration) (*Prober, error) {
	switch {
	case cc == nil:
		return nil, config.Errorf(ErrBadOption, "cc", nil, "the client connection is nil")
	case split == nil:
		return nil, config.Errorf(ErrBadOption, "split", nil, "the split is nil")
	case timeout < 0:
		return nil, config.Errorf(ErrBadOption, "timeout", timeout, "want a positive duration, or 0 for 2s")
	case timeout == 0:
		timeout = 2 * time.Second
	}
	return &Prober{cc: cc, split: split, timeout: timeout}, nil
}

// Builds implements BuildSource. An endpoint that fails its check, or
// names no usable build, counts as unknown; Builds itself fails only when
// ctx ends.
func (p *Prober) Builds(ctx context.Context) (Builds, error) {
	all := map[string]*VersionBuilds{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, v := range p.split.Versions() {
		addrs := p.split.ReadyEndpoints(v)
		vb := &VersionBuilds{Endpoints: len(addrs), Builds: map[string]int{}}
		all[v] = vb
		for _, addr := range addrs {
			wg.Go(func() {
				build, err := p.probe(ctx, addr)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					vb.Unknown++
					vb.Error = fmt.Sprintf("%s: %v", addr, err)
				} else {
					vb.Builds[build]++
				}
			})
		}
	}
	wg.Wait()
	out := make(Builds, len(all))
	for v, vb := range all {
		out[v] = *vb
	}
	return out, ctx.Err()
}

// probe asks one endpoint for its build.
func (p *Prober) probe(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(call.WithRole(call.ForceEndpoint(ctx, addr), call.Warmup), p.timeout)
	defer cancel()
	var md metadata.MD
	if err := p.cc.Invoke(ctx, healthCheck, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}, grpc.Header(&md)); err != nil {
		return "", fmt.Errorf("health check: %w", err)
	}
	return checkBuild(md.Get(BuildHeader))
}

// checkBuild takes the one build id of a header.
func checkBuild(vals []string) (string, error) {
	if len(vals) != 1 {
		return "", fmt.Errorf("%d values of %s, want 1 (is release.HealthInterceptor on the server?)", len(vals), BuildHeader)
	}
	b := vals[0]
	if b == "" || len(b) > MaxBuildLen {
		return "", fmt.Errorf("%s %q: want 1..%d characters", BuildHeader, b, MaxBuildLen)
	}
	for i := range len(b) {
		if c := b[i]; c <= ' ' || c > '~' {
			return "", fmt.Errorf("%s %q: character 0x%02x is not printable ASCII", BuildHeader, b, c)
		}
	}
	return b, nil
}
