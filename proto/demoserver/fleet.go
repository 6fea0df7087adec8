package demoserver

import (
	"fmt"
	"slices"

	"github.com/ninelives-go/ninelives/balancer"
)

// Fleet is a set of demo servers on loopback, grouped by version.
type Fleet struct {
	order   []string
	servers map[string][]*Server
}

// VersionSpec asks for Count instances of Version, started with Faults.
type VersionSpec struct {
	Version string
	Count   int
	Faults  Faults
	// Options are applied to every instance of the version.
	Options []Option
	// Seed is added to the seed of each instance's fault generator
	// (otherwise the same in every fleet), so that fleets started apart
	// fail different calls.
	Seed uint64
	// Addrs, if set, are the addresses the instances listen on, one per
	// instance (Count of them), such as those of a fleet that was stopped
	// and is started again; empty: a free loopback port each.
	Addrs []string
}

// StartFleet starts every instance on 127.0.0.1 with a free port. On error it
// stops what it started.
func StartFleet(specs ...VersionSpec) (*Fleet, error) {
	f := &Fleet{servers: map[string][]*Server{}}
	for _, sp := range specs {
		if err := sp.check(); err != nil {
			f.Stop()
			return nil, err
		}
		if !slices.Contains(f.order, sp.Version) {
			f.order = append(f.order, sp.Version)
		}
		for range sp.Count {
			i := len(f.servers[sp.Version])
			opts := append([]Option{WithFaults(sp.Faults), WithSeed(sp.Seed + uint64(len(f.order)*1000+i))}, sp.Options...)
			s := New(sp.Version, fmt.Sprintf("%s-%d", sp.Version, i), opts...)
			addr := "127.0.0.1:0"
			if len(sp.Addrs) > 0 {
				addr = sp.Addrs[i]
			}
			if err := s.Start(addr); err != nil {
				f.Stop()
				return nil, err
			}
			f.servers[sp.Version] = append(f.servers[sp.Version], s)
		}
	}
	return f, nil
}

// check names the first bad field of the spec.
func (sp VersionSpec) check() error {
	switch {
	case sp.Count < 1:
		return fmt.Errorf("ninelives: demoserver: version %q: count %d, want at least 1", sp.Version, sp.Count)
	case len(sp.Addrs) > 0 && len(sp.Addrs) != sp.Count:
		return fmt.Errorf("ninelives: demoserver: version %q: %d addresses %v for a count of %d, want one per instance", sp.Version, len(sp.Addrs), sp.Addrs, sp.Count)
	}
	return nil
}

// Versions returns the fleet's versions in the order they were given.
func (f *Fleet) Versions() []string { return slices.Clone(f.order) }

// Servers returns the instances of a version.
func (f *Fleet) Servers(version string) []*Server { return f.servers[version] }

// All returns every instance.
func (f *Fleet) All() []*Server {
	var out []*Server
	for _, v := range f.order {
		out = append(out, f.servers[v]...)
	}
	return out
}

// Target is the composite ninelives target of the whole fleet, one
// passthrough target per instance.
func (f *Fleet) Target() string { return f.TargetOf(f.order...) }

// TargetOf is the composite target of some of the versions.
func (f *Fleet) TargetOf(versions ...string) string {
	var pairs []balancer.VersionTarget
	for _, v := range versions {
		for _, s := range f.servers[v] {
			pairs = append(pairs, balancer.VersionTarget{Version: v, Target: "passthrough:///" + s.Addr()})
		}
	}
	return balancer.CompositeTarget(pairs...)
}

// SetFaults sets the faults of every instance of a version.
func (f *Fleet) SetFaults(version string, faults Faults) {
	for _, s := range f.servers[version] {
		s.SetFaults(faults)
	}
}

// Accepted is the number of connections the fleet accepted.
func (f *Fleet) Accepted() int64 {
	var n int64
	for _, s := range f.All() {
		n += s.Accepted()
	}
	return n
}

// Calls is how many calls of a method reached a version.
func (f *Fleet) Calls(version, method string) int64 {
	var n int64
	for _, s := range f.servers[version] {
		n += s.Calls(method)
	}
	return n
}

// Stop stops every instance.
func (f *Fleet) Stop() {
	for _, s := range f.All() {
		s.Stop()
	}
}
