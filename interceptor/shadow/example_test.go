package shadow_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func ExampleDiff() {
	a := &demov1.GetItemResponse{Item: &demov1.Item{Id: "a", PriceCents: 100, Tags: []string{"demo"}}}
	b := &demov1.GetItemResponse{Item: &demov1.Item{Id: "a", PriceCents: 120, Tags: []string{"demo", "new"}}}
	fmt.Println(shadow.Diff(a, b))
	// Output: [item.price_cents item.tags]
}

func ExampleNew_badConfig() {
	_, err := shadow.New(shadow.Config{Candidate: "canary", Rate: 10})
	fmt.Println(err)
	// Output: ninelives: bad shadow config: Rate = 10: want a number in [0, 1]
}

// A canary that changed a price: every call goes to stable, a copy of each
// goes to the canary, and the comparison names the field.
func ExampleInterceptor() {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "stable", Count: 1},
		demoserver.VersionSpec{Version: "canary", Count: 1, Faults: demoserver.Faults{PriceDelta: 5}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fleet.Stop()
	sh, err := shadow.New(shadow.Config{
		Candidate:    "canary",
		Rate:         1,
		IgnoreFields: []string{"served_by", "generated_at"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary", Weight: 0})
	cc, err := grpc.NewClient(fleet.Target(),
		balancer.WithSplit(split),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sh.Close(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("primary:", resp.GetServedBy().GetVersion(), resp.GetItem().GetPriceCents())
	fmt.Println("mismatches:", sh.Stats().Comparisons[shadow.ResultMismatch])
	fmt.Println("fields:", sh.Mismatches()[0].Fields)
	// Output:
	// primary: stable 3197
	// mismatches: 1
	// fields: [item.price_cents]
}
