package promsource_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/telemetry/promsource"
)

// A sentinel that judges a canary on the figures of every client replica
// that Prometheus scrapes in the orders-client job.
func Example() {
	split := balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: 10000},
		balancer.Weight{Version: "canary", Weight: 0},
	)
	src, err := promsource.NewSource("http://prometheus:9090",
		promsource.WithSelector(`job="orders-client"`),
		promsource.WithScrapeTimeout(10*time.Second), // the job's scrape_timeout
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	canary, err := sentinel.NewCanary(sentinel.CanaryConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := sentinel.New(split, src, canary, sentinel.WithVersions("stable", "canary"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	// Each tick collects the window since the previous one from Prometheus.
	if err := s.Run(context.Background()); err != nil { // until promoted, rolled back or aborted
		fmt.Println(err)
	}
}

// A selector scopes every query to one service's clients; a malformed one
// is refused with the matcher and the place it goes wrong.
func ExampleWithSelector() {
	src, err := promsource.NewSource("http://prometheus:9090",
		promsource.WithSelector(`job="orders-client", env!="dev"`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()

	_, err = promsource.NewSource("http://prometheus:9090", promsource.WithSelector(`job=orders-client`))
	fmt.Println(err)
	// Output:
	// ninelives: bad Prometheus source config: WithSelector = "job=orders-client": label job: value at byte 4: want a quoted value, have "orders-client"
}
