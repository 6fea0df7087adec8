package balancer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
)

// fakePicker stands for a child's READY picker; each is a distinct pointer.
type fakePicker struct{ id int }

func (*fakePicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, nil
}

// TestTrackerKeepsPublishedGroups drives the tracker through random
// changes (state, version label, new picker, close) and checks after each
// that its groups are exactly what the records say, and that no group
// published earlier has changed.
func TestTrackerKeepsPublishedGroups(t *testing.T) {
	cfg := &Config{DefaultVersion: "stable", split: MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})}
	tr := newTracker(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 40
	kids := make([]*child, n)
	recs := make([]childRecord, n)
	gone := make([]bool, n) // closed, or never applied: not in the tracker
	for i := range gone {
		gone[i] = true
	}
	for i := range kids {
		kids[i] = &child{idx: -1}
		recs[i].ep = resolver.Endpoint{Addresses: []resolver.Address{{Addr: fmt.Sprintf("10.0.0.%d:1", i)}}}
	}
	type published struct {
		g    *group
		want []readyEndpoint
	}
	var past []published
	labels := []string{"", "stable", "canary", "other"}
	states := []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready, connectivity.TransientFailure}
	for step := range 5000 {
		i := rng.IntN(n)
		r := &recs[i]
		switch rng.IntN(10) {
		case 0:
			r.ep = SetVersion(resolver.Endpoint{Addresses: r.ep.Addresses}, labels[rng.IntN(len(labels))])
		case 1:
			r.closed = step > 1000
		default:
			r.state = balancer.State{ConnectivityState: states[rng.IntN(len(states))], Picker: &fakePicker{step}}
		}
		if !gone[i] || !r.closed && kids[i].idx == -1 && kids[i].in == nil {
			tr.apply(kids[i], *r)
			gone[i] = r.closed
		}
		for vi, v := range tr.versions {
			g := v.group()
			past = append(past, published{g, slices.Clone(g.ready)})
			checkGroup(t, step, tr, vi, g, kids, recs, gone)
		}
		for _, p := range past {
			require.Equal(t, p.want, p.g.ready, "step %d: a published group changed", step)
		}
		if len(past) > 200 {
			past = past[len(past)-200:]
		}
	}
}

// checkGroup checks one version's group against the children's records.
func checkGroup(t *testing.T, step int, tr *tracker, vi int, g *group, kids []*child, recs []childRecord, gone []bool) {
	t.Helper()
	var states [connectivity.Shutdown + 1]int
	var ready []balancer.Picker
	for i, r := range recs {
		if gone[i] || versionOf(r.ep, "stable") != tr.versions[vi].name {
			continue
		}
		states[r.state.ConnectivityState]++
		if r.state.ConnectivityState == connectivity.Ready {
			ready = append(ready, r.state.Picker)
		}
	}
	require.Equal(t, states, g.states, "step %d, %s: states", step, g.name)
	var got []balancer.Picker
	for j, e := range g.ready {
		got = append(got, e.picker)
		require.Equal(t, j, e.c.idx, "step %d, %s: index of a READY endpoint", step, g.name)
		require.Equal(t, g.name, *e.version)
	}
	require.ElementsMatch(t, ready, got, "step %d, %s: READY endpoints", step, g.name)
}
