package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/cookbook/internal/deploy"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A rolling deploy replaces a version's instances one by one while a
// client keeps calling; the client's resolver follows, the Prober sees the
// new build, and no call fails.
func TestRollingDeploy(t *testing.T) {
	c, err := deploy.Start([]string{"stable", "canary"}, deploy.Build{Name: "b1"}, 2, 100*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	split := balancer.MustSplit(balancer.Weight{Version: "stable", Weight: balancer.TotalWeight}, balancer.Weight{Version: "canary"})
	cc, err := grpc.NewClient(c.Target("stable", "canary"), grpc.WithTransportCredentials(insecure.NewCredentials()), balancer.WithSplit(split))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	cc.Connect()
	require.Eventually(t, func() bool { return len(split.ReadyEndpoints("stable")) == 2 }, 10*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	failed := make(chan int, 1)
	go func() {
		n := 0
		client := demov1.NewDemoServiceClient(cc)
		for ctx.Err() == nil {
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := client.GetItem(cctx, &demov1.GetItemRequest{Id: "a"}); err != nil {
				n++
			}
			ccancel()
		}
		failed <- n
	}()
	require.NoError(t, c.Deploy(context.Background(), "stable", deploy.Build{Name: "b2"}))
	cancel()
	assert.Zero(t, <-failed, "no call failed during the deploy")
	assert.Equal(t, map[string]int{"b2": 2}, c.Builds("stable"))
	assert.Equal(t, "b2×2", c.String("stable"))

	p, err := release.NewProber(cc, split, 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		b, err := p.Builds(context.Background())
		build, ok := b["stable"].Uniform()
		return err == nil && ok && build == "b2"
	}, 10*time.Second, 10*time.Millisecond)
}
