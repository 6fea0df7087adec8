// Package demoserver is the reference implementation of ninelives.demo.v1's
// DemoService, with faults that can be switched while it runs: an error rate,
// added latency, a slow tail, a changed reply field and a hang. Tests and
// recipes start it on loopback and steer it to play a healthy or a broken
// release. Each server also serves the standard health service
// (grpc.health.v1.Health), whose methods carry no idempotency mark: a
// service that shadow traffic may not copy.
package demoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// Faults is what a server does wrong. The zero value is a healthy server.
type Faults struct {
	// ErrorRate is the share of calls, in [0, 1], that fail with Unavailable.
	ErrorRate float64
	// Latency is added to every call before it answers.
	Latency time.Duration
	// PriceDelta is added to every item's price_cents: a changed reply field.
	PriceDelta int64
	// Hang makes every call block until the fault is cleared, the call's
	// context ends or the server stops.
	Hang bool
	// ExtraItems is how many items ListItems streams past the page size,
	// as a server that ignores page_size would.
	ExtraItems int
	// FailAfterItems, when above 0, makes ListItems fail with Unavailable
	// once it has streamed that many items: a stream that breaks midway.
	FailAfterItems int
	// TailRate is the share of calls, in [0, 1], that take TailLatency
	// more than Latency: a slow tail with the median unchanged.
	TailRate    float64
	TailLatency time.Duration
}

// Server is one instance of the demo service.
type Server struct {
	demov1.UnimplementedDemoServiceServer

	version, instance string

	mu      sync.Mutex
	faults  Faults
	rng     *rand.Rand
	release chan struct{} // closed when a hang ends

	calls    sync.Map // method name -> *atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	shadows  atomic.Int64
	accepted atomic.Int64
	entered  chan string

	grpcSrv  *grpc.Server
	lis      net.Listener
	stopped  chan struct{}
	stopOnce sync.Once
	serveWG  sync.WaitGroup
}

// Option configures a Server.
type Option interface{ apply(*Server) }

type optionFunc func(*Server)

func (f optionFunc) apply(s *Server) { f(s) }

// WithFaults sets the faults the server starts with.
func WithFaults(f Faults) Option { return optionFunc(func(s *Server) { s.faults = f }) }

// WithSeed seeds the generator that decides which calls fail, so a run repeats.
func WithSeed(seed uint64) Option {
	return optionFunc(func(s *Server) { s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) })
}

// WithEntered makes the server send the method name of every call it starts
// on ch, without blocking when ch is full. Tests use it to know that a call
// reached the handler.
func WithEntered(ch chan string) Option { return optionFunc(func(s *Server) { s.entered = ch }) }

// New returns a server that answers as the given version and instance.
func New(version, instance string, opts ...Option) *Server {
	s := &Server{
		version:  version,
		instance: instance,
		rng:      rand.New(rand.NewPCG(1, 2)),
		release:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	for _, o := range opts {
		o.apply(s)
	}
	return s
}

// Start listens on addr (use "127.0.0.1:0" for a free loopback port) and serves
// until Stop.
func (s *Server) Start(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ninelives: demoserver: listen %s: %w", addr, err)
	}
	return s.Serve(lis)
}

// Serve serves on lis until Stop; it returns at once.
func (s *Server) Serve(lis net.Listener) error {
	s.lis = &countingListener{Listener: lis, n: &s.accepted}
	s.grpcSrv = grpc.NewServer()
	demov1.RegisterDemoServiceServer(s.grpcSrv, s)
	healthpb.RegisterHealthServer(s.grpcSrv, health.NewServer())
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		_ = s.grpcSrv.Serve(s.lis)
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Version is the version the server answers as.
func (s *Server) Version() string { return s.version }

// Instance is the instance name the server answers as.
func (s *Server) Instance() string { return s.instance }

// Stop ends every call (hung ones too) and closes the listener. Stop is
// idempotent and safe to call concurrently; every call returns once the
// server has stopped.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.stopped)
		if s.grpcSrv != nil {
			s.grpcSrv.Stop()
		}
		s.serveWG.Wait()
	})
}

// SetFaults replaces the server's faults; clearing Hang releases hung calls.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Hang && !f.Hang {
		close(s.release)
		s.release = make(chan struct{})
	}
	s.faults = f
}

// Faults returns the server's current faults.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Calls is how many calls of the method (its short name, such as "GetItem")
// reached the server.
func (s *Server) Calls(method string) int64 {
	if c, ok := s.calls.Load(method); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// TotalCalls is how many calls of any method reached the server.
func (s *Server) TotalCalls() int64 {
	var n int64
	s.calls.Range(func(_, v any) bool { n += v.(*atomic.Int64).Load(); return true })
	return n
}

// ShadowCalls is how many calls carried the shadow marker header.
func (s *Server) ShadowCalls() int64 { return s.shadows.Load() }

// InFlight is the number of calls the server is handling now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// MaxInFlight is the largest number of calls it handled at once.
func (s *Server) MaxInFlight() int64 { return s.maxIn.Load() }

// Accepted is the number of connections the server accepted.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// ShadowHeader is the metadata key that ninelives puts on shadow copies.
const ShadowHeader = "x-ninelives-shadow"

// enter counts a call, applies the faults and returns a function that ends it.
func (s *Server) enter(ctx context.Context, method string) (func(), error) {
	c, _ := s.calls.LoadOrStore(method, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	if IsShadow(ctx) {
		s.shadows.Add(1)
	}
	n := s.inflight.Add(1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	done := func() { s.inflight.Add(-1) }
	if s.entered != nil {
		select {
		case s.entered <- method:
		default:
		}
	}

	s.mu.Lock()
	f := s.faults
	release := s.release
	fail := f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate
	delay := f.Latency
	if f.TailRate > 0 && s.rng.Float64() < f.TailRate {
		delay += f.TailLatency
	}
	s.mu.Unlock()

	if f.Hang {
		select {
		case <-release:
		case <-ctx.Done():
			done()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stopped:
			done()
			return nil, status.Error(codes.Unavailable, "demoserver: stopping")
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if fail {
		done()
		return nil, status.Errorf(codes.Unavailable, "demoserver: injected failure in %s %s", s.version, s.instance)
	}
	return done, nil
}

func (s *Server) servedBy() *demov1.ServedBy {
	return &demov1.ServedBy{Version: s.version, Instance: s.instance}
}

// item is the catalogue's deterministic entry for id, with the price fault.
func (s *Server) item(id string) *demov1.Item {
	var price int64 = 100
	for _, r := range id {
		price = price*31 + int64(r)
	}
	if price < 0 {
		price = -price
	}
	return &demov1.Item{
		Id:         id,
		Name:       "item " + id,
		PriceCents: price%10000 + s.Faults().PriceDelta,
		Tags:       []string{"demo"},
	}
}

// GetItem implements DemoService.
func (s *Server) GetItem(ctx context.Context, req *demov1.GetItemRequest) (*demov1.GetItemResponse, error) {
	done, err := s.enter(ctx, "GetItem")
	if err != nil {
		return nil, err
	}
	defer done()
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "demoserver: id is empty")
	}
	return &demov1.GetItemResponse{Item: s.item(req.GetId()), ServedBy: s.servedBy(), GeneratedAt: timestamppb.Now()}, nil
}

// PutItem implements DemoService.
func (s *Server) PutItem(ctx context.Context, req *demov1.PutItemRequest) (*demov1.PutItemResponse, error) {
	done, err := s.enter(ctx, "PutItem")
	if err != nil {
		return nil, err
	}
	defer done()
	if req.GetItem().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "demoserver: item.id is empty")
	}
	return &demov1.PutItemResponse{Item: req.GetItem(), ServedBy: s.servedBy()}, nil
}

// ListItems implements DemoService.
func (s *Server) ListItems(req *demov1.ListItemsRequest, stream grpc.ServerStreamingServer[demov1.ListItemsResponse]) error {
	done, err := s.enter(stream.Context(), "ListItems")
	if err != nil {
		return err
	}
	defer done()
	n := int(req.GetPageSize())
	if n <= 0 {
		n = 3
	}
	f := s.Faults() // read once the call is in: a hang may end with new faults
	n += f.ExtraItems
	for i := range n {
		id := fmt.Sprintf("%s%d", req.GetPrefix(), i)
		if err := stream.Send(&demov1.ListItemsResponse{Item: s.item(id), ServedBy: s.servedBy()}); err != nil {
			return err
		}
		if i+1 == f.FailAfterItems {
			return status.Errorf(codes.Unavailable, "demoserver: injected failure after %d items in %s %s", i+1, s.version, s.instance)
		}
	}
	return nil
}

// CountItems implements DemoService.
func (s *Server) CountItems(stream grpc.ClientStreamingServer[demov1.CountItemsRequest, demov1.CountItemsResponse]) error {
	done, err := s.enter(stream.Context(), "CountItems")
	if err != nil {
		return err
	}
	defer done()
	var n int64
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&demov1.CountItemsResponse{Count: n, ServedBy: s.servedBy()})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// Echo implements DemoService.
func (s *Server) Echo(stream grpc.BidiStreamingServer[demov1.EchoRequest, demov1.EchoResponse]) error {
	done, err := s.enter(stream.Context(), "Echo")
	if err != nil {
		return err
	}
	defer done()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&demov1.EchoResponse{Text: req.GetText(), ServedBy: s.servedBy()}); err != nil {
			return err
		}
	}
}

// IsShadow reports whether the call carries the ninelives shadow marker.
func IsShadow(ctx context.Context) bool {
	v := metadata.ValueFromIncomingContext(ctx, ShadowHeader)
	return len(v) > 0 && strings.TrimSpace(v[0]) != ""
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
