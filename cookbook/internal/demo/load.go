package demo

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// UserHeader is the metadata key that carries the sticky user id.
const UserHeader = "x-user-id"

// Load makes a mix of calls at a rate: GetItem (the read-only method that
// shadow traffic copies) most of the time, and PutItem, ListItems,
// CountItems and Echo, each call for one of a fixed set of users.
type Load struct {
	client  demov1.DemoServiceClient
	rate    int
	users   int
	timeout time.Duration
	sem     chan struct{}

	mu  sync.Mutex
	rng *rand.Rand
}

// LoadStats counts the calls of one interval.
type LoadStats struct {
	Calls  int64
	Failed int64
	// FailedSafe counts the failed calls of methods safe to repeat: every
	// kind but PutItem.
	FailedSafe int64
	// Served counts successful calls by the version that served them.
	Served map[string]int64
	// Errors keeps the first few errors of the interval.
	Errors []string
}

func (s *LoadStats) add(version string, safe bool, err error) {
	s.Calls++
	if err != nil {
		s.Failed++
		if safe {
			s.FailedSafe++
		}
		if len(s.Errors) < 3 {
			s.Errors = append(s.Errors, err.Error())
		}
		return
	}
	s.Served[version]++
}

// NewLoad returns a load of rate calls/s on cc, with at most 64 calls in
// flight, a 2 s deadline on each call and a seeded choice of call kinds and
// users.
func NewLoad(cc *grpc.ClientConn, rate int, seed uint64) *Load {
	return &Load{
		client:  demov1.NewDemoServiceClient(cc),
		rate:    rate,
		users:   1000,
		timeout: 2 * time.Second,
		sem:     make(chan struct{}, 64),
		rng:     rand.New(rand.NewPCG(seed, seed+1)),
	}
}

// SetCallTimeout sets the deadline of each call the load makes from now on
// (2 s by default); call it before Interval, not during.
func (l *Load) SetCallTimeout(d time.Duration) { l.timeout = d }

// Interval makes rate×d calls. In real time it spreads them over d;
// otherwise it makes them as fast as the in-flight bound allows. It returns
// when every call it started has ended.
func (l *Load) Interval(ctx context.Context, d time.Duration, realTime bool) LoadStats {
	n := int(float64(l.rate) * d.Seconds())
	stats := LoadStats{Served: map[string]int64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if realTime {
			if wait := time.Until(start.Add(time.Duration(i) * d / time.Duration(n))); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		l.sem <- struct{}{}
		kind, user := l.Next()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-l.sem }()
			v, err := l.Call(ctx, kind, user)
			if CutShort(ctx, err) {
				return // cut short by the run's end: neither served nor failed
			}
			mu.Lock()
			stats.add(v, Safe(kind), err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return stats
}

// CallNext makes one call of the mix, for one of the users, with the
// load's deadline, and returns the version that served it and whether its
// method is safe to repeat.
func (l *Load) CallNext(ctx context.Context) (version string, safe bool, err error) {
	kind, user := l.Next()
	version, err = l.Call(ctx, kind, user)
	return version, Safe(kind), err
}

// CutShort reports whether err is a call's ending by ctx, the run's: a
// call cut short, neither served nor failed.
func CutShort(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && status.Code(err) == status.FromContextError(ctx.Err()).Code()
}

// Next draws the kind (0..99) and the user of a call from the load's
// seeded generator.
func (l *Load) Next() (kind int, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.IntN(100), "user-" + strconv.Itoa(l.rng.IntN(l.users))
}

// isPut reports whether the kind k (0..99) is a PutItem, the one method
// that is not safe to repeat.
func isPut(k int) bool { return k >= 70 && k < 80 }

// Safe reports whether the method of kind k (0..99) is safe to repeat:
// every kind but PutItem.
func Safe(k int) bool { return !isPut(k) }

// Call makes one call of the kind chosen by k (0..99) for user, with the
// load's deadline, and returns the version that served it.
func (l *Load) Call(ctx context.Context, k int, user string) (string, error) {
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, UserHeader, user), l.timeout)
	defer cancel()
	switch {
	case k < 70:
		r, err := l.client.GetItem(ctx, &demov1.GetItemRequest{Id: user})
		return r.GetServedBy().GetVersion(), err
	case isPut(k):
		r, err := l.client.PutItem(ctx, &demov1.PutItemRequest{Item: &demov1.Item{Id: user, Name: "edited"}})
		return r.GetServedBy().GetVersion(), err
	case k < 90:
		s, err := l.client.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 3, Prefix: user})
		if err != nil {
			return "", err
		}
		var v string
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return v, nil
			}
			if err != nil {
				return "", err
			}
			v = m.GetServedBy().GetVersion()
		}
	case k < 95:
		s, err := l.client.CountItems(ctx)
		if err != nil {
			return "", err
		}
		for i := range 3 {
			if err := s.Send(&demov1.CountItemsRequest{Id: strconv.Itoa(i)}); err != nil {
				break // the error comes with CloseAndRecv
			}
		}
		r, err := s.CloseAndRecv()
		return r.GetServedBy().GetVersion(), err
	default:
		s, err := l.client.Echo(ctx)
		if err != nil {
			return "", err
		}
		var v string
		for i := range 2 {
			if err := s.Send(&demov1.EchoRequest{Text: "hello " + strconv.Itoa(i)}); err != nil {
				break
			}
			m, err := s.Recv()
			if err != nil {
				return "", err
			}
			v = m.GetServedBy().GetVersion()
		}
		if err := s.CloseSend(); err != nil {
			return "", err
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			return "", err
		}
		return v, nil
	}
}
