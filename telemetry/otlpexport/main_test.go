package otlpexport_test

import (
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const getItem = "/ninelives.demo.v1.DemoService/GetItem"

// startFleet starts the versions and stops them when the test ends.
var startFleet = demotest.Fleet

// dial opens a client on the fleet steered by split, waits until every
// endpoint is READY, and closes it when the test ends.
func dial(t testing.TB, f *demoserver.Fleet, split *balancer.Split) *grpc.ClientConn {
	t.Helper()
	cc := demotest.Dial(t, f.Target(), balancer.WithSplit(split))
	demotest.Connect(t, cc)
	demotest.WaitFleetReady(t, split, f)
	return cc
}
