package warmup_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// Green is warmed up before it gets any traffic: every one of its
// endpoints must answer three calls in a row, each within 500ms.
func ExampleVersion() {
	fleet, err := demoserver.StartFleet(
		demoserver.VersionSpec{Version: "blue", Count: 1},
		demoserver.VersionSpec{Version: "green", Count: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fleet.Stop()
	split := balancer.MustSplit(balancer.Weight{Version: "blue", Weight: 10000}, balancer.Weight{Version: "green", Weight: 0})
	cc, err := grpc.NewClient(fleet.Target(), balancer.WithSplit(split),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc.Connect()
	for len(split.ReadyEndpoints("green")) < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // green's servers are starting
	}

	getItem := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		return err
	}
	rep, err := warmup.Version(ctx, cc, split, "green", warmup.Config{
		Calls:          []warmup.CallFunc{getItem},
		SuccessesInRow: 3,
		LatencyCeiling: 500 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Passed, rep.Reason)
	// Output: true all 2 endpoints had 3 good calls in a row under 500ms
}
