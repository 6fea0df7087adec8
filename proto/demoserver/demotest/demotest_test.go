package demotest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFleetClientAndReadiness(t *testing.T) {
	f := demotest.Fleet(t, demoserver.VersionSpec{Version: "stable", Count: 2}, demoserver.VersionSpec{Version: "canary", Count: 1})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000}, balancer.Weight{Version: "canary"})
	cc := demotest.Dial(t, f.Target(), balancer.WithSplit(split))
	demotest.Connect(t, cc)
	demotest.WaitFleetReady(t, split, f)
	assert.Len(t, split.ReadyEndpoints("stable"), 2)
	assert.Len(t, split.ReadyEndpoints("canary"), 1)
	r, err := demov1.NewDemoServiceClient(cc).GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, "stable", r.GetServedBy().GetVersion())
}

func TestFleetProcess(t *testing.T) {
	target := demotest.FleetProcess(t, demoserver.VersionSpec{Version: "stable", Count: 2, Faults: demoserver.Faults{PriceDelta: 7}})
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: 10000})
	cc := demotest.Dial(t, target, balancer.WithSplit(split))
	demotest.Connect(t, cc)
	demotest.WaitReady(t, split, map[string]int{"stable": 2})
	r, err := demov1.NewDemoServiceClient(cc).GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, "stable", r.GetServedBy().GetVersion())
	local := demotest.Fleet(t, demoserver.VersionSpec{Version: "stable", Count: 1})
	lr, err := demov1.NewDemoServiceClient(demotest.Dial(t, "passthrough:///"+local.Servers("stable")[0].Addr())).GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	assert.Equal(t, lr.GetItem().GetPriceCents()+7, r.GetItem().GetPriceCents(), "the faults reach the other process")
}

func TestCPUTimeAdvancesWithWork(t *testing.T) {
	start, ok := demotest.CPUTime()
	if !ok {
		t.Skip("no CPU time on this system")
	}
	x := uint64(1)
	for i := 0; i < 1e9; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i%1e5 == 0 {
			if now, _ := demotest.CPUTime(); now > start {
				return
			}
		}
	}
	t.Fatalf("no CPU time counted for the work (%d)", x)
}
