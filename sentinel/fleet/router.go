package fleet

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
	"github.com/ninelives-go/ninelives/sentinel"
)

// weights is the leader's sentinel.Router: the fleet's weights as the
// leader's sentinel sets them. No client follows them directly: the leader
// publishes them, with the rest of the rollout's position, in the commit
// of each tick that changed them, and every replica's Follower applies
// them to its Split.
type weights struct {
	mu  sync.Mutex
	ws  []balancer.Weight
	gen uint64
}

var _ sentinel.Router = (*weights)(nil)

// newWeights checks the weights before the rollout: version names, each
// once, summing to balancer.TotalWeight.
func newWeights(initial []balancer.Weight) (*weights, error) {
	for i, w := range initial {
		if err := names.Version(w.Version); err != nil {
			return nil, config.Errorf(ErrBadOption, fmt.Sprintf("initial[%d]", i), w.Version, "%v", err)
		}
	}
	if err := checkWeights(ErrBadOption, "initial", initial); err != nil {
		return nil, err
	}
	return &weights{ws: slices.Clone(initial), gen: 1}, nil
}

// Weights implements sentinel.Router.
func (w *weights) Weights() []balancer.Weight {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ws)
}

// Generation implements sentinel.Router.
func (w *weights) Generation() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

// SetWeights implements sentinel.Router: ws must name every version of the
// rollout once.
func (w *weights) SetWeights(ws ...balancer.Weight) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	versions := make([]string, len(w.ws))
	for i, v := range w.ws {
		versions[i] = v.Version
	}
	if len(ws) != len(w.ws) {
		return config.Errorf(balancer.ErrBadWeights, "weights", ws, "want one weight for each of %q", versions)
	}
	if err := checkWeights(balancer.ErrBadWeights, "weights", ws, versions...); err != nil {
		return err
	}
	given := make(map[string]int, len(ws))
	for _, x := range ws {
		given[x.Version] = x.Weight
	}
	out := slices.Clone(w.ws)
	for i := range out {
		out[i].Weight = given[out[i].Version]
	}
	w.ws = out
	w.gen++
	return nil
}
