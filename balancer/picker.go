package balancer

import (
	"context"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/internal/call"
)

// readyEndpoint is one READY child: its picker returns its SubConn.
type readyEndpoint struct {
	picker  balancer.Picker
	addr    string             // its first address
	addrs   []resolver.Address // all of them, for forced endpoints
	version *string            // its version's name
	c       *child             // the tracker's, never read by Pick
}

// group is one version's endpoints in one picker.
type group struct {
	name   string
	ready  []readyEndpoint
	states [connectivity.Shutdown + 1]int // endpoints by state
	// first is set while the version makes its first connections: it has
	// never been READY under this balancer and some endpoint is connecting.
	// Its calls then wait, as calls wait for a new channel, instead of
	// falling back or failing.
	first bool
	mod   uint64 // fastmod constant for len(ready): ^uint64(0)/n + 1
}

// picker is immutable but for the round-robin counter and two indexes made
// on first use; a new one is built on every state change. Pick takes no lock
// and, on the common path, allocates nothing.
type picker struct {
	cfg    *Config
	split  *Split
	groups []*group        // index i is the split's version i
	byName map[string]int  // version name -> index in groups
	all    balancer.Picker // endpointsharding's own picker, used when nothing is READY
	anyRdy bool            // some version of the split has a READY endpoint
	plain  bool            // anyRdy, and no sticky or override key is configured
	seq    atomic.Uint64   // counts picks; drives both the version and the endpoint choice

	children  []endpointsharding.ChildState // every endpoint, as endpointsharding reported them
	byAddr    atomic.Pointer[map[string]*readyEndpoint]
	endpoints atomic.Pointer[[]EndpointInfo]
}

// newPicker makes the picker of the tracker's groups as they stand, over
// endpointsharding's picker esPicker. It costs O(versions): the groups that
// did not change are the last picker's.
func newPicker(cfg *Config, t *tracker, esPicker balancer.Picker) *picker {
	p := &picker{
		cfg:      cfg,
		split:    cfg.split,
		groups:   make([]*group, len(t.versions)),
		byName:   t.byName,
		all:      esPicker,
		children: endpointsharding.ChildStatesFromPicker(esPicker),
	}
	for i, v := range t.versions {
		p.groups[i] = v.group()
		p.anyRdy = p.anyRdy || len(p.groups[i].ready) > 0
	}
	p.plain = p.anyRdy && cfg.StickyKey == "" && cfg.OverrideKey == ""
	return p
}

// group returns the group of a version of the split, nil for another name.
func (p *picker) group(version string) *group {
	if i, ok := p.byName[version]; ok {
		return p.groups[i]
	}
	return nil
}

// addrIndex maps every address of every READY endpoint to it. It is made
// on the first forced-endpoint pick of the picker, not on every change.
func (p *picker) addrIndex() map[string]*readyEndpoint {
	if m := p.byAddr.Load(); m != nil {
		return *m
	}
	m := map[string]*readyEndpoint{}
	for _, g := range p.groups {
		for i := range g.ready {
			for _, a := range g.ready[i].addrs {
				m[a.Addr] = &g.ready[i]
			}
		}
	}
	p.byAddr.Store(&m)
	return m
}

// endpointInfos lists every endpoint with its version and state, made on
// first use.
func (p *picker) endpointInfos() []EndpointInfo {
	if e := p.endpoints.Load(); e != nil {
		return *e
	}
	out := make([]EndpointInfo, 0, len(p.children))
	for _, c := range p.children {
		st := c.State.ConnectivityState
		out = append(out, EndpointInfo{Version: versionOf(c.Endpoint, p.cfg.DefaultVersion), Addr: firstAddr(c.Endpoint), State: st, StateName: st.String()})
	}
	p.endpoints.Store(&out)
	return out
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	ci := call.From(info.Ctx)
	if ci == nil && p.plain {
		// The common path: no per-call settings, no metadata keys to read.
		n := p.seq.Add(1)
		g := p.groups[p.split.snap.Load().index(weylPoint(n))]
		if len(g.ready) > 0 {
			return p.pickIn(info, nil, RolePrimary, g, n)
		}
		return p.pick(info, ci, n)
	}
	return p.pick(info, ci, 0)
}

// pick is the full path: forced versions and endpoints, the override and
// sticky keys, and fallback. n is the pick's number if Pick drew one.
func (p *picker) pick(info balancer.PickInfo, ci *call.Info, n uint64) (balancer.PickResult, error) {
	role := RolePrimary
	if ci != nil {
		if ci.Role != "" {
			role = ci.Role
		}
		if ci.Endpoint != "" {
			return p.pickEndpoint(info, ci, role)
		}
		if ci.Version != "" {
			return p.pickForced(info, ci, role, ci.Version, "")
		}
	}
	if p.cfg.OverrideKey != "" {
		if v, ok := outgoingValue(info.Ctx, p.cfg.OverrideKey); ok {
			return p.pickForced(info, ci, role, v, p.cfg.OverrideKey)
		}
	}
	if !p.anyRdy {
		// Nothing of the split can serve: wait or fail as round_robin does.
		return p.all.Pick(info)
	}

	snap := p.split.snap.Load()
	if n == 0 {
		n = p.seq.Add(1)
	}
	var r uint32
	if key, ok := p.stickyKey(info.Ctx, ci); ok {
		r = call.StickyPoint(key)
	} else {
		r = weylPoint(n)
	}
	i := snap.index(r)
	g := p.groups[i]
	if len(g.ready) == 0 {
		if g.first {
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		if !p.cfg.fallbackOn() {
			return balancer.PickResult{}, status.Errorf(codes.Unavailable,
				"ninelives: version %q has no READY endpoint (%s) and fallback is off", g.name, g.describe())
		}
		chosen := g.name
		g = p.fallback(snap, i, r)
		if obs := p.split.observers.Load(); obs != nil {
			for _, o := range *obs {
				o.ObserveFallback(chosen)
			}
		}
		storeChoice(ci, call.ByFallback)
	} else {
		storeChoice(ci, call.ByWeight)
	}
	return p.pickIn(info, ci, role, g, n)
}

// weylPoint maps the n-th pick to a point in [0, TotalWeight) by the
// golden-ratio (Weyl) sequence: the points are spread as evenly as any random
// draw would be, tighter over short runs, and cost one multiplication.
func weylPoint(n uint64) uint32 {
	hi, _ := bits.Mul64(n*0x9e3779b97f4a7c15, TotalWeight)
	return uint32(hi)
}

// fallback chooses among the versions that can serve for a pick at point r
// whose version, down, cannot. r's place inside down's interval of the
// cumulative weights is stretched over the cumulative weights of the versions
// that can serve, so down's share is split among them in proportion to their
// weights, and a sticky key keeps to one of them while the weights and the
// READY versions stay as they are.
func (p *picker) fallback(snap *snapshot, down int, r uint32) *group {
	var total uint32
	for i, g := range p.groups {
		if len(g.ready) > 0 {
			total += snap.bp[i]
		}
	}
	if total == 0 {
		// Every version that can serve has weight 0: the default one first.
		if g := p.group(p.cfg.DefaultVersion); g != nil && len(g.ready) > 0 {
			return g
		}
		for _, g := range p.groups {
			if len(g.ready) > 0 {
				return g
			}
		}
	}
	// r is in [start, start+bp[down]); bp[down] > 0, as index never returns
	// a version of weight 0.
	var x uint32
	if w := snap.bp[down]; w > 0 {
		start := snap.cum[down] - w
		x = uint32(uint64(r-start) * uint64(total) / uint64(w))
	}
	var c uint32
	var last *group
	for i, g := range p.groups {
		if len(g.ready) == 0 {
			continue
		}
		last = g
		c += snap.bp[i]
		if x < c {
			return g
		}
	}
	return last
}

func (p *picker) pickForced(info balancer.PickInfo, ci *call.Info, role Role, version, header string) (balancer.PickResult, error) {
	g := p.group(version)
	if g == nil {
		if header != "" {
			return balancer.PickResult{}, status.Errorf(codes.Unimplemented,
				"ninelives: metadata %s=%q names no version of this service (it has %s)", header, version, p.versionList())
		}
		return balancer.PickResult{}, status.Errorf(codes.Unimplemented,
			"ninelives: forced version %q is not a version of this service (it has %s)", version, p.versionList())
	}
	if len(g.ready) == 0 {
		if g.first {
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		return balancer.PickResult{}, status.Errorf(codes.Unavailable,
			"ninelives: forced version %q has no READY endpoint (%s)", version, g.describe())
	}
	storeChoice(ci, call.ByForce)
	return p.pickIn(info, ci, role, g, p.seq.Add(1))
}

// storeChoice tells the call's record, if it has one, how its version was
// chosen.
func storeChoice(ci *call.Info, c call.Choice) {
	if ci != nil && ci.Record != nil {
		ci.Record.StoreChoice(c)
	}
}

func (p *picker) pickEndpoint(info balancer.PickInfo, ci *call.Info, role Role) (balancer.PickResult, error) {
	ep := p.addrIndex()[ci.Endpoint]
	if ep == nil {
		state := "unknown to this client"
		for _, e := range p.endpointInfos() {
			if e.Addr == ci.Endpoint {
				state = e.State.String()
			}
		}
		return balancer.PickResult{}, status.Errorf(codes.Unavailable,
			"ninelives: forced endpoint %s is not READY (%s)", ci.Endpoint, state)
	}
	storeChoice(ci, call.ByForce)
	return p.finish(info, ci, role, ep)
}

// pickIn picks endpoint n mod len(g.ready) of g: round robin over the
// picker's sequence of picks, as round_robin's own counter does.
func (p *picker) pickIn(info balancer.PickInfo, ci *call.Info, role Role, g *group, n uint64) (balancer.PickResult, error) {
	// n mod len without a division (Lemire's fastmod): Pick is on every call.
	hi, _ := bits.Mul64(g.mod*n, uint64(len(g.ready)))
	return p.finish(info, ci, role, &g.ready[hi])
}

func (p *picker) finish(info balancer.PickInfo, ci *call.Info, role Role, ep *readyEndpoint) (balancer.PickResult, error) {
	res, err := ep.picker.Pick(info)
	if obs := p.split.observers.Load(); err == nil && (ci != nil && ci.Record != nil || obs != nil) {
		p.annotate(&res, info.FullMethodName, ci, role, ep, obs)
	}
	return res, err
}

// annotate fills the call's record and wraps Done to time the attempt for
// the observers obs, if any. It is off the common path: only instrumented
// calls pay.
func (p *picker) annotate(res *balancer.PickResult, method string, ci *call.Info, role Role, ep *readyEndpoint, obs *[]Observer) {
	if ci != nil && ci.Record != nil {
		ci.Record.Store(ep.version, &ep.addr)
	}
	if obs != nil {
		a := attemptPool.Get().(*attemptRec)
		a.a = Attempt{Version: *ep.version, Role: role, Method: method}
		a.obs = *obs
		a.child = res.Done
		a.start = time.Now()
		res.Done = a.done
	}
}

func (p *picker) stickyKey(ctx context.Context, ci *call.Info) (string, bool) {
	if ci != nil && ci.HasSticky {
		return ci.Sticky, true
	}
	if p.cfg.StickyKey != "" {
		return outgoingValue(ctx, p.cfg.StickyKey)
	}
	return "", false
}

func (p *picker) versionList() string { return strings.Join(p.split.versions, ", ") }

func (g *group) describe() string {
	var parts []string
	for st, n := range g.states {
		if n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+strings.ToLower(connectivity.State(st).String()))
		}
	}
	if len(parts) == 0 {
		return "no endpoints"
	}
	return strings.Join(parts, ", ")
}

// outgoingValue returns the first value of key in the outgoing metadata.
func outgoingValue(ctx context.Context, key string) (string, bool) {
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		return "", false
	}
	if v := md[key]; len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// attemptRec measures one attempt. Records are pooled and carry their own
// bound Done function, so instrumenting a pick allocates nothing.
type attemptRec struct {
	a     Attempt
	obs   []Observer
	child func(balancer.DoneInfo)
	start time.Time
	done  func(balancer.DoneInfo)
}

var attemptPool sync.Pool

func init() {
	attemptPool.New = func() any {
		r := new(attemptRec)
		r.done = r.finish
		return r
	}
}

func (r *attemptRec) finish(di balancer.DoneInfo) {
	if r.child != nil {
		r.child(di)
	}
	// grpc calls Done with an empty DoneInfo when the picked transport was
	// not ready and it picks again, and with Unavailable but no stream
	// (BytesSent false) when it could not open one because the picked
	// transport is closing or draining: grpc then retries transparently,
	// as often as the picker hands it that transport again, which on a
	// busy machine can be thousands of times before the picker learns the
	// server is gone. Neither attempt reached a server. Other failures to
	// open a stream are final and the caller sees them (a header list
	// larger than the server allows, a deadline spent waiting for the
	// server's stream quota): they are observed.
	unavailable := di.Err != nil && status.Code(di.Err) == codes.Unavailable
	if di.BytesSent || di.BytesReceived || di.Err != nil && !unavailable {
		r.a.Err = di.Err
		r.a.Latency = time.Since(r.start)
		r.a.Unanswered = unavailable && !di.BytesReceived
		for _, o := range r.obs {
			o.ObserveAttempt(&r.a)
		}
	}
	done := r.done
	*r = attemptRec{done: done}
	attemptPool.Put(r)
}
