package chaos

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// Servers are the demo servers of a scenario, each instance in a demofleet
// process of its own, so that one can crash (Kill) and start again where
// it was (Restart) while the others serve on.
type Servers struct {
	bin   string
	order []string

	mu    sync.Mutex
	procs map[string][]*server
}

// server is one instance: its spec (one instance at a fixed address, with
// the faults it takes when it starts again) and its process (nil while
// killed).
type server struct {
	spec demoserver.VersionSpec
	p    *demoproc.Process
}

// StartServers starts the instances of specs, each in its own demofleet
// process built at bin.
func StartServers(bin string, specs ...demoserver.VersionSpec) (*Servers, error) {
	s := &Servers{bin: bin, procs: map[string][]*server{}}
	for _, sp := range specs {
		s.order = append(s.order, sp.Version)
		for i := range sp.Count {
			one := demoserver.VersionSpec{Version: sp.Version, Count: 1, Faults: sp.Faults, Seed: sp.Seed + uint64(i)}
			p, err := demoproc.Start(bin, one)
			if err != nil {
				s.Stop()
				return nil, err
			}
			one.Addrs = []string{addrOf(p.Target())}
			s.procs[sp.Version] = append(s.procs[sp.Version], &server{spec: one, p: p})
		}
	}
	return s, nil
}

// addrOf is the address in demofleet's target of one instance,
// "ninelives:///v=passthrough:///127.0.0.1:4242".
func addrOf(target string) string {
	_, addr, _ := strings.Cut(target, "passthrough:///")
	return addr
}

// Target is the composite target of every instance, killed or not.
func (s *Servers) Target() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, v := range s.order {
		for _, sv := range s.procs[v] {
			parts = append(parts, v+"=passthrough:///"+sv.spec.Addrs[0])
		}
	}
	return "ninelives:///" + strings.Join(parts, ";")
}

// Count is the number of instances of version.
func (s *Servers) Count(version string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs[version])
}

// Kill kills instance i of version at once, as a crash does: its
// connections are reset and the calls it was serving fail.
func (s *Servers) Kill(version string, i int) {
	s.mu.Lock()
	sv := s.procs[version][i]
	p := sv.p
	sv.p = nil
	s.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Restart starts instance i of version again, where it was, with the
// version's faults.
func (s *Servers) Restart(version string, i int) error {
	s.mu.Lock()
	sv := s.procs[version][i]
	spec, running := sv.spec, sv.p != nil
	s.mu.Unlock()
	if running {
		return fmt.Errorf("ninelives: chaos: %s instance %d is running", version, i)
	}
	p, err := demoproc.Start(s.bin, spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sv.p = p
	s.mu.Unlock()
	return nil
}

// SetFaults gives every instance of version faults, now and when it
// starts again.
func (s *Servers) SetFaults(version string, faults demoserver.Faults) error {
	s.mu.Lock()
	var live []*demoproc.Process
	for _, sv := range s.procs[version] {
		sv.spec.Faults = faults
		if sv.p != nil {
			live = append(live, sv.p)
		}
	}
	s.mu.Unlock()
	for _, p := range live {
		if err := p.SetFaults(version, faults); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every instance.
func (s *Servers) Stop() {
	s.mu.Lock()
	var live []*demoproc.Process
	for _, v := range s.procs {
		for _, sv := range v {
			if sv.p != nil {
				live = append(live, sv.p)
				sv.p = nil
			}
		}
	}
	s.mu.Unlock()
	for _, p := range live {
		p.Stop()
	}
}
