package balancer_test

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/resolver"

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
	// ninelives: bad weights: weights sum to 9000, want 10000 (basis points: 10000 = 100 %)
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

// A resolver of one's own labels each endpoint with its version.
func ExampleSetVersion() {
	ep := balancer.SetVersion(resolver.Endpoint{Addresses: []resolver.Address{{Addr: "10.0.0.7:50051"}}}, "canary")
	fmt.Println(balancer.VersionFromEndpoint(ep))
	// Output: canary true
}

// A bad setting names its field and value; errors.As reads them.
func ExampleConfigError() {
	_, err := balancer.ParseConfig([]byte(`{"versions":[{"name":"stable","weight":9000},{"name":"canary","weight":-1000}]}`))
	fmt.Println(err)
	var ce *balancer.ConfigError
	if errors.As(err, &ce) {
		fmt.Printf("field %s, value %v, bad config: %v\n", ce.Field, ce.Value, errors.Is(err, balancer.ErrBadConfig))
	}
	// Output:
	// ninelives: bad ninelives_split config: versions[1].weight = -1000: is outside 0..10000 (basis points)
	// field versions[1].weight, value -1000, bad config: true
}
