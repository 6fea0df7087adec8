// Package sim simulates rollouts without gRPC, to measure how rollback
// policies behave on the same simulated traffic: how often they roll back a
// candidate as good as the baseline, and how many candidate calls a bad
// candidate serves before they do.
//
// Each simulated second, CallsPerSecond calls are split between the
// versions by an independent draw per call (the candidate with the step's
// share); each call fails with its version's error probability and takes a
// log-normal time, counted into histogram buckets. The counts are drawn
// exactly (binomial and multinomial draws equal in distribution to a draw
// per call), so a run of ten minutes at 1,000 calls/s takes milliseconds.
// Every second ends a look, which every policy sees.
//
// Runs are deterministic: run i of a seed draws from
// rand.NewPCG(seed, i), whatever the number of workers.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// Version describes how one version behaves.
type Version struct {
	// ErrorRate is each call's probability of failing.
	ErrorRate float64
	// LatencyMedian (seconds) and LatencySigma (of the log) define a
	// log-normal latency.
	LatencyMedian float64
	LatencySigma  float64
}

func (v Version) validate(field string) error {
	if !(v.ErrorRate >= 0 && v.ErrorRate <= 1) {
		return fmt.Errorf("ninelives: %s.ErrorRate = %v, want a probability", field, v.ErrorRate)
	}
	if !(v.LatencyMedian > 0) || math.IsInf(v.LatencyMedian, 0) {
		return fmt.Errorf("ninelives: %s.LatencyMedian = %v, want a positive number of seconds", field, v.LatencyMedian)
	}
	if !(v.LatencySigma > 0) || math.IsInf(v.LatencySigma, 0) {
		return fmt.Errorf("ninelives: %s.LatencySigma = %v, want a positive number", field, v.LatencySigma)
	}
	return nil
}

// Step is a stretch of the rollout with a fixed candidate share.
type Step struct {
	Share   float64 // the candidate's share of the calls, in (0, 1)
	Seconds int     // the step's length; one look per second
}

// Incident replaces both versions' behaviour for seconds [From, To) of
// the rollout (counted from 0).
type Incident struct {
	From, To            int
	Baseline, Candidate Version
}

// Scenario is one kind of rollout.
type Scenario struct {
	Name string
	// Harmful says whether rolling the candidate back is the right call;
	// a rollback of a harmless candidate is a false rollback.
	Harmful             bool
	CallsPerSecond      int64
	Steps               []Step
	Baseline, Candidate Version
	Incidents           []Incident
	// Bounds are the latency histogram's bucket upper bounds in seconds.
	Bounds []float64
}

// Seconds returns the rollout's length.
func (sc Scenario) Seconds() int {
	var n int
	for _, s := range sc.Steps {
		n += s.Seconds
	}
	return n
}

// Validate checks the scenario, naming the bad field.
func (sc Scenario) Validate() error {
	if sc.CallsPerSecond <= 0 {
		return fmt.Errorf("ninelives: scenario %q CallsPerSecond = %d, want > 0", sc.Name, sc.CallsPerSecond)
	}
	if len(sc.Steps) == 0 {
		return fmt.Errorf("ninelives: scenario %q has no Steps", sc.Name)
	}
	for i, s := range sc.Steps {
		if !(s.Share > 0 && s.Share < 1) || s.Seconds <= 0 {
			return fmt.Errorf("ninelives: scenario %q Steps[%d] = %+v, want a share in (0, 1) and Seconds > 0", sc.Name, i, s)
		}
	}
	if err := sc.Baseline.validate("Baseline"); err != nil {
		return err
	}
	if err := sc.Candidate.validate("Candidate"); err != nil {
		return err
	}
	for i, in := range sc.Incidents {
		if in.From < 0 || in.To <= in.From {
			return fmt.Errorf("ninelives: scenario %q Incidents[%d] spans [%d, %d), want 0 ≤ From < To", sc.Name, i, in.From, in.To)
		}
		if err := in.Baseline.validate(fmt.Sprintf("Incidents[%d].Baseline", i)); err != nil {
			return err
		}
		if err := in.Candidate.validate(fmt.Sprintf("Incidents[%d].Candidate", i)); err != nil {
			return err
		}
	}
	return judge.Buckets{Bounds: sc.Bounds, Counts: make([]uint64, len(sc.Bounds)+1)}.Validate("Bounds")
}

// Tick is one look as a policy sees it.
type Tick struct {
	Second    int     // 1-based: the look at the end of this second
	Step      int     // index of the step
	StepStart bool    // the step's first look
	Share     float64 // the candidate's share in this step
	// Look holds the second's figures. Its histograms are reused for the
	// next look: copy what you keep.
	Look judge.Look
}

// Policy decides, look by look, whether to roll the candidate back.
type Policy interface {
	// Observe sees one look and returns true to roll back now.
	Observe(t Tick) bool
}

// Factory makes a fresh Policy for each run.
type Factory func() (Policy, error)

// Outcome is what one policy did in one run.
type Outcome struct {
	RolledBack bool
	// Second is the look at which it rolled back (0 if it did not).
	Second int
	// CandidateCalls counts the candidate's calls up to and including that
	// look, or in the whole run when it did not roll back.
	CandidateCalls int64
}

// versionModel is a Version prepared for drawing.
type versionModel struct {
	errorRate float64
	probs     []float64
}

// model is a Scenario prepared for drawing.
type model struct {
	sc        Scenario
	base      versionModel
	cand      versionModel
	incidents []struct{ base, cand versionModel }
}

func newModel(sc Scenario) (*model, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	prep := func(v Version) versionModel {
		return versionModel{errorRate: v.ErrorRate, probs: bucketProbs(sc.Bounds, v.LatencyMedian, v.LatencySigma)}
	}
	m := &model{sc: sc, base: prep(sc.Baseline), cand: prep(sc.Candidate)}
	for _, in := range sc.Incidents {
		m.incidents = append(m.incidents, struct{ base, cand versionModel }{prep(in.Baseline), prep(in.Candidate)})
	}
	return m, nil
}

// at returns the versions' behaviour in second s (from 0).
func (m *model) at(s int) (base, cand versionModel) {
	base, cand = m.base, m.cand
	for i, in := range m.sc.Incidents {
		if s >= in.From && s < in.To {
			base, cand = m.incidents[i].base, m.incidents[i].cand
		}
	}
	return base, cand
}

// RunOne simulates one rollout of sc, drawing from rand.NewPCG(seed,
// stream), and feeds every look to each policy until it rolls back. It
// returns one Outcome per policy. The traffic does not depend on the
// policies: every policy sees the same calls.
func RunOne(sc Scenario, seed, stream uint64, policies ...Policy) ([]Outcome, error) {
	m, err := newModel(sc)
	if err != nil {
		return nil, err
	}
	return m.run(rand.New(rand.NewPCG(seed, stream)), policies), nil
}

func (m *model) run(r *rand.Rand, policies []Policy) []Outcome {
	out := make([]Outcome, len(policies))
	nb := len(m.sc.Bounds) + 1
	candHist := make([]uint64, nb)
	baseHist := make([]uint64, nb)
	var candTotal int64
	active := len(policies)
	second := 0
	for step, st := range m.sc.Steps {
		for i := 0; i < st.Seconds && active > 0; i++ {
			base, cand := m.at(second)
			second++
			nc := Binomial(r, m.sc.CallsPerSecond, st.Share)
			nbase := m.sc.CallsPerSecond - nc
			candTotal += nc
			multinomial(r, nc, cand.probs, candHist)
			multinomial(r, nbase, base.probs, baseHist)
			t := Tick{
				Second: second, Step: step, StepStart: i == 0, Share: st.Share,
				Look: judge.Look{
					Candidate: judge.Figures{Calls: nc, Errors: Binomial(r, nc, cand.errorRate),
						Latency: judge.Buckets{Bounds: m.sc.Bounds, Counts: candHist}},
					Baseline: judge.Figures{Calls: nbase, Errors: Binomial(r, nbase, base.errorRate),
						Latency: judge.Buckets{Bounds: m.sc.Bounds, Counts: baseHist}},
				},
			}
			for k, p := range policies {
				if out[k].RolledBack {
					continue
				}
				if p.Observe(t) {
					out[k] = Outcome{RolledBack: true, Second: second, CandidateCalls: candTotal}
					active--
				}
			}
		}
	}
	for k := range out {
		if !out[k].RolledBack {
			out[k].CandidateCalls = candTotal
		}
	}
	return out
}

// Run simulates runs rollouts of sc (run i draws from rand.NewPCG(seed,
// i)) on up to GOMAXPROCS goroutines, each run feeding fresh policies from
// every factory. It returns the outcomes by factory, then by run; they do
// not depend on the number of goroutines.
func Run(sc Scenario, seed uint64, runs int, factories ...Factory) ([][]Outcome, error) {
	m, err := newModel(sc)
	if err != nil {
		return nil, err
	}
	if runs <= 0 {
		return nil, fmt.Errorf("ninelives: runs = %d, want > 0", runs)
	}
	if len(factories) == 0 {
		return nil, fmt.Errorf("ninelives: no policy factory to simulate")
	}
	res := make([][]Outcome, len(factories))
	for k := range res {
		res[k] = make([]Outcome, runs)
	}
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	work := func() {
		defer wg.Done()
		policies := make([]Policy, len(factories))
		for {
			mu.Lock()
			i := next
			next++
			stop := firstErr != nil
			mu.Unlock()
			if i >= runs || stop {
				return
			}
			for k, f := range factories {
				p, err := f()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%w (policy %d)", err, k)
					}
					mu.Unlock()
					return
				}
				policies[k] = p
			}
			out := m.run(rand.New(rand.NewPCG(seed, uint64(i))), policies)
			for k := range out {
				res[k][i] = out[k] // each run writes its own index
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), runs)
	wg.Add(workers)
	for range workers {
		go work()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return res, nil
}
