//go:build unix

package balancer_test

import (
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/attributes"
	gbalancer "google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/serviceconfig"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
)

// readyClock is carried in the resolver state to the readyWatch policy of
// one channel: it counts the SubConns that have reached READY and notes the
// time of the first picker published once all n have.
type readyClock struct {
	n     int64
	ready atomic.Int64
	once  sync.Once
	done  chan time.Time
}

type readyClockKey struct{}

// readyWatch wraps a policy (round_robin or ninelives_split) to time how
// long a new channel takes until every endpoint is READY.
type readyWatch struct {
	name  string
	child gbalancer.Builder
}

func (w readyWatch) Name() string { return w.name }

func (w readyWatch) Build(cc gbalancer.ClientConn, opts gbalancer.BuildOptions) gbalancer.Balancer {
	wcc := &readyWatchCC{ClientConn: cc}
	return &readyWatchLB{Balancer: w.child.Build(wcc, opts), cc: wcc}
}

func (w readyWatch) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	if p, ok := w.child.(gbalancer.ConfigParser); ok {
		return p.ParseConfig(js)
	}
	return nil, nil
}

type readyWatchLB struct {
	gbalancer.Balancer
	cc *readyWatchCC
}

func (l *readyWatchLB) UpdateClientConnState(s gbalancer.ClientConnState) error {
	l.cc.clock.Store(s.ResolverState.Attributes.Value(readyClockKey{}).(*readyClock))
	return l.Balancer.UpdateClientConnState(s)
}

type readyWatchCC struct {
	gbalancer.ClientConn
	clock atomic.Pointer[readyClock]
}

func (c *readyWatchCC) NewSubConn(addrs []resolver.Address, opts gbalancer.NewSubConnOptions) (gbalancer.SubConn, error) {
	clock, listener := c.clock.Load(), opts.StateListener
	var seen atomic.Bool
	opts.StateListener = func(s gbalancer.SubConnState) {
		if s.ConnectivityState == connectivity.Ready && seen.CompareAndSwap(false, true) {
			clock.ready.Add(1)
		}
		listener(s)
	}
	return c.ClientConn.NewSubConn(addrs, opts)
}

func (c *readyWatchCC) UpdateState(s gbalancer.State) {
	c.ClientConn.UpdateState(s)
	if clock := c.clock.Load(); s.ConnectivityState == connectivity.Ready && clock.ready.Load() >= clock.n {
		clock.once.Do(func() { clock.done <- time.Now() })
	}
}

func init() {
	gbalancer.Register(readyWatch{name: "ready_round_robin", child: gbalancer.Get(roundrobin.Name)})
	gbalancer.Register(readyWatch{name: "ready_ninelives_split", child: gbalancer.Get(Name)})
}

// servers is n listeners on 127.0.0.1:0 served by one gRPC server, with a
// count of the connections open on them.
type servers struct {
	srv   *grpc.Server
	addrs []string
	open  atomic.Int64
}

func startServers(b *testing.B, n int) *servers {
	s := &servers{srv: grpc.NewServer()}
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.srv.Stop()
			b.Fatal(err)
		}
		s.addrs = append(s.addrs, lis.Addr().String())
		go s.srv.Serve(countingListener{lis, &s.open}) //nolint:errcheck // ends with Stop
	}
	b.Cleanup(s.srv.Stop)
	return s
}

type countingListener struct {
	net.Listener
	open *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// took is the time a channel took until every endpoint was READY, and the
// CPU time the process spent meanwhile (clients and servers): the CPU time
// moves less than the wall time when other programs load the machine.
type took struct{ wall, cpu time.Duration }

// timeToReady dials a new channel over the servers with the policy and
// returns how long it took until every endpoint was READY. The channel is
// closed, and its connections gone from the servers, when it returns.
func (s *servers) timeToReady(b *testing.B, policy, cfg string) took {
	split := policy == "ready_ninelives_split"
	clock := &readyClock{n: int64(len(s.addrs)), done: make(chan time.Time, 1)}
	eps := make([]resolver.Endpoint, len(s.addrs))
	for i, a := range s.addrs {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}}
		if split {
			eps[i] = SetVersion(eps[i], []string{"stable", "canary"}[i%2])
		}
	}
	r := manual.NewBuilderWithScheme("nlready")
	r.InitialState(resolver.State{Endpoints: eps, Attributes: attributes.New(readyClockKey{}, clock)})
	cc, err := grpc.NewClient("nlready:///fleet", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+policy+`":`+cfg+`}]}`))
	if err != nil {
		b.Fatal(err)
	}
	start, cpu0 := time.Now(), cpuTime()
	cc.Connect()
	var end time.Time
	select {
	case end = <-clock.done:
	case <-time.After(3 * time.Minute):
		b.Fatalf("%s: %d of %d endpoints READY after 3 minutes", policy, clock.ready.Load(), clock.n)
	}
	t := took{wall: end.Sub(start), cpu: cpuTime() - cpu0}
	cc.Close()
	s.waitClosed(b)
	runtime.GC() // the channel's garbage is not left to the next one
	return t
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	t, _ := demotest.CPUTime()
	return t
}

// waitClosed waits until the servers have no connection open, so the next
// channel starts from the same place (and the process within its files).
func (s *servers) waitClosed(b *testing.B) {
	deadline := time.Now().Add(time.Minute)
	for s.open.Load() > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d connections still open a minute after Close", s.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkReadyAtScale measures how long a new channel takes until every
// one of n endpoints on loopback is READY, round_robin beside
// ninelives_split (two versions, half the endpoints each, labelled by the
// resolver). Each op is one paired round: a channel of each policy, one
// after the other, the first of the pair alternating. The times are
// medians over the rounds; the ratios are medians of each round's ratio, of
// the wall time and of the process's CPU time, so a round that a burst of
// background load slowed moves them little. It needs about
// 3n open files (a listener, a server and a client connection per
// endpoint).
func BenchmarkReadyAtScale(b *testing.B) {
	split := `{"versions":[{"name":"stable","weight":9000},{"name":"canary","weight":1000}]}`
	for _, n := range []int{1000, 2000, 5000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			s := startServers(b, n)
			var rr, nl []took
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					rr = append(rr, s.timeToReady(b, "ready_round_robin", "{}"))
					nl = append(nl, s.timeToReady(b, "ready_ninelives_split", split))
				} else {
					nl = append(nl, s.timeToReady(b, "ready_ninelives_split", split))
					rr = append(rr, s.timeToReady(b, "ready_round_robin", "{}"))
				}
			}
			b.ReportMetric(medianOf(rr, func(t took) time.Duration { return t.wall }).Seconds(), "round_robin-s")
			b.ReportMetric(medianOf(nl, func(t took) time.Duration { return t.wall }).Seconds(), "ninelives_split-s")
			b.ReportMetric(medianRatio(nl, rr, func(t took) time.Duration { return t.wall }), "ninelives_split/round_robin")
			b.ReportMetric(medianRatio(nl, rr, func(t took) time.Duration { return t.cpu }), "cpu-ninelives_split/round_robin")
		})
	}
}

// medianOf is the median of f over ts.
func medianOf(ts []took, f func(took) time.Duration) time.Duration {
	d := make([]time.Duration, len(ts))
	for i, t := range ts {
		d[i] = f(t)
	}
	slices.Sort(d)
	return (d[(len(d)-1)/2] + d[len(d)/2]) / 2
}

// medianRatio is the median over the rounds of f(a)/f(b).
func medianRatio(a, b []took, f func(took) time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = f(a[i]).Seconds() / f(b[i]).Seconds()
	}
	slices.Sort(r)
	return (r[(len(r)-1)/2] + r[len(r)/2]) / 2
}
