package demoproc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// TestKilledAndStartedAgainWhereItWas runs demofleet, kills it and starts
// it again on the same address, where a client finds it and its new faults.
func TestKilledAndStartedAgainWhereItWas(t *testing.T) {
	bin, err := demoproc.Build(t.TempDir())
	require.NoError(t, err)
	p, err := demoproc.Start(bin, demoserver.VersionSpec{Version: "canary", Count: 1})
	require.NoError(t, err)
	addr := strings.TrimPrefix(p.Target(), "ninelives:///canary=passthrough:///")
	require.NotEqual(t, p.Target(), addr, "one instance: %s", p.Target())
	c := client(t, addr)
	_, err = c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)

	p.Kill()
	_, err = c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.Unavailable, status.Code(err), "killed")

	again, err := demoproc.Start(bin, demoserver.VersionSpec{Version: "canary", Count: 1, Addrs: []string{addr}})
	require.NoError(t, err)
	defer again.Stop()
	assert.Equal(t, p.Target(), again.Target())
	require.NoError(t, again.SetFaults("canary", demoserver.Faults{ErrorRate: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"}, grpc.WaitForReady(true))
	assert.ErrorContains(t, err, "injected failure in canary canary-0", "the new process, with its new faults")
	assert.ErrorContains(t, again.SetFaults("stable", demoserver.Faults{}), `version "stable", want one of [canary]`)

	require.NoError(t, again.StopServer("canary", 0))
	_, err = c.GetItem(context.Background(), &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.Unavailable, status.Code(err), "its one server stopped")
	assert.ErrorContains(t, again.StopServer("canary", 1), `index "1", want 0 to 0`)
}

func client(t *testing.T, addr string) demov1.DemoServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return demov1.NewDemoServiceClient(cc)
}
