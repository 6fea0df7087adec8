package evaluate

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Jobs lists the runs of scs, the hog off ([0]) and on ([1]): each
// scenario's counts, or runs of each if runs > 0; seeds from seed on, and
// each run's rate drawn from its seed.
func Jobs(scs []*Scenario, runs int, seed uint64) [2][]Job {
	var jobs [2][]Job
	for _, sc := range scs {
		for h, n := range [2]int{sc.Runs.Off, sc.Runs.On} {
			if runs > 0 {
				n = runs
			}
			for range n {
				seed++
				rng := rand.New(rand.NewPCG(seed, 7))
				jobs[h] = append(jobs[h], Job{Scenario: sc, Hog: h == 1, Seed: seed, Rate: sc.RateMin + rng.IntN(sc.RateMax-sc.RateMin+1)})
			}
		}
	}
	return jobs
}

// Limits bound the runs at once: at most Runs of them, their calls a
// second summing to at most Rate (a run above it runs alone), or HogRate
// while the hog runs: the hog takes about half the machine, and a load
// the machine cannot carry measures an overload, not noise.
type Limits struct{ Runs, Rate, HogRate int }

// underHog is l for the runs beside the hog.
func (l Limits) underHog() Limits {
	l.Rate = l.HogRate
	return l
}

// slots hands out the room Limits give.
type slots struct {
	Limits
	mu         sync.Mutex
	cond       *sync.Cond
	runs, rate int
}

func newSlots(l Limits) *slots {
	s := &slots{Limits: l}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// take waits for room for a run of rate calls a second.
func (s *slots) take(rate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.runs >= s.Limits.Runs || s.runs > 0 && s.rate+rate > s.Limits.Rate {
		s.cond.Wait()
	}
	s.runs++
	s.rate += rate
}

// give returns a run's room.
func (s *slots) give(rate int) {
	s.mu.Lock()
	s.runs--
	s.rate -= rate
	s.mu.Unlock()
	s.cond.Broadcast()
}

// Execute makes the runs of jobs within limits, the hog off first and
// then on, in each in the order of order; the hog runs while the second lot
// does. It prints a line per run to progress and returns the results of
// the runs it made before ctx ended.
func Execute(ctx context.Context, env *Env, jobs [2][]Job, limits Limits, progress io.Writer) ([]Result, error) {
	var all []Result
	for h, lot := range jobs {
		if len(lot) == 0 || ctx.Err() != nil {
			continue
		}
		var hog *hogProcess
		lim := limits
		if h == 1 {
			lim = limits.underHog()
			var err error
			if hog, err = startHog(hogBound(lot, limits.Runs)); err != nil {
				return all, err
			}
		}
		all = append(all, runLot(ctx, env, lot, lim, progress)...)
		if hog != nil {
			hog.stop()
		}
	}
	return all, nil
}

// hogBound is the longest the hog may run for a lot: as if every run
// took its scenario's limit, plus a minute.
func hogBound(lot []Job, parallel int) time.Duration {
	var sum time.Duration
	for _, j := range lot {
		sum += j.Scenario.Limit
	}
	return sum/time.Duration(parallel) + lot[0].Scenario.Limit + time.Minute
}

// runLot makes a lot's runs within limits, the longest first.
func runLot(ctx context.Context, env *Env, lot []Job, limits Limits, progress io.Writer) []Result {
	lot = order(lot)
	room := newSlots(limits)
	var mu sync.Mutex
	var results []Result
	var wg sync.WaitGroup
	for _, j := range lot {
		room.take(j.Rate)
		if ctx.Err() != nil {
			room.give(j.Rate)
			break
		}
		wg.Go(func() {
			defer room.give(j.Rate)
			r := Run(ctx, env, j)
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
			fmt.Fprintf(progress, "[%d/%d] %s\n", len(results), len(lot), r.line())
			for _, t := range r.Trace {
				fmt.Fprintf(progress, "    %s\n", t)
			}
		})
	}
	wg.Wait()
	return results
}

// order is the order runs start in: the longest first, and of runs as long,
// those with the fewest calls a second, so that the long, light runs start
// together and the short, heavy ones fill the rate budget around them
// rather than hold the long ones back.
func order(lot []Job) []Job {
	lot = slices.Clone(lot)
	slices.SortStableFunc(lot, func(a, b Job) int {
		return cmp.Or(cmp.Compare(b.Scenario.Limit, a.Scenario.Limit), cmp.Compare(a.Rate, b.Rate))
	})
	return lot
}

// line is the run in one line of progress.
func (r Result) line() string {
	hog := "off"
	if r.Hog {
		hog = "on"
	}
	s := fmt.Sprintf("%s hog %s seed %d %d calls/s: %s", r.Scenario, hog, r.Seed, r.Rate, r.Outcome)
	switch {
	case r.Err != "":
		s += ": " + r.Err
	case r.Outcome == RolledBack:
		s += fmt.Sprintf(" (%s) after %d candidate calls, %v: %s", r.Why, r.CandidateCalls, r.Decided.Round(time.Second/10), r.Reason)
	default:
		s += fmt.Sprintf(" after %d candidate calls, %v", r.CandidateCalls, r.Decided.Round(time.Second/10))
	}
	if r.FailedCalls > 0 {
		s += fmt.Sprintf("; %d of %d user calls failed: %s", r.FailedCalls, r.Calls, r.Failures)
	}
	if r.Rescued > 0 {
		s += fmt.Sprintf("; %d of the candidate's calls rescued", r.Rescued)
	}
	return s
}
