package promtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Target is a loopback address that Prometheus scrapes, serving whatever
// handler is set on it: it lets a server started once scrape the metrics of
// clients made later, and a client's restart be played by a new handler on
// the same address. With no handler it serves an empty page of metrics.
type Target struct {
	l   net.Listener
	srv *http.Server
	h   atomic.Pointer[http.Handler]
	err chan error

	mu      sync.Mutex
	served  int           // scrapes answered
	scraped chan struct{} // closed and replaced at each scrape
}

// NewTarget listens on a free 127.0.0.1 port.
func NewTarget() (*Target, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ninelives: promtest: listening for a target: %w", err)
	}
	t := &Target{l: l, err: make(chan error, 1), scraped: make(chan struct{})}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { t.err <- t.srv.Serve(l) }()
	return t, nil
}

func (t *Target) serve(w http.ResponseWriter, r *http.Request) {
	defer t.count()
	if h := t.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
}

func (t *Target) count() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.served++
	close(t.scraped)
	t.scraped = make(chan struct{})
}

// WaitScrapesAfterNow waits until Prometheus has finished two scrapes of
// the target that began after the call, or ctx ends. Prometheus stamps a
// scrape's samples with the time the scrape began, so a scrape already in
// flight may hold figures newer than its time stamp; after this, every
// later scrape began after the call.
func (t *Target) WaitScrapesAfterNow(ctx context.Context) error {
	t.mu.Lock()
	want := t.served + 2
	t.mu.Unlock()
	for {
		t.mu.Lock()
		n, ch := t.served, t.scraped
		t.mu.Unlock()
		if n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ninelives: promtest: target %s: waiting for two scrapes: %w", t.Addr(), ctx.Err())
		case <-ch:
		}
	}
}

// Addr is the target's host:port.
func (t *Target) Addr() string { return t.l.Addr().String() }

// Set makes the target serve h from the next request on; nil serves an
// empty page again.
func (t *Target) Set(h http.Handler) {
	if h == nil {
		t.h.Store(nil)
		return
	}
	t.h.Store(&h)
}

// Close stops serving and waits for the server to end.
func (t *Target) Close() error {
	err := t.srv.Close()
	if serr := <-t.err; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
