// Package demotest starts demo fleets and clients for tests, waits for them
// to be ready, and stops them when the test ends.
package demotest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// Timeout bounds every wait of this package.
const Timeout = 10 * time.Second

// Fleet starts the versions on loopback and stops them when the test ends.
func Fleet(t testing.TB, specs ...demoserver.VersionSpec) *demoserver.Fleet {
	t.Helper()
	f, err := demoserver.StartFleet(specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

// Dial opens an insecure client on target and closes it when the test ends.
func Dial(t testing.TB, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Connect makes the channel leave IDLE and waits for READY.
func Connect(t testing.TB, cc *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cc.Connect()
	for st := cc.GetState(); st != connectivity.Ready; st = cc.GetState() {
		if !cc.WaitForStateChange(ctx, st) {
			t.Fatalf("channel did not become READY, last state %v", st)
		}
	}
}

// WaitReady waits until the split's clients have exactly want[v] READY
// endpoints of each version v.
func WaitReady(t testing.TB, split *balancer.Split, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		ok := true
		for v, n := range want {
			if len(split.ReadyEndpoints(v)) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints not ready: want %v, have %v", want, split.Endpoints(""))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitFleetReady waits until every server of the fleet is READY in the split.
func WaitFleetReady(t testing.TB, split *balancer.Split, f *demoserver.Fleet) {
	t.Helper()
	want := map[string]int{}
	for _, v := range f.Versions() {
		want[v] = len(f.Servers(v))
	}
	WaitReady(t, split, want)
}

// Settle waits until the channel's own picker has every READY endpoint of
// the split: the split can report an endpoint READY a moment before the
// channel picks with the new picker. It probes each endpoint with a method
// the servers do not have, so no server counts the probe, and with the
// warm-up role, so no shadow copies it.
func Settle(t testing.TB, cc *grpc.ClientConn, split *balancer.Split) {
	t.Helper()
	for _, addr := range split.ReadyEndpoints("") {
		ctx := call.WithRole(call.ForceEndpoint(context.Background(), addr), call.Warmup)
		for i := 0; ; i++ {
			err := cc.Invoke(ctx, "/ninelives.demo.v1.DemoService/Probe", &emptypb.Empty{}, &emptypb.Empty{})
			if status.Code(err) == codes.Unimplemented {
				break
			}
			if i == 1000 {
				t.Fatalf("endpoint %s: %v", addr, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
