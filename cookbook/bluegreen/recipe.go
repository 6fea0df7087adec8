package main

import (
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// GreenFailure is what green does wrong after the cut-over with -green-fails.
var GreenFailure = demoserver.Faults{Latency: demo.BaseLatency, ErrorRate: 0.2}

// Recipe is the demo's side of the recipe: three blue and three green
// servers on loopback, green healthy at the start. With greenFails, green
// passes its warm-up and shadow gates and starts failing (GreenFailure) the
// moment it takes the traffic.
func Recipe(greenFails bool) *demo.Recipe {
	var after *demoserver.Faults
	if greenFails {
		after = &GreenFailure
	}
	return recipeWith(after)
}

// recipeWith is the recipe with green taking the faults after from the
// cut-over on (nil: none).
func recipeWith(after *demoserver.Faults) *demo.Recipe {
	rc := &demo.Recipe{Name: "bluegreen", Baseline: "blue", Candidate: "green", Instances: 3,
		CandidateFaults: func(demo.Regression) demoserver.Faults { return demo.RegressionNone.Faults() }}
	rc.FaultsAtCutover(after)
	return rc
}

// regression names what -green-fails does, for the run's options.
func regression(greenFails bool) demo.Regression {
	if greenFails {
		return demo.RegressionErrors
	}
	return demo.RegressionNone
}

// Thresholds are the latency gates: the slowest a good warm-up call may
// be, and how much slower than 1.5× blue's p99 green's calls may be in the
// rollback window.
type Thresholds struct{ WarmupCeiling, LatencyMargin time.Duration }

// Gates are the program's: warm-up calls under 50 ms, green's p99 ≤ 1.5× blue's + 10 ms.
var Gates = Thresholds{WarmupCeiling: 50 * time.Millisecond, LatencyMargin: 10 * time.Millisecond}
