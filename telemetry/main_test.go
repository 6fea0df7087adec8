package telemetry_test

import (
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

func TestMain(m *testing.M) {
	otel.SetErrorHandler(otelErrors)
	goleak.VerifyTestMain(m)
}

// otelErrors keeps what the package hands OpenTelemetry's error handler.
var otelErrors = new(errorLog)

type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Handle(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, err.Error())
}

// count is the number of errors handled so far.
func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// since returns the errors handled after the first n.
func (l *errorLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs[n:]...)
}

// startFleet starts the versions and stops them when the test ends.
var startFleet = demotest.Fleet

// dial opens a client on the fleet steered by split, waits until every
// endpoint is READY, and closes it when the test ends.
func dial(t testing.TB, f *demoserver.Fleet, split *balancer.Split, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc := demotest.Dial(t, f.Target(), append([]grpc.DialOption{balancer.WithSplit(split)}, opts...)...)
	demotest.Connect(t, cc)
	demotest.WaitFleetReady(t, split, f)
	return cc
}

// waitFor polls cond every few milliseconds for at most ten seconds.
func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
