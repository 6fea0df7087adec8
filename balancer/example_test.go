package balancer_test

import (
	"fmt"

	"github.com/ninelives-go/ninelives/balancer"
)

func ExampleSplit() {
	split := balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: 9000},
		balancer.Weight{Version: "canary", Weight: 1000})
	fmt.Println(split)
	if err := split.Set("canary", 2500, "stable"); err != nil {
		fmt.Println(err)
	}
	fmt.Println(split)
	fmt.Println(split.SetWeights(balancer.Weight{Version: "stable", Weight: 5000}, balancer.Weight{Version: "canary", Weight: 4000}))
	// Output:
	// stable=90.00% canary=10.00%
	// stable=75.00% canary=25.00%
	// ninelives: bad weights: weights sum to 9000, want 10000
}

func ExampleCompositeTarget() {
	target := balancer.CompositeTarget(
		balancer.VersionTarget{Version: "blue", Target: "dns:///orders-blue:50051"},
		balancer.VersionTarget{Version: "green", Target: "unix:///run/orders;green.sock"},
	)
	fmt.Println(target)
	pairs, err := balancer.ParseCompositeTarget(target)
	fmt.Println(pairs, err)
	// Output:
	// ninelives:///blue=dns:///orders-blue:50051;green=unix:///run/orders%3Bgreen.sock
	// [{blue dns:///orders-blue:50051} {green unix:///run/orders;green.sock}] <nil>
}
