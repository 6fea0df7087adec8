package main

import "github.com/ninelives-go/ninelives/cookbook/internal/demo"

// Recipe is the demo's side of the recipe: three stable and three canary
// servers on loopback, the canary with the regression's faults.
func Recipe() *demo.Recipe {
	return &demo.Recipe{Name: "canary", Baseline: "stable", Candidate: "canary", Instances: 3, CandidateFaults: demo.Regression.Faults}
}
