package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

// alertLog is the live view's alert lines, and the alerts of the run.
type alertLog struct {
	mu     sync.Mutex
	events []sentinel.Event
	out    io.Writer
}

func (a *alertLog) Alert(_ context.Context, e sentinel.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	fmt.Fprintf(a.out, "  ALERT  %s: %s\n", e.Action, e.Reason)
	return nil
}

func (a *alertLog) all() []sentinel.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sentinel.Event(nil), a.events...)
}

// serve serves the client's metrics at Options.MetricsAddr and the
// rollout's status page at Options.StatusAddr, when they are set.
func (d *Demo) serve(c Client) error {
	out := d.opts.Out
	if d.opts.MetricsAddr != "" && c.Metrics != nil {
		addr, err := d.listen(d.opts.MetricsAddr, c.Metrics, "/metrics")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Prometheus metrics: http://%s/metrics\n", addr)
	}
	if d.opts.StatusAddr == "" {
		return nil
	}
	// A fresh control token per run, from crypto/rand: the page asks for it
	// before it pauses, resumes, promotes or aborts.
	token := statuspage.NewToken()
	h, err := statuspage.New(c.Sentinel, token, statuspage.WithShadow(c.Shadow),
		statuspage.WithTitle("ninelives "+d.rc.Name+" recipe: "+d.rc.Baseline+" → "+d.rc.Candidate))
	if err != nil {
		return err
	}
	addr, err := d.listen(d.opts.StatusAddr, h, "/")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Rollout status: http://%s/\n", addr)
	fmt.Fprintf(out, "Control token (pause, resume, promote, abort): %s\n", token)
	return nil
}

// listen serves h at path on addr until Stop, and returns the address it
// listens on.
func (d *Demo) listen(addr string, h http.Handler, path string) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ninelives: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.http = append(d.http, s)
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("ninelives: http server", "addr", addr, "error", err)
		}
	}()
	return lis.Addr().String(), nil
}
