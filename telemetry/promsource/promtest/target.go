package promtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
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
}

// NewTarget listens on a free 127.0.0.1 port.
func NewTarget() (*Target, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ninelives: promtest: listening for a target: %w", err)
	}
	t := &Target{l: l, err: make(chan error, 1)}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { t.err <- t.srv.Serve(l) }()
	return t, nil
}

func (t *Target) serve(w http.ResponseWriter, r *http.Request) {
	if h := t.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
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
