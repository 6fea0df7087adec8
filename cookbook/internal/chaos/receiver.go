package chaos

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/webhook"
)

// Receiver is an alert webhook on loopback. A hanging one takes every
// request and answers none until its sender gives up or it is closed; the
// other answers each at once.
type Receiver struct {
	srv    *http.Server
	url    string
	client *http.Client
	hang   bool
	done   chan struct{}
	once   sync.Once

	// Got counts the requests taken, InFlight those not answered yet.
	Got, InFlight atomic.Int64
}

// NewReceiver starts a receiver on 127.0.0.1.
func NewReceiver(hang bool) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{url: "http://" + ln.Addr().String() + "/alerts", client: &http.Client{}, hang: hang, done: make(chan struct{})}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve)}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.Got.Add(1)
	r.InFlight.Add(1)
	defer r.InFlight.Add(-1)
	if r.hang {
		select {
		case <-req.Context().Done():
		case <-r.done:
		}
	}
}

// Alerter is a webhook alerter to the receiver, with the webhook's
// default attempts and timeouts.
func (r *Receiver) Alerter() (sentinel.Alerter, error) {
	return webhook.New(webhook.Config{URL: r.url, Client: r.client})
}

// Close answers the requests held and stops the receiver.
func (r *Receiver) Close() {
	r.once.Do(func() {
		close(r.done)
		if err := r.srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = r.srv.Close()
		}
		r.client.CloseIdleConnections()
	})
}
