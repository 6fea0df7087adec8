package balancer

import (
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

// child wraps the pickfirst balancer of one endpoint, under endpointsharding,
// to tell the splitBalancer which endpoint changed: a picker is then made
// from the changes alone, not from every endpoint again. Rebuilding from
// every endpoint on every change costs O(n²) over a new channel's n
// connections, on top of endpointsharding's own O(n) per change.
type child struct {
	balancer.ClientConn // endpointsharding's, for this endpoint
	balancer.Balancer   // pickfirst
	parent              *splitBalancer

	// guarded by parent.dmu
	rec   childRecord
	dirty bool

	// The tracker's view, used only under endpointsharding's lock (by
	// splitBalancer.UpdateState).
	in  *vtrack            // its version, nil when unknown or closed
	st  connectivity.State // the state counted in in.states
	idx int                // its index in in.ready, -1 when not there
}

// childRecord is what a child last reported.
type childRecord struct {
	ep     resolver.Endpoint
	state  balancer.State
	closed bool
}

// buildChild is endpointsharding's child builder: pickfirst, wrapped.
func (b *splitBalancer) buildChild(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	c := &child{ClientConn: cc, parent: b, idx: -1, st: connectivity.Idle}
	c.Balancer = balancer.Get(pickfirst.Name).Build(c, opts)
	b.dmu.Lock()
	b.children[c] = struct{}{}
	b.dmu.Unlock()
	return c
}

func (c *child) UpdateClientConnState(ccs balancer.ClientConnState) error {
	if eps := ccs.ResolverState.Endpoints; len(eps) > 0 {
		c.record(func(r *childRecord) { r.ep = eps[0] })
	}
	return c.Balancer.UpdateClientConnState(ccs)
}

// UpdateState notes the child's state before endpointsharding hears of
// it, so the splitBalancer's next UpdateState finds the change.
func (c *child) UpdateState(st balancer.State) {
	c.record(func(r *childRecord) { r.state = st })
	c.ClientConn.UpdateState(st)
}

func (c *child) Close() {
	c.Balancer.Close()
	c.record(func(r *childRecord) { r.closed = true })
	c.parent.dmu.Lock()
	delete(c.parent.children, c)
	c.parent.dmu.Unlock()
}

// record changes the child's record and queues the child for the tracker.
func (c *child) record(change func(*childRecord)) {
	b := c.parent
	b.dmu.Lock()
	defer b.dmu.Unlock()
	if c.rec.closed {
		return
	}
	change(&c.rec)
	if !c.dirty {
		c.dirty = true
		b.dirty = append(b.dirty, c)
	}
}

// tracker keeps each version's READY endpoints and state counts as the
// children change, so a picker costs O(versions + changes). It is used only
// under endpointsharding's lock.
type tracker struct {
	split    *Split
	def      string // the default version
	versions []*vtrack
	byName   map[string]int // version name -> index; shared, read-only, by every picker
	batch    []changed      // reused between updates
}

// changed is one child and the record it had when the batch was taken.
type changed struct {
	c   *child
	rec childRecord
}

// vtrack is one version's endpoints.
type vtrack struct {
	name string
	// ready is shared with the groups already published: it only grows in
	// place, past their lengths; any other change makes a new array.
	ready     []readyEndpoint
	states    [connectivity.Shutdown + 1]int
	everReady bool   // has had a READY endpoint under this balancer
	last      *group // the group published last; nil after a change
}

func newTracker(cfg *Config) *tracker {
	s := cfg.split
	t := &tracker{split: s, def: cfg.DefaultVersion, byName: make(map[string]int, len(s.versions))}
	for i, v := range s.versions {
		t.versions = append(t.versions, &vtrack{name: v})
		t.byName[v] = i
	}
	return t
}

// fits reports whether the tracker groups endpoints as cfg does.
func (t *tracker) fits(cfg *Config) bool {
	return t != nil && t.split == cfg.split && t.def == cfg.DefaultVersion
}

// apply moves a child to where its record puts it.
func (t *tracker) apply(c *child, rec childRecord) {
	var in *vtrack
	if !rec.closed {
		if i, ok := t.byName[versionOf(rec.ep, t.def)]; ok {
			in = t.versions[i]
		}
	}
	st := rec.state.ConnectivityState
	ready := in != nil && st == connectivity.Ready
	if c.idx >= 0 && !(ready && in == c.in && c.in.ready[c.idx].picker == rec.state.Picker) {
		c.in.remove(c.idx)
		c.idx = -1
	}
	if c.in != nil {
		c.in.states[c.st]--
		c.in.last = nil
	}
	c.in, c.st = in, st
	if in == nil {
		return
	}
	in.states[st]++
	in.last = nil
	if ready && c.idx < 0 {
		c.idx = len(in.ready)
		in.ready = append(in.ready, readyEndpoint{
			picker: rec.state.Picker, addr: firstAddr(rec.ep), addrs: rec.ep.Addresses, version: &in.name, c: c,
		})
	}
}

// remove takes endpoint i out of the READY list, in a new array: the old
// one may be in a published picker.
func (v *vtrack) remove(i int) {
	n := make([]readyEndpoint, 0, cap(v.ready))
	n = append(append(n, v.ready[:i]...), v.ready[i+1:]...)
	for j := i; j < len(n); j++ {
		n[j].c.idx = j
	}
	v.ready = n
}

// group returns the version's group as it stands, the last one published
// when nothing changed.
func (v *vtrack) group() *group {
	if v.last != nil {
		return v.last
	}
	g := &group{name: v.name, ready: v.ready[:len(v.ready):len(v.ready)], states: v.states}
	if len(g.ready) > 0 {
		v.everReady = true
		g.mod = ^uint64(0)/uint64(len(g.ready)) + 1
	}
	g.first = !v.everReady && g.states[connectivity.Connecting]+g.states[connectivity.Idle] > 0
	v.last = g
	return g
}

// take hands the tracker the children that changed since the last call,
// with their records; every live child when all is set (a new tracker),
// each first cleared of its place in the old one.
func (b *splitBalancer) take(all bool) []changed {
	out := b.tracker.batch[:0]
	b.dmu.Lock()
	for _, c := range b.dirty {
		c.dirty = false
		if !all {
			out = append(out, changed{c, c.rec})
		}
	}
	b.dirty = b.dirty[:0]
	if all {
		for c := range b.children {
			c.in, c.idx = nil, -1
			out = append(out, changed{c, c.rec})
		}
	}
	b.dmu.Unlock()
	b.tracker.batch = out
	return out
}

// firstAddr is the first address of an endpoint, "" for none.
func firstAddr(ep resolver.Endpoint) string {
	if len(ep.Addresses) == 0 {
		return ""
	}
	return ep.Addresses[0].Addr
}
