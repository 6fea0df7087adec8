package evaluate

import (
	"fmt"
	"math/rand/v2"
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
	ports []int // the fixed ports it holds (heldPorts)
}

// startServers starts the two processes of a run, each version with its
// faults and a seed of the run's. With fixed, the candidate listens on
// ports below the system's ephemeral range, so that no client socket takes
// them while it is killed and they are free again when it is restored.
func startServers(bin string, names [2]string, faults [2]demoserver.Faults, seed uint64, fixed bool) (*servers, error) {
	s := &servers{bin: bin}
	var pairs []balancer.VersionTarget
	rng := rand.New(rand.NewPCG(seed, 99))
	for r := range s.procs {
		s.specs[r] = demoserver.VersionSpec{Version: names[r], Count: instances, Faults: faults[r], Seed: 2*seed + uint64(r)}
		p, err := s.start(r, fixed && Role(r) == Candidate, rng)
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

// lowPorts are the ports fixed addresses are drawn from: below Linux's
// default ephemeral range (32768–60999).
const lowPorts, lowPortsFrom = 12000, 20000

// heldPorts are the fixed ports the runs' servers hold, from the draw to
// the run's end, whether their process is up or killed: a run draws none
// of them, so that its servers never take the ports of another run's
// candidate while it is down, which then could not start again.
var heldPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// holdPorts draws n fixed ports no run holds, and holds them.
func holdPorts(rng *rand.Rand, n int) []int {
	heldPorts.Lock()
	defer heldPorts.Unlock()
	if len(heldPorts.m)+n > lowPorts {
		panic("ninelives: evaluate: every fixed port is held") // 4,000 runs' candidates at once
	}
	ports := make([]int, 0, n)
	for len(ports) < n {
		if p := lowPortsFrom + rng.IntN(lowPorts); !heldPorts.m[p] {
			heldPorts.m[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// releasePorts lets other runs draw ports again.
func releasePorts(ports []int) {
	heldPorts.Lock()
	defer heldPorts.Unlock()
	for _, p := range ports {
		delete(heldPorts.m, p)
	}
}

// start starts role r's process, on fixed ports if asked (a few draws, in
// case one is taken by something else), which s holds until stop.
func (s *servers) start(r int, fixed bool, rng *rand.Rand) (*demoproc.Process, error) {
	if !fixed {
		return demoproc.Start(s.bin, s.specs[r])
	}
	var err error
	for range 5 {
		spec := s.specs[r]
		ports := holdPorts(rng, spec.Count)
		spec.Addrs = nil
		for _, port := range ports {
			spec.Addrs = append(spec.Addrs, fmt.Sprintf("127.0.0.1:%d", port))
		}
		var p *demoproc.Process
		if p, err = demoproc.Start(s.bin, spec); err == nil {
			s.ports = append(s.ports, ports...)
			return p, nil
		}
		releasePorts(ports)
	}
	return nil, err
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
	case StopOne:
		return s.procs[ev.Role].StopServer(s.specs[ev.Role].Version, ev.Index)
	}
	return s.restoreLocked(ev.Role, ev.Faults)
}

// restoreLocked starts a killed version's servers again on their
// addresses, trying for a few seconds while a port is not yet free.
func (s *servers) restoreLocked(r Role, faults demoserver.Faults) error {
	spec := s.specs[r]
	spec.Faults = faults
	var err error
	for try := 0; try < 10; try++ {
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
	releasePorts(s.ports)
	s.ports = nil
}
