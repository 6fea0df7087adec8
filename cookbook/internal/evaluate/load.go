package evaluate

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

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

// tally counts a run's user calls, and keeps when each failure came and
// what it was.
type tally struct {
	calls, failed atomic.Int64
	mu            sync.Mutex
	failures      []failure
	causes        map[codes.Code]*cause
}

// failure is when a failed call started and when its caller saw it fail:
// on a starved machine, seconds apart.
type failure struct{ start, end time.Time }

// cause is one status code's failures: how many, and the first's message.
type cause struct {
	n     int64
	first string
}

// fail counts a call that started at start and failed with err.
func (t *tally) fail(start time.Time, err error) {
	t.failed.Add(1)
	st := status.Convert(err)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, failure{start, time.Now()})
	if t.causes == nil {
		t.causes = map[codes.Code]*cause{}
	}
	c := t.causes[st.Code()]
	if c == nil {
		c = &cause{first: st.Message()}
		t.causes[st.Code()] = c
	}
	c.n++
}

// timedOut counts the calls that failed with DeadlineExceeded.
func (t *tally) timedOut() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.causes[codes.DeadlineExceeded]; c != nil {
		return c.n
	}
	return 0
}

// why says what the failures were, the most frequent code first, each with
// its first message: "Unavailable 12 (first: connection refused)".
func (t *tally) why() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := slices.SortedFunc(maps.Keys(t.causes), func(a, b codes.Code) int {
		return cmp.Or(cmp.Compare(t.causes[b].n, t.causes[a].n), cmp.Compare(a, b))
	})
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d (first: %s)", c, t.causes[c].n, t.causes[c].first)
	}
	return strings.Join(parts, "; ")
}

// sinceKills lists the failed calls that ended after the first of kills
// (in order), each as the seconds from the latest kill before its end to
// its start, and to its end when that came more than a tenth of a second
// later: "-0.01 +0.03 -0.02..+1.41" (a call in flight at a kill starts
// before it).
func (t *tally) sinceKills(kills []time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, f := range t.failures {
		if k, ok := lastKill(kills, f.end); ok {
			fmt.Fprintf(&b, " %+.2f", f.start.Sub(k).Seconds())
			if f.end.Sub(f.start) > 100*time.Millisecond {
				fmt.Fprintf(&b, "..%+.2f", f.end.Sub(k).Seconds())
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// lastKill returns the latest of kills (in order) at or before f.
func lastKill(kills []time.Time, f time.Time) (time.Time, bool) {
	i, found := slices.BinarySearchFunc(kills, f, time.Time.Compare)
	if found {
		i++ // ties go to the kill
	}
	if i == 0 {
		return time.Time{}, false
	}
	return kills[i-1], true
}

// failedAfterKills counts the failed calls that started later than grace
// after the latest of kills (in order) before they failed: not those in
// flight at that kill (started before it, whenever their callers saw them
// fail), nor those picked before the client saw it (started within
// grace).
func (t *tally) failedAfterKills(kills []time.Time, grace time.Duration) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, f := range t.failures {
		if k, ok := lastKill(kills, f.end); ok && f.start.After(k.Add(grace)) {
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
			began := time.Now()
			err := call(ctx)
			if demo.CutShort(ctx, err) {
				return
			}
			t.calls.Add(1)
			if err != nil {
				t.fail(began, err)
			}
		})
	}
}
