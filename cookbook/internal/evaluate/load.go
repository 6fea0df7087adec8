package evaluate

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
)

// maxInFlight bounds a run's calls in flight.
const maxInFlight = 256

// callTimeout is each user call's deadline, the demo load's.
const callTimeout = 2 * time.Second

// caller makes one user call.
type caller func(ctx context.Context) error

// demoCalls are the demo load's mix of calls (GetItem most, PutItem,
// ListItems, CountItems, Echo) for 1,000 sticky users.
func demoCalls(cc *grpc.ClientConn, seed uint64) caller {
	l := demo.NewLoad(cc, 1, seed)
	return func(ctx context.Context) error {
		_, _, err := l.CallNext(ctx)
		return err
	}
}

// healthCalls are grpc.health.v1.Health/Check calls for 1,000 sticky
// users: a service with no method marked safe to copy.
func healthCalls(cc *grpc.ClientConn, seed uint64) caller {
	c := healthpb.NewHealthClient(cc)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed+1))
	return func(ctx context.Context) error {
		mu.Lock()
		user := "user-" + strconv.Itoa(rng.IntN(1000))
		mu.Unlock()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, demo.UserHeader, user), callTimeout)
		defer cancel()
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
}

// tally counts a run's user calls, and keeps when each failure came.
type tally struct {
	calls, failed atomic.Int64
	mu            sync.Mutex
	failures      []time.Time
}

// fail counts a failed call.
func (t *tally) fail() {
	t.failed.Add(1)
	t.mu.Lock()
	t.failures = append(t.failures, time.Now())
	t.mu.Unlock()
}

// failedAfter counts the failures after at.
func (t *tally) failedAfter(at time.Time) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, f := range t.failures {
		if f.After(at) {
			n++
		}
	}
	return n
}

// drive makes rate calls a second on a fixed schedule (an open load: a
// slow call does not delay the next) until ctx ends, with at most
// maxInFlight at once, and waits for the calls it started. A call cut
// short by ctx's end is not counted.
func drive(ctx context.Context, rate int, call caller, t *tally) {
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		timer.Reset(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := call(ctx)
			if demo.CutShort(ctx, err) {
				return
			}
			t.calls.Add(1)
			if err != nil {
				t.fail()
			}
		})
	}
}
