package demo

import (
	"fmt"
	"strings"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
)

// FaultsAtCutover makes the recipe's candidate servers take faults from
// the decision that gives the candidate all the traffic on, as a green
// that passed its gates and breaks under real load, and makes the recipe
// describe that, whatever the regression's name. Nil faults: the candidate
// stays healthy.
func (rc *Recipe) FaultsAtCutover(faults *demoserver.Faults) {
	rc.Describe = func(Regression) string { return describeAfter(rc.Baseline, rc.Candidate, faults) }
	if faults == nil {
		rc.OnEvent = nil
		return
	}
	rc.OnEvent = func(servers *demoserver.Fleet, e sentinel.Event) {
		if e.Phase == sentinel.PhaseProgressing && GaveAllTo(e, rc.Candidate) {
			servers.SetFaults(rc.Candidate, *faults)
		}
	}
}

// GaveAllTo reports whether the decision gave version all the traffic.
func GaveAllTo(e sentinel.Event, version string) bool {
	for _, w := range e.Weights {
		if w.Version == version && w.Weight == balancer.TotalWeight {
			return true
		}
	}
	return false
}

// describeAfter says what the candidate does from the cut-over on with the
// faults after (nil: nothing changes).
func describeAfter(baseline, candidate string, after *demoserver.Faults) string {
	var what []string
	if after != nil {
		f := *after
		if f.ErrorRate > 0 {
			what = append(what, fmt.Sprintf("fails %g %% of its calls with UNAVAILABLE", 100*f.ErrorRate))
		}
		if f.Latency != BaseLatency {
			what = append(what, fmt.Sprintf("takes %v a call instead of %v", f.Latency, BaseLatency))
		}
		if f.PriceDelta != 0 {
			what = append(what, "answers GetItem with another price")
		}
		if f.ExtraItems > 0 {
			what = append(what, fmt.Sprintf("streams %d items too many from ListItems", f.ExtraItems))
		}
		if f.Hang {
			what = append(what, "hangs every call until its deadline")
		}
	}
	if len(what) == 0 {
		return candidate + " is as good as " + baseline
	}
	return candidate + " passes its warm-up and shadow gates, then " + strings.Join(what, " and ") + " from the cut-over on"
}
