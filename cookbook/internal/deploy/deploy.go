// Package deploy plays, for the recipes, the deployment system behind a
// service's versions: each version (stable, canary) is a set of demo
// server instances running one build, listed by a resolver the clients
// dial (as a Kubernetes Service lists its pods), and a rolling deploy
// replaces them one by one with instances of another build. Each instance
// names its build in its health checks (release.HealthInterceptor).
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// Scheme is the scheme of the resolver that lists a version's instances:
// deploy:///<cluster>/<version>.
const Scheme = "deploy"

func init() { resolver.Register(builder{}) }

// clusters are the running clusters, by id, for the resolver to find.
var clusters sync.Map

// Build is a build of the demo service: its name and what it does wrong.
type Build struct {
	Name   string
	Faults demoserver.Faults
}

// Cluster is the instances of each version of the service.
type Cluster struct {
	id     string
	settle time.Duration

	mu        sync.Mutex
	instances map[string][]*instance // by version
	watchers  map[string]map[*watcher]bool
}

type instance struct {
	build string
	addr  string
	grpc  *grpc.Server
	done  chan struct{}
}

// Start runs n instances of build for each version. settle is how long a
// rolling deploy waits after each change of a version's instances for the
// clients to follow it (their resolvers are told at once; the wait covers
// connecting and draining).
func Start(versions []string, build Build, n int, settle time.Duration) (*Cluster, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	c := &Cluster{id: hex.EncodeToString(b[:]), settle: settle, instances: map[string][]*instance{}, watchers: map[string]map[*watcher]bool{}}
	clusters.Store(c.id, c)
	for _, v := range versions {
		for range n {
			in, err := startInstance(v, build)
			if err != nil {
				c.Stop()
				return nil, err
			}
			c.instances[v] = append(c.instances[v], in)
		}
	}
	return c, nil
}

// startInstance serves build as version on a free loopback port: the demo
// service, grpc's health service, and the build in the health checks.
func startInstance(version string, b Build) (*instance, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ninelives: deploy: listen: %w", err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(release.HealthInterceptor(b.Name)))
	demo := demoserver.New(version, fmt.Sprintf("%s-%s-%d", version, b.Name, lis.Addr().(*net.TCPAddr).Port), demoserver.WithFaults(b.Faults))
	demov1.RegisterDemoServiceServer(srv, demo)
	healthgrpc.RegisterHealthServer(srv, health.NewServer())
	in := &instance{build: b.Name, addr: lis.Addr().String(), grpc: srv, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		_ = srv.Serve(lis)
	}()
	return in, nil
}

// Target is the composite target of the versions' resolvers.
func (c *Cluster) Target(versions ...string) string {
	pairs := make([]balancer.VersionTarget, len(versions))
	for i, v := range versions {
		pairs[i] = balancer.VersionTarget{Version: v, Target: fmt.Sprintf("%s:///%s/%s", Scheme, c.id, v)}
	}
	return balancer.CompositeTarget(pairs...)
}

// Builds counts a version's instances by build.
func (c *Cluster) Builds(version string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, in := range c.instances[version] {
		out[in.build]++
	}
	return out
}

// String renders a version's builds: "b2×3".
func (c *Cluster) String(version string) string {
	bs := c.Builds(version)
	var parts []string
	for _, b := range slices.Sorted(maps.Keys(bs)) {
		parts = append(parts, fmt.Sprintf("%s×%d", b, bs[b]))
	}
	return strings.Join(parts, " ")
}

// Deploy replaces version's instances with instances of b, one at a time:
// start a new one and list it, wait, unlist an old one, wait, then stop it
// gracefully (its calls in flight finish). The version keeps serving
// throughout.
func (c *Cluster) Deploy(ctx context.Context, version string, b Build) error {
	c.mu.Lock()
	old := slices.Clone(c.instances[version])
	c.mu.Unlock()
	for _, o := range old {
		in, err := startInstance(version, b)
		if err != nil {
			return err
		}
		c.change(version, func(ins []*instance) []*instance { return append(ins, in) })
		if err := c.wait(ctx); err != nil {
			return err
		}
		c.change(version, func(ins []*instance) []*instance {
			return slices.DeleteFunc(ins, func(x *instance) bool { return x == o })
		})
		if err := c.wait(ctx); err != nil {
			return err
		}
		o.grpc.GracefulStop()
		<-o.done
	}
	return nil
}

func (c *Cluster) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.settle):
		return nil
	}
}

// change edits a version's instances and tells its resolvers.
func (c *Cluster) change(version string, edit func([]*instance) []*instance) {
	c.mu.Lock()
	c.instances[version] = edit(c.instances[version])
	state := c.stateLocked(version)
	ws := slices.Collect(maps.Keys(c.watchers[version]))
	c.mu.Unlock()
	for _, w := range ws {
		_ = w.cc.UpdateState(state)
	}
}

func (c *Cluster) stateLocked(version string) resolver.State {
	var st resolver.State
	for _, in := range c.instances[version] {
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: in.addr}}})
	}
	return st
}

// Stop stops every instance at once.
func (c *Cluster) Stop() {
	clusters.Delete(c.id)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ins := range c.instances {
		for _, in := range ins {
			in.grpc.Stop()
			<-in.done
		}
	}
	c.instances = map[string][]*instance{}
}

// builder builds the resolvers of Scheme.
type builder struct{}

func (builder) Scheme() string { return Scheme }

func (builder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	id, version, ok := strings.Cut(strings.TrimPrefix(t.URL.Path, "/"), "/")
	v, found := clusters.Load(id)
	if !ok || !found {
		return nil, fmt.Errorf("ninelives: deploy: no cluster %q with a version %q (target %s)", id, version, t.URL.String())
	}
	c := v.(*Cluster)
	w := &watcher{c: c, version: version, cc: cc}
	c.mu.Lock()
	if c.watchers[version] == nil {
		c.watchers[version] = map[*watcher]bool{}
	}
	c.watchers[version][w] = true
	state := c.stateLocked(version)
	c.mu.Unlock()
	_ = cc.UpdateState(state)
	return w, nil
}

// watcher is one client's resolver of one version.
type watcher struct {
	c       *Cluster
	version string
	cc      resolver.ClientConn
}

func (w *watcher) ResolveNow(resolver.ResolveNowOptions) {}

func (w *watcher) Close() {
	w.c.mu.Lock()
	delete(w.c.watchers[w.version], w)
	w.c.mu.Unlock()
}
