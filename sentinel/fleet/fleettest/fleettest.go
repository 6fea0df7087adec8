package fleettest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Server is one embedded etcd member.
type Server struct {
	name, dir        string
	client, peer     string // URLs the member listens on
	relay, peerRelay *relay // what clients and the other members dial
	initialCluster   string
	token            string
	mu               sync.Mutex
	etcd             *embed.Etcd
	started          bool
}

// Start starts a one-member cluster with its data under dir.
func Start(dir string) (*Server, error) {
	s, err := StartCluster(dir, 1)
	if err != nil {
		return nil, err
	}
	return s[0], nil
}

// StartCluster starts an n-member cluster, each member's data in a
// directory under dir, and waits until every member is ready.
func StartCluster(dir string, n int) ([]*Server, error) {
	if n < 1 {
		return nil, fmt.Errorf("ninelives: cluster of %d members, want at least 1", n)
	}
	ports, err := freePorts(4 * n)
	if err != nil {
		return nil, err
	}
	members := make([]*Server, n)
	var peers []string
	for i := range members {
		name := fmt.Sprintf("m%d", i)
		members[i] = &Server{
			name:      name,
			dir:       filepath.Join(dir, name),
			client:    fmt.Sprintf("http://127.0.0.1:%d", ports[4*i]),
			peer:      fmt.Sprintf("http://127.0.0.1:%d", ports[4*i+1]),
			relay:     &relay{addr: fmt.Sprintf("127.0.0.1:%d", ports[4*i+2]), to: fmt.Sprintf("127.0.0.1:%d", ports[4*i])},
			peerRelay: &relay{addr: fmt.Sprintf("127.0.0.1:%d", ports[4*i+3]), to: fmt.Sprintf("127.0.0.1:%d", ports[4*i+1])},
			token:     fmt.Sprintf("ninelives-%d", ports[0]),
		}
		peers = append(peers, name+"=http://"+members[i].peerRelay.addr)
	}
	for _, m := range members {
		m.initialCluster = strings.Join(peers, ",")
	}
	// Members of a new cluster wait for each other: start them together.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { errs[i] = m.Restart() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, m := range members {
			m.Stop()
		}
		return nil, err
	}
	return members, nil
}

// Endpoint is the member's client URL (its relay's).
func (s *Server) Endpoint() string { return "http://" + s.relay.addr }

// Name is the member's name.
func (s *Server) Name() string { return s.name }

// Endpoints returns the client URLs of members.
func Endpoints(members []*Server) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.Endpoint()
	}
	return out
}

// Restart starts the member, again if it was stopped: same name, ports and
// data. It returns once the member is ready to serve (for a new cluster:
// once enough members are up to elect a leader).
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd != nil {
		return nil
	}
	cfg := embed.NewConfig()
	cfg.Name = s.name
	cfg.Dir = s.dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.UnsafeNoFsync = true
	cfg.InitialCluster = s.initialCluster
	cfg.InitialClusterToken = s.token
	if s.started {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cu, _ := url.Parse(s.client)
	pu, _ := url.Parse(s.peer)
	ru, _ := url.Parse("http://" + s.relay.addr)
	pru, _ := url.Parse("http://" + s.peerRelay.addr)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*ru}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pru}
	// The members of a new cluster must reach each other before any is
	// ready: open the peer relay first.
	if err := s.peerRelay.open(); err != nil {
		return err
	}
	cfg.ListenMetricsUrls = nil
	cfg.Metrics = "basic"
	fail := func(e *embed.Etcd, err error) error {
		s.peerRelay.cut()
		if e != nil {
			e.Close()
		}
		return err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fail(nil, fmt.Errorf("ninelives: starting etcd member %s: %w", s.name, err))
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fail(e, fmt.Errorf("ninelives: etcd member %s failed: %w", s.name, err))
	case <-time.After(30 * time.Second):
		return fail(e, fmt.Errorf("ninelives: etcd member %s not ready after 30 s", s.name))
	}
	if err := s.relay.open(); err != nil {
		return fail(e, err)
	}
	s.etcd, s.started = e, true
	return nil
}

// Stop stops the member and waits until it has let go of everything; its
// data stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd == nil {
		return
	}
	s.relay.cut()
	s.peerRelay.cut()
	s.etcd.Close()
	s.etcd = nil
}

// Running reports whether the member is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etcd != nil
}

// IsLeader reports whether the member is running and leads the cluster's
// raft group.
func (s *Server) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etcd != nil && s.etcd.Server.Leader() == s.etcd.Server.MemberID()
}

// Revision returns the member's current store revision: each write
// (a put, a delete or a transaction that writes) adds one.
func (s *Server) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd == nil {
		return 0
	}
	return s.etcd.Server.KV().Rev()
}

// Client returns a client of the endpoints that logs nothing and, when a
// member comes back, reconnects within a fifth of a second (gRPC's default
// backoff grows to two minutes).
func Client(endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})},
	})
}

// freePorts returns n ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("ninelives: finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// relay forwards a member's client connections, so that they can all be cut
// at once.
type relay struct {
	addr, to string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func (r *relay) open() error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return fmt.Errorf("ninelives: relay to etcd on %s: %w", r.addr, err)
	}
	r.mu.Lock()
	r.ln, r.conns = ln, map[net.Conn]bool{}
	r.mu.Unlock()
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", r.to)
			if err != nil {
				c.Close()
				continue
			}
			if !r.track(c, up) {
				return
			}
			r.wg.Go(func() { io.Copy(up, c); r.drop(c, up) })
			r.wg.Go(func() { io.Copy(c, up); r.drop(c, up) })
		}
	})
	return nil
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *relay) drop(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(r.conns, c)
	}
}

// cut closes the listener and every connection, and waits for the relay's
// goroutines.
func (r *relay) cut() {
	r.mu.Lock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
