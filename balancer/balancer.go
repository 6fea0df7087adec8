package balancer

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"
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
	b := &splitBalancer{ClientConn: cc, target: opts.Target.String(), children: map[*child]struct{}{}}
	b.Balancer = endpointsharding.NewBalancer(b, opts, b.buildChild, endpointsharding.Options{})
	return b
}

// splitBalancer is endpointsharding with pickfirst children, as round_robin
// is, under a parent that groups the children by version and wraps their
// picker in a version-splitting one.
//
// It embeds the parent ClientConn to intercept UpdateState from
// endpointsharding, and the endpointsharding Balancer to serve grpc. Its
// children (see child) report each change, so a picker is made from the
// changes, not from every endpoint again.
type splitBalancer struct {
	balancer.ClientConn // the channel's; UpdateState is overridden
	balancer.Balancer   // endpointsharding

	target  string
	cfg     atomic.Pointer[Config]
	failure atomic.Pointer[failPicker] // set while the versions do not agree; calls get its error
	warned  string                     // the failure logged last; only UpdateClientConnState, serialised by grpc, uses it

	// dmu guards the children's records, dirty and children. Lock order:
	// pickfirst's and endpointsharding's locks, then dmu; nothing is called
	// with dmu held.
	dmu      sync.Mutex
	children map[*child]struct{} // the live children
	dirty    []*child            // the children changed since the last picker

	tracker *tracker // used only under endpointsharding's lock (UpdateState)

	// mu guards split. Lock order: endpointsharding's mu, then this mu
	// (UpdateState runs under endpointsharding's lock).
	mu    sync.Mutex
	split *Split
	board board
}

// UpdateClientConnState takes the parsed config, attaches to its Split,
// checks that the endpoints' versions are the config's, and hands the
// endpoints to endpointsharding, without our config: pickfirst children
// reject foreign configs. The composite resolver's first state only asks
// whether this policy is in use, and is answered, not used.
func (b *splitBalancer) UpdateClientConnState(ccs balancer.ClientConnState) error {
	cfg, ok := ccs.BalancerConfig.(*Config)
	if !ok || cfg == nil {
		return fmt.Errorf("ninelives: %s got config %T, want *balancer.Config", Name, ccs.BalancerConfig)
	}
	if answerProbe(ccs.ResolverState) {
		return nil
	}
	b.cfg.Store(cfg)
	b.attach(cfg.split)
	if err := checkVersions(cfg, ccs.ResolverState); err != nil {
		return b.fail(err)
	}
	b.failure.Store(nil)
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{
		ResolverState: pickfirst.EnableHealthListener(ccs.ResolverState),
	})
}

// attach makes s the Split this balancer publishes its endpoints to.
func (b *splitBalancer) attach(s *Split) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.split != s {
		if b.split != nil {
			b.split.boards.Delete(&b.board)
		}
		b.split = s
		b.split.boards.Store(&b.board, struct{}{})
	}
}

// fail puts the policy in its error state: every endpoint is dropped, so
// nothing reaches a version under a wrong name, and every call fails with
// Unavailable and err's message, logged once at warning. It returns nil,
// not ErrBadResolverState: names that disagree are a config mistake, which
// resolving again does not mend.
func (b *splitBalancer) fail(err error) error {
	b.failure.Store(&failPicker{err: status.Error(codes.Unavailable, err.Error())})
	if msg := err.Error(); msg != b.warned {
		b.warned = msg
		slog.Warn(msg, "target", b.target)
	}
	_ = b.Balancer.UpdateClientConnState(balancer.ClientConnState{}) // drops the endpoints; its UpdateState publishes the failure
	return nil
}

// failPicker fails every call with the policy's error.
type failPicker struct{ err error }

func (f *failPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, f.err
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
// connectivity state round_robin reports), brings the tracker up to date
// with the children that changed and replaces the picker.
func (b *splitBalancer) UpdateState(st balancer.State) {
	if f := b.failure.Load(); f != nil {
		b.ClientConn.UpdateState(balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: f})
		b.board.set(nil)
		return
	}
	cfg := b.cfg.Load()
	if cfg == nil {
		b.ClientConn.UpdateState(st)
		return
	}
	all := !b.tracker.fits(cfg)
	if all {
		b.tracker = newTracker(cfg)
	}
	for _, ch := range b.take(all) {
		b.tracker.apply(ch.c, ch.rec)
	}
	p := newPicker(cfg, b.tracker, st.Picker)
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
		for _, e := range p.endpointInfos() {
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
