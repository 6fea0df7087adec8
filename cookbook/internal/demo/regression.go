package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// Regression is the fault a recipe injects into the candidate.
type Regression string

// The regressions a recipe can show.
const (
	RegressionNone    Regression = "none"    // a healthy candidate
	RegressionErrors  Regression = "errors"  // 5 % of the candidate's calls fail
	RegressionLatency Regression = "latency" // the candidate is 5× slower
	RegressionDiff    Regression = "diff"    // the candidate's replies carry another price
	RegressionHang    Regression = "hang"    // the candidate's calls hang until their deadline
)

// Regressions lists the regressions in the order the flags show them.
var Regressions = []Regression{RegressionNone, RegressionErrors, RegressionLatency, RegressionDiff, RegressionHang}

// ParseRegression reads a -regression flag.
func ParseRegression(s string) (Regression, error) {
	for _, r := range Regressions {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Regressions))
	for i, r := range Regressions {
		names[i] = string(r)
	}
	return "", fmt.Errorf("ninelives: -regression %q: want one of %s", s, strings.Join(names, ", "))
}

// BaseLatency is the work every demo call takes, so that a latency
// regression has something to multiply.
const BaseLatency = 2 * time.Millisecond

// Faults returns the faults of a version with the regression.
func (r Regression) Faults() demoserver.Faults {
	f := demoserver.Faults{Latency: BaseLatency}
	switch r {
	case RegressionErrors:
		f.ErrorRate = 0.05
	case RegressionLatency:
		f.Latency = BaseLatency * 5
	case RegressionDiff:
		f.PriceDelta = 1
	case RegressionHang:
		f.Hang = true
	}
	return f
}

// Describe says in words what the regression does.
func (r Regression) Describe() string {
	switch r {
	case RegressionErrors:
		return "5 % of the candidate's calls fail with UNAVAILABLE"
	case RegressionLatency:
		return fmt.Sprintf("the candidate takes %v a call instead of %v", BaseLatency*5, BaseLatency)
	case RegressionDiff:
		return "the candidate answers GetItem with another price (only shadow comparison can see it)"
	case RegressionHang:
		return "the candidate's calls hang until their deadline"
	}
	return "the candidate is as good as the baseline"
}
