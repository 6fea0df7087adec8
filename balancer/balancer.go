package balancer

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// Name is the name of the load-balancing policy.
const Name = "ninelives_split"

func init() {
	balancer.Register(builder{})
	resolver.Register(compositeBuilder{})
}

type builder struct{}

func (builder) Name() string { return Name }

func (builder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	return ParseConfig(js)
}

func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &splitBalancer{ClientConn: cc, target: opts.Target.String(), everReady: map[string]bool{}}
	b.Balancer = endpointsharding.NewBalancer(b, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
	return b
}

// splitBalancer is endpointsharding with pickfirst children, as round_robin
// is, under a parent that groups the children by version and wraps their
// picker in a version-splitting one.
//
// It embeds the parent ClientConn to intercept UpdateState from
// endpointsharding, and the endpointsharding Balancer to serve grpc.
type splitBalancer struct {
	balancer.ClientConn // the channel's; UpdateState is overridden
	balancer.Balancer   // endpointsharding

	target    string
	cfg       atomic.Pointer[Config]
	everReady map[string]bool // versions that have had a READY endpoint; only UpdateState, serialised by endpointsharding, uses it

	// mu guards split. Lock order: endpointsharding's mu, then this mu
	// (UpdateState runs under endpointsharding's lock).
	mu    sync.Mutex
	split *Split
	board board
}

// UpdateClientConnState takes the parsed config, attaches to its Split and
// hands the endpoints to endpointsharding, without our config: pickfirst
// children reject foreign configs.
func (b *splitBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	cfg, ok := ccs.BalancerConfig.(*Config)
	if !ok || cfg == nil {
		return fmt.Errorf("ninelives: %s got config %T, want *balancer.Config", Name, ccs.BalancerConfig)
	}
	b.cfg.Store(cfg)
	b.mu.Lock()
	if b.split != cfg.split {
		if b.split != nil {
			b.split.boards.Delete(&b.board)
		}
		b.split = cfg.split
		b.split.boards.Store(&b.board, struct{}{})
	}
	b.mu.Unlock()
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{
		ResolverState: pickfirst.EnableHealthListener(ccs.ResolverState),
	})
}

func (b *splitBalancer) Close() {
	b.Balancer.Close()
	b.mu.Lock()
	if b.split != nil {
		b.split.boards.Delete(&b.board)
	}
	b.mu.Unlock()
}

// UpdateState receives endpointsharding's aggregated state (the same
// connectivity state round_robin reports) and replaces its picker.
func (b *splitBalancer) UpdateState(st balancer.State) {
	cfg := b.cfg.Load()
	if cfg == nil {
		b.ClientConn.UpdateState(st)
		return
	}
	p := newPicker(cfg, st.Picker, endpointsharding.ChildStatesFromPicker(st.Picker), b.everReady)
	b.ClientConn.UpdateState(balancer.State{ConnectivityState: st.ConnectivityState, Picker: p})
	// Published after the channel has the picker, so an endpoint the Split
	// reports READY can be forced at once.
	b.board.set(p)
}

// board publishes one balancer's endpoints to its Split, for fork-join and
// status pages.
type board struct{ p atomic.Pointer[picker] }

func (bd *board) set(p *picker) { bd.p.Store(p) }

// EndpointInfo is one endpoint a Split's clients know of.
type EndpointInfo struct {
	Version string             `json:"version"`
	Addr    string             `json:"addr"`
	State   connectivity.State `json:"-"`
	// StateName is State as text, for JSON.
	StateName string `json:"state"`
}

// Endpoints returns the endpoints of version known to the clients this Split
// steers: their union, each address once (as READY if any client has it
// READY), the READY ones first, each group in the order the clients list
// them. An empty version means every version.
func (s *Split) Endpoints(version string) []EndpointInfo {
	seen := map[string]int{}
	var out []EndpointInfo
	s.boards.Range(func(k, _ any) bool {
		p := k.(*board).p.Load()
		if p == nil {
			return true
		}
		for _, e := range p.endpoints {
			if version != "" && e.Version != version {
				continue
			}
			if i, ok := seen[e.Addr]; ok {
				if e.State == connectivity.Ready {
					out[i] = e
				}
				continue
			}
			seen[e.Addr] = len(out)
			out = append(out, e)
		}
		return true
	})
	slices.SortStableFunc(out, func(a, b EndpointInfo) int {
		return readyRank(a) - readyRank(b)
	})
	return out
}

// readyRank sorts READY endpoints before the others.
func readyRank(e EndpointInfo) int {
	if e.State == connectivity.Ready {
		return 0
	}
	return 1
}

// ReadyEndpoints returns the addresses of the READY endpoints of version.
func (s *Split) ReadyEndpoints(version string) []string {
	var out []string
	for _, e := range s.Endpoints(version) {
		if e.State == connectivity.Ready {
			out = append(out, e.Addr)
		}
	}
	return out
}
