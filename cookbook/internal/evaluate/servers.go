package evaluate

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// instances is how many servers each version has, as in the recipes.
const instances = 3

// servers are one run's demo servers: the baseline's and the candidate's,
// each version in a demofleet process of its own, so that the candidate
// can be killed and started again alone.
type servers struct {
	bin    string
	specs  [2]demoserver.VersionSpec // with the addresses the servers took
	target string

	mu    sync.Mutex
	procs [2]*demoproc.Process
}

// startServers starts the two processes of a run, each version with its
// faults and a seed of the run's.
func startServers(bin string, names [2]string, faults [2]demoserver.Faults, seed uint64) (*servers, error) {
	s := &servers{bin: bin}
	var pairs []balancer.VersionTarget
	for r := range s.procs {
		s.specs[r] = demoserver.VersionSpec{Version: names[r], Count: instances, Faults: faults[r], Seed: 2*seed + uint64(r)}
		p, err := demoproc.Start(bin, s.specs[r])
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs[r] = p
		vt, err := balancer.ParseCompositeTarget(p.Target())
		if err != nil {
			s.stop()
			return nil, err
		}
		for _, t := range vt {
			s.specs[r].Addrs = append(s.specs[r].Addrs, strings.TrimPrefix(t.Target, "passthrough:///"))
		}
		pairs = append(pairs, vt...)
	}
	s.target = balancer.CompositeTarget(pairs...)
	return s, nil
}

// do carries out an event on the servers.
func (s *servers) do(ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Do {
	case SetFaults:
		return s.procs[ev.Role].SetFaults(s.specs[ev.Role].Version, ev.Faults)
	case Kill:
		s.procs[ev.Role].Kill()
		return nil
	}
	return s.restoreLocked(ev.Role, ev.Faults)
}

// restoreLocked starts a killed version's servers again on their
// addresses, trying for a few seconds while a port is not yet free.
func (s *servers) restoreLocked(r Role, faults demoserver.Faults) error {
	spec := s.specs[r]
	spec.Faults = faults
	var err error
	for try := 0; try < 5; try++ {
		var p *demoproc.Process
		if p, err = demoproc.Start(s.bin, spec); err == nil {
			s.procs[r] = p
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("ninelives: evaluate: restoring %s: %w", spec.Version, err)
}

// stop stops every process still running.
func (s *servers) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p != nil {
			p.Stop()
		}
	}
}
