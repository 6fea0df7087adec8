// Package sim simulates rollouts without gRPC, to measure how rollback
// policies behave on the same simulated traffic: how often they roll back a
// candidate as good as the baseline, and how many candidate calls a bad
// candidate serves before they do.
//
// Each simulated second, CallsPerSecond calls are split between the
// versions by an independent draw per call (the candidate with the step's
// share); each call fails with its version's error probability and takes a
// log-normal time (a share of the calls, the tail, that much plus a fixed
// delay), counted into histogram buckets. The counts are drawn exactly
// (binomial and multinomial draws equal in distribution to a draw per
// call), so a run of ten minutes at 1,000 calls/s takes milliseconds.
// Every second ends a look (or LooksPerSecond looks), which every policy
// sees.
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
	// TailShare of the calls take TailDelay seconds more: a regression
	// in the tail only.
	TailShare float64
	TailDelay float64
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
	if !(v.TailShare >= 0 && v.TailShare < 1) {
		return fmt.Errorf("ninelives: %s.TailShare = %v, want a share in [0, 1)", field, v.TailShare)
	}
	if !(v.TailDelay >= 0) || math.IsInf(v.TailDelay, 0) {
		return fmt.Errorf("ninelives: %s.TailDelay = %v, want seconds ≥ 0", field, v.TailDelay)
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
	// BreakAt, when above 0, is the second the candidate turns bad (an
	// incident from there): Outcome.CallsSinceBreak counts from it.
	BreakAt int
	// LooksPerSecond splits each second into that many looks, as a faster
	// tick does; 0 is one look a second.
	LooksPerSecond int
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
	if sc.BreakAt < 0 || sc.LooksPerSecond < 0 || int64(sc.LooksPerSecond) > sc.CallsPerSecond {
		return fmt.Errorf("ninelives: scenario %q BreakAt = %d, LooksPerSecond = %d, want ≥ 0 and at most CallsPerSecond looks", sc.Name, sc.BreakAt, sc.LooksPerSecond)
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
	Second    int     // 1-based: the look is in (or at the end of) this second
	SecondEnd bool    // the look ends its second (always, at one look a second)
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

// Explainer is a Policy that says why it rolled back ("errors",
// "latency p99"), for Outcome.Why.
type Explainer interface {
	Why() string
}

// Factory makes a fresh Policy for each run.
type Factory func() (Policy, error)

// Outcome is what one policy did in one run.
type Outcome struct {
	RolledBack bool
	// Second is the look at which it rolled back (0 if it did not).
	Second int
	// CandidateCalls counts the candidate's calls up to and including that
	// look, or in the whole run when it did not roll back;
	// CallsSinceBreak those from the scenario's BreakAt on.
	CandidateCalls  int64
	CallsSinceBreak int64
	// Why is an Explainer's reason for the rollback.
	Why string
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
		return versionModel{errorRate: v.ErrorRate, probs: bucketProbs(sc.Bounds, v)}
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
	d := drawer{m: m, r: r, looks: max(m.sc.LooksPerSecond, 1)}
	d.candHist = make([]uint64, len(m.sc.Bounds)+1)
	d.baseHist = make([]uint64, len(m.sc.Bounds)+1)
	active := len(policies)
	for step, st := range m.sc.Steps {
		for i := 0; i < st.Seconds*d.looks && active > 0; i++ {
			t := d.next(step, i == 0, st.Share)
			for k, p := range policies {
				if out[k].RolledBack || !p.Observe(t) {
					continue
				}
				out[k] = Outcome{RolledBack: true, Second: t.Second, CandidateCalls: d.cand, CallsSinceBreak: d.sinceBreak}
				if e, ok := p.(Explainer); ok {
					out[k].Why = e.Why()
				}
				active--
			}
		}
	}
	for k := range out {
		if !out[k].RolledBack {
			out[k].CandidateCalls, out[k].CallsSinceBreak = d.cand, d.sinceBreak
		}
	}
	return out
}

// drawer draws a run's looks one at a time.
type drawer struct {
	m                  *model
	r                  *rand.Rand
	looks              int // per second
	look               int // looks drawn
	cand, sinceBreak   int64
	candHist, baseHist []uint64
}

// next draws the next look at the candidate's share.
func (d *drawer) next(step int, stepStart bool, share float64) Tick {
	sc := d.m.sc
	second := d.look / d.looks // from 0
	base, cand := d.m.at(second)
	part := int64(d.look % d.looks)
	d.look++
	calls := sc.CallsPerSecond / int64(d.looks)
	if part == int64(d.looks)-1 {
		calls = sc.CallsPerSecond - calls*part
	}
	nc := Binomial(d.r, calls, share)
	nbase := calls - nc
	d.cand += nc
	if sc.BreakAt > 0 && second >= sc.BreakAt {
		d.sinceBreak += nc
	}
	multinomial(d.r, nc, cand.probs, d.candHist)
	multinomial(d.r, nbase, base.probs, d.baseHist)
	return Tick{
		Second: second + 1, SecondEnd: part == int64(d.looks)-1, Step: step, StepStart: stepStart, Share: share,
		Look: judge.Look{
			Candidate: judge.Figures{Calls: nc, Errors: Binomial(d.r, nc, cand.errorRate),
				Latency: judge.Buckets{Bounds: sc.Bounds, Counts: d.candHist}},
			Baseline: judge.Figures{Calls: nbase, Errors: Binomial(d.r, nbase, base.errorRate),
				Latency: judge.Buckets{Bounds: sc.Bounds, Counts: d.baseHist}},
		},
	}
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
