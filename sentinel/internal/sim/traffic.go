package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// Traffic draws a scenario's calls one second at a time for a caller that
// sets the candidate's share itself, such as a control loop under test whose
// decisions move the weights. The scenario's Steps are not used; its
// versions, incidents, bounds and calls per second are. The draws are those
// of RunOne: the same seed, stream and shares give the same looks.
type Traffic struct {
	d drawer
}

// NewTraffic prepares sc's traffic, drawing from rand.NewPCG(seed, stream).
func NewTraffic(sc Scenario, seed, stream uint64) (*Traffic, error) {
	check := sc
	check.Steps = []Step{{Share: 0.5, Seconds: 1}} // the caller gives the share each second
	m, err := newModel(check)
	if err != nil {
		return nil, err
	}
	nb := len(sc.Bounds) + 1
	return &Traffic{d: drawer{m: m, r: rand.New(rand.NewPCG(seed, stream)), looks: 1, candHist: make([]uint64, nb), baseHist: make([]uint64, nb)}}, nil
}

// Second returns how many seconds have been drawn.
func (t *Traffic) Second() int { return t.d.look }

// Next draws the next second with the candidate's share of the calls in
// [0, 1]. The look's histograms are fresh copies the caller may keep.
func (t *Traffic) Next(share float64) (judge.Look, error) {
	if !(share >= 0 && share <= 1) {
		return judge.Look{}, fmt.Errorf("ninelives: share = %v, want 0 ≤ share ≤ 1", share)
	}
	l := t.d.next(0, false, share).Look
	l.Candidate.Latency.Counts = append([]uint64(nil), l.Candidate.Latency.Counts...)
	l.Baseline.Latency.Counts = append([]uint64(nil), l.Baseline.Latency.Counts...)
	return l, nil
}
