package rescue_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// A canary that fails every call: the users of GetItem, a method safe to
// repeat, get the stable version's answers.
func Example() {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{ErrorRate: 1}})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Stop()
	split := balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: 0},
		balancer.Weight{Version: "canary", Weight: balancer.TotalWeight})

	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable"})
	if err != nil {
		log.Fatal(err)
	}
	cc, err := grpc.NewClient(fleet.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		balancer.WithSplit(split),
		grpc.WithChainUnaryInterceptor(rs.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(rs.StreamClientInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := demov1.NewDemoServiceClient(cc)
	byStable := 0
	for range 10 {
		resp, err := client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		if err != nil {
			log.Fatal(err)
		}
		if resp.GetServedBy().GetVersion() == "stable" {
			byStable++
		}
	}
	st := rs.Stats()
	fmt.Printf("stable answered %d of 10 calls\n", byStable)
	fmt.Printf("rescued %d, throttled %d\n", st.Rescued, st.Throttled)
	// Output:
	// stable answered 10 of 10 calls
	// rescued 10, throttled 0
}
