package balancer

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
)

// TotalWeight is the sum of a Split's weights: weights are basis points, so a
// step of one is 0.01 % of the traffic.
const TotalWeight = call.TotalWeight

// ErrBadWeights is the kind of every weight set that a Split rejects:
// errors.Is(err, ErrBadWeights) holds for them, and errors.As finds a
// *ConfigError naming the version and the weight.
var ErrBadWeights = errors.New("ninelives: bad weights")

// Weight is one version's share of the traffic in basis points.
type Weight struct {
	Version string `json:"version"`
	Weight  int    `json:"weight"`
}

// snapshot is an immutable set of weights. Pick reads it through an atomic
// pointer, so a change reaches the very next pick.
type snapshot struct {
	bp  []uint32 // weight of versions[i]
	cum []uint32 // cum[i] = bp[0] + … + bp[i]
	gen uint64
}

// index returns the version whose cumulative interval holds r, r in [0, 10000).
// Versions with weight 0 own an empty interval and are never returned.
func (s *snapshot) index(r uint32) int {
	for i, c := range s.cum {
		if r < c {
			return i
		}
	}
	return len(s.cum) - 1
}

// Split holds the versions of a service and their weights. It is safe for
// concurrent use. One Split may steer any number of client connections; a
// weight change reaches each of them on its next pick, with no re-resolution
// and no reconnection.
//
// The set of versions and their order are fixed when the Split is made; the
// order is the one sticky keys are mapped over (see contract 3 in the design).
type Split struct {
	versions []string
	index    map[string]int
	snap     atomic.Pointer[snapshot]
	ref      string

	mu        sync.Mutex // serialises weight changes, their watchers (called with mu held) and observer changes; never held during a pick
	watchers  map[int]func([]Weight)
	nextWatch int

	observers atomic.Pointer[[]Observer]

	boards sync.Map // *board -> struct{}: the endpoints of each attached balancer
}

var (
	splitSeq      atomic.Uint64
	splitRegistry sync.Map // ref string -> weak.Pointer[Split]
)

// NewSplit returns a Split over the given versions, in that order, with their
// starting weights. Names must be unique and non-empty, weights non-negative
// and summing to TotalWeight.
func NewSplit(weights ...Weight) (*Split, error) {
	if len(weights) == 0 {
		return nil, config.Errorf(ErrBadWeights, "weights", nil, "empty; a split needs at least one version")
	}
	s := &Split{index: make(map[string]int, len(weights)), watchers: map[int]func([]Weight){}}
	for i, w := range weights {
		field := fmt.Sprintf("weights[%d].Version", i)
		if err := config.Under(ErrBadWeights, field, names.Version(w.Version)); err != nil {
			return nil, err
		}
		if _, dup := s.index[w.Version]; dup {
			return nil, config.Errorf(ErrBadWeights, field, w.Version, "is given twice")
		}
		s.index[w.Version] = i
		s.versions = append(s.versions, w.Version)
	}
	snap, err := s.makeSnapshot(weights, 1)
	if err != nil {
		return nil, err
	}
	s.snap.Store(snap)
	s.ref = "split-" + strconv.FormatUint(splitSeq.Add(1), 10)
	splitRegistry.Store(s.ref, weak.Make(s))
	runtime.AddCleanup(s, func(ref string) { splitRegistry.Delete(ref) }, s.ref)
	return s, nil
}

// MustSplit is NewSplit for weights known to be valid; it panics otherwise.
func MustSplit(weights ...Weight) *Split {
	s, err := NewSplit(weights...)
	if err != nil {
		panic(err)
	}
	return s
}

// makeSnapshot validates weights against the split's versions: every version
// exactly once, none negative, summing to TotalWeight.
func (s *Split) makeSnapshot(weights []Weight, gen uint64) (*snapshot, error) {
	bp := make([]uint32, len(s.versions))
	seen := make([]bool, len(s.versions))
	sum := 0
	for _, w := range weights {
		i, ok := s.index[w.Version]
		if !ok {
			return nil, config.Errorf(ErrBadWeights, "", nil, "unknown version %q (the split has %s)", w.Version, strings.Join(s.versions, ", "))
		}
		if seen[i] {
			return nil, config.Errorf(ErrBadWeights, w.Version, nil, "given twice")
		}
		if w.Weight < 0 || w.Weight > TotalWeight {
			return nil, config.Errorf(ErrBadWeights, w.Version, w.Weight, "want 0..%d", TotalWeight)
		}
		seen[i] = true
		bp[i] = uint32(w.Weight)
		sum += w.Weight
	}
	for i, ok := range seen {
		if !ok {
			return nil, config.Errorf(ErrBadWeights, s.versions[i], nil, "no weight given")
		}
	}
	if sum != TotalWeight {
		return nil, config.Errorf(ErrBadWeights, "", nil, "%s", sumReason(weights, sum))
	}
	cum := make([]uint32, len(bp))
	var c uint32
	for i, w := range bp {
		c += w
		cum[i] = c
	}
	return &snapshot{bp: bp, cum: cum, gen: gen}, nil
}

// sumReason says why weights summing to sum, not TotalWeight, are refused.
// Weights that look like percent (each at most 100, summing to 100) are
// told that weights are basis points, with the weights meant.
func sumReason(weights []Weight, sum int) string {
	reason := fmt.Sprintf("weights sum to %d, want %d", sum, TotalWeight)
	if sum != 100 || slices.ContainsFunc(weights, func(w Weight) bool { return w.Weight > 100 }) {
		return reason + " (basis points: 10000 = 100 %)"
	}
	meant := make([]string, len(weights))
	for i, w := range weights {
		meant[i] = fmt.Sprintf("%s=%d", w.Version, w.Weight*(TotalWeight/100))
	}
	return reason + "; weights are basis points (10000 = 100 %), not percent: write " + strings.Join(meant, ", ")
}

// Versions returns the split's versions in their fixed order.
func (s *Split) Versions() []string { return slices.Clone(s.versions) }

// Has reports whether the split has the version.
func (s *Split) Has(version string) bool { _, ok := s.index[version]; return ok }

// Weights returns the current weights in version order.
func (s *Split) Weights() []Weight {
	return s.weightsOf(s.snap.Load())
}

func (s *Split) weightsOf(snap *snapshot) []Weight {
	out := make([]Weight, len(s.versions))
	for i, v := range s.versions {
		out[i] = Weight{Version: v, Weight: int(snap.bp[i])}
	}
	return out
}

// Weight returns the current weight of one version, 0 for an unknown one.
func (s *Split) Weight(version string) int {
	i, ok := s.index[version]
	if !ok {
		return 0
	}
	return int(s.snap.Load().bp[i])
}

// Generation counts the weight changes; it starts at 1.
func (s *Split) Generation() uint64 { return s.snap.Load().gen }

// SetWeights replaces every weight at once. Each version of the split must be
// given exactly once, and the weights must sum to TotalWeight; otherwise the
// weights stay as they were and the error names what was wrong.
func (s *Split) SetWeights(weights ...Weight) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setWeightsLocked(weights)
}

func (s *Split) setWeightsLocked(weights []Weight) error {
	snap, err := s.makeSnapshot(weights, s.snap.Load().gen+1)
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	ws := s.weightsOf(snap)
	for _, id := range slices.Sorted(maps.Keys(s.watchers)) {
		s.watchers[id](slices.Clone(ws))
	}
	return nil
}

// Set moves the traffic between two versions: version gets weight basis
// points and other gets the rest; every other version keeps its weight, so
// their sum must leave room (if it does not, the error says what weight
// would be left for other and what the others hold). It is the common
// canary step. The weights it starts from and the ones it sets are one
// change: a concurrent SetWeights comes before or after it, never in
// between.
func (s *Split) Set(version string, weight int, other string) error {
	if version == other {
		return config.Errorf(ErrBadWeights, "", nil, "Set needs two different versions, got %q twice", version)
	}
	if !s.Has(version) || !s.Has(other) {
		return config.Errorf(ErrBadWeights, "", nil, "Set(%q, %d, %q): unknown version (the split has %s)", version, weight, other, strings.Join(s.versions, ", "))
	}
	if weight < 0 || weight > TotalWeight {
		return config.Errorf(ErrBadWeights, version, weight, "want 0..%d", TotalWeight)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.weightsOf(s.snap.Load())
	others := 0 // the weight of the versions Set leaves alone
	for i := range cur {
		if cur[i].Version != version && cur[i].Version != other {
			others += cur[i].Weight
		}
	}
	rest := TotalWeight - others
	if weight > rest {
		return config.Errorf(ErrBadWeights, version, weight, "leaves %d for %q (others hold %d)", rest-weight, other, others)
	}
	for i := range cur {
		switch cur[i].Version {
		case version:
			cur[i].Weight = weight
		case other:
			cur[i].Weight = rest - weight
		}
	}
	return s.setWeightsLocked(cur)
}

// Watch calls fn with the new weights after every change, in the order of the
// changes, until the returned stop function is called. fn runs on the
// goroutine that changed the weights, before its SetWeights or Set returns,
// and under the lock that keeps the changes in order: it must not call
// SetWeights, Set, Watch or AddObserver on the same Split, nor the stop
// function Watch returns or the remove function AddObserver returns, since
// each of them takes that lock and the call would never return. Reading the
// Split (Weights, Weight, Generation, String, Endpoints) is fine. A slow fn
// delays every weight change: hand long work to another goroutine.
func (s *Split) Watch(fn func([]Weight)) (stop func()) {
	s.mu.Lock()
	id := s.nextWatch
	s.nextWatch++
	s.watchers[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.watchers, id)
		s.mu.Unlock()
	}
}

// String renders the weights as "stable=90.00% canary=10.00%".
func (s *Split) String() string {
	var b strings.Builder
	for i, w := range s.Weights() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d.%02d%%", w.Version, w.Weight/100, w.Weight%100)
	}
	return b.String()
}

// pinTime is how long WithSplit keeps its Split alive for the channel to
// come.
const pinTime = time.Minute

// pin keeps s alive for pinTime from now (its timer holds it), so that
// the registry's weak pointer still finds it when a channel parses the
// config that names it.
func (s *Split) pin() {
	time.AfterFunc(pinTime, func() { runtime.KeepAlive(s) })
}

// lookupSplit finds the live Split a service config refers to.
func lookupSplit(ref string) *Split {
	v, ok := splitRegistry.Load(ref)
	if !ok {
		return nil
	}
	return v.(weak.Pointer[Split]).Value()
}
