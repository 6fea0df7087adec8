package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

// backend is where the rollout is read and controlled: a status API, or a
// fleet in etcd.
type backend interface {
	status(ctx context.Context) (*view, error)
	control(ctx context.Context, c control) (*done, error)
	history(ctx context.Context, n int) ([]sentinel.Event, error)
	// changes signals when the status may have changed (nil: poll).
	changes(ctx context.Context) <-chan struct{}
	close()
}

// view is what status shows: the rollout, its release lifecycle, and for
// a fleet its leader.
type view struct {
	sentinel.Status
	Release *release.Status `json:"release,omitempty"`
	Fleet   *fleetInfo      `json:"fleet,omitempty"`
}

type fleetInfo struct {
	Leader   string    `json:"leader"`
	Term     int64     `json:"term"`
	Tick     uint64    `json:"tick"`
	Time     time.Time `json:"time"`
	Replicas int       `json:"replicas"`
	Failing  int       `json:"failing,omitempty"`
}

// control is a manual control to make.
type control struct {
	action      sentinel.Action
	who, reason string
	weight      *int
}

// done is what a control did.
type done struct {
	Action  sentinel.Action   `json:"action"`
	Who     string            `json:"who"`
	Phase   sentinel.Phase    `json:"phase"`
	Step    int               `json:"step"`
	Weights []balancer.Weight `json:"weights"`
	Event   *sentinel.Event   `json:"event,omitempty"`
	Command *fleet.Command    `json:"command,omitempty"`
}

// backend makes the backend the flags name.
func (s *settings) backend(e env) (backend, error) {
	if s.etcd != "" {
		return newEtcdBackend(s)
	}
	u, err := url.Parse(s.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fail(exitUsage, "--server %q: want an http or https URL such as http://host:8080/rollout", s.server)
	}
	tok, err := s.token(e.getenv)
	if err != nil {
		return nil, err
	}
	return &httpBackend{base: strings.TrimSuffix(s.server, "/"), token: tok, client: &http.Client{Timeout: s.timeout}}, nil
}

// token is the control token: from --token-file, --token or
// NINELIVES_TOKEN, in that order. It is never printed.
func (s *settings) token(getenv func(string) string) (string, error) {
	if s.tokenFile != "" {
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return "", fail(exitUsage, "--token-file: %v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if s.tokenFlag != "" {
		return s.tokenFlag, nil
	}
	return strings.TrimSpace(getenv("NINELIVES_TOKEN")), nil
}

// httpBackend talks to a status page's API (package statuspage).
type httpBackend struct {
	base, token string
	client      *http.Client
}

func (h *httpBackend) close()                                  {}
func (h *httpBackend) changes(context.Context) <-chan struct{} { return nil }

func (h *httpBackend) status(ctx context.Context) (*view, error) {
	var v view
	return &v, h.do(ctx, http.MethodGet, statuspage.RouteStatus, nil, &v)
}

func (h *httpBackend) history(ctx context.Context, n int) ([]sentinel.Event, error) {
	v, err := h.status(ctx)
	if err != nil {
		return nil, err
	}
	return lastN(v.Events, n), nil
}

func (h *httpBackend) control(ctx context.Context, c control) (*done, error) {
	route := map[sentinel.Action]string{sentinel.ActionPause: statuspage.RoutePause, sentinel.ActionResume: statuspage.RouteResume,
		sentinel.ActionPromote: statuspage.RoutePromote, sentinel.ActionAbort: statuspage.RouteAbort,
		sentinel.ActionSetWeights: statuspage.RouteWeights}[c.action]
	var body any = statuspage.ControlRequest{Who: c.who, Reason: c.reason}
	if c.weight != nil {
		body = statuspage.WeightsRequest{Weight: c.weight, Who: c.who, Reason: c.reason}
	}
	var res statuspage.ControlResult
	if err := h.do(ctx, http.MethodPost, route, body, &res); err != nil {
		return nil, err
	}
	return &done{Action: c.action, Who: c.who, Phase: res.Phase, Step: res.Step, Weights: res.Weights, Event: res.Event}, nil
}

// do sends one request and decodes the answer into out, or returns an
// error with its exit code.
func (h *httpBackend) do(ctx context.Context, method, route string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+route, rd)
	if err != nil {
		return fail(exitUsage, "--server %q: %v", h.base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fail(exitUnreachable, "cannot reach the status API at %s: %v", h.base, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fail(exitUnreachable, "reading the answer of %s: %v", h.base+route, err)
	}
	if resp.StatusCode != http.StatusOK {
		return httpError(resp.StatusCode, h.base+route, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fail(exitFailed, "%s answered what is not the status API's JSON (is --server the page's address?): %v", h.base+route, err)
	}
	return nil
}

// unwrapURL drops the *url.Error's repeat of the method and URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// httpError turns an answer other than 200 into an error and exit code.
func httpError(code int, where string, body []byte) error {
	var eb statuspage.ErrorBody
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		msg = strings.TrimPrefix(eb.Error, "ninelives: ")
	}
	switch code {
	case http.StatusUnauthorized:
		return fail(exitUnauthorized, "the status API refused the token (%s): give the control token in NINELIVES_TOKEN, --token-file or --token", msg)
	case http.StatusConflict:
		return fail(exitRefused, "%s", msg)
	case http.StatusNotFound:
		return fail(exitFailed, "no status API at %s (is --server where the page is mounted?): %s", where, msg)
	case http.StatusBadRequest:
		return fail(exitUsage, "%s", msg)
	}
	return fail(exitFailed, "%s answered %d: %s", where, code, msg)
}

func lastN(evs []sentinel.Event, n int) []sentinel.Event {
	if len(evs) > n {
		return evs[len(evs)-n:]
	}
	return evs
}

// etcdBackend talks to a fleet's rollout in etcd.
type etcdBackend struct {
	client    *clientv3.Client
	ctrl      *fleet.Controller
	endpoints string
	prefix    string
}

func newEtcdBackend(s *settings) (*etcdBackend, error) {
	eps := strings.Split(s.etcd, ",")
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: s.timeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fail(exitUsage, "--etcd %q: %v", s.etcd, err)
	}
	ctrl, err := fleet.NewController(c, s.prefix, fleet.WithTimeout(s.timeout), fleet.WithCommandWait(s.timeout))
	if err != nil {
		c.Close()
		return nil, fail(exitUsage, "%v", err)
	}
	return &etcdBackend{client: c, ctrl: ctrl, endpoints: s.etcd, prefix: s.prefix}, nil
}

func (b *etcdBackend) close() { b.client.Close() }

func (b *etcdBackend) status(ctx context.Context) (*view, error) {
	fs, err := b.ctrl.Read(ctx)
	if err != nil {
		return nil, b.etcdError(err)
	}
	v := &view{Status: fs.Sentinel, Release: fs.Release, Fleet: &fleetInfo{Leader: fs.Leader, Term: fs.Term, Tick: fs.Tick, Time: fs.Time,
		Replicas: fs.Source.Replicas, Failing: fs.Source.Failing}}
	if v.Events, err = b.ctrl.History(ctx, 10); err != nil {
		return nil, b.etcdError(err)
	}
	return v, nil
}

func (b *etcdBackend) history(ctx context.Context, n int) ([]sentinel.Event, error) {
	evs, err := b.ctrl.History(ctx, n)
	return evs, b.etcdError(err)
}

func (b *etcdBackend) control(ctx context.Context, c control) (*done, error) {
	cmd, err := b.ctrl.Do(ctx, fleet.Command{Action: c.action, Weight: c.weight, Who: c.who, Reason: c.reason})
	if err != nil {
		return nil, b.etcdError(err)
	}
	d := &done{Action: c.action, Who: c.who, Command: &cmd}
	if fs, err := b.ctrl.Read(ctx); err == nil {
		d.Phase, d.Step, d.Weights = fs.Sentinel.Phase, fs.Sentinel.Step, fs.Sentinel.Weights
	}
	return d, nil
}

// changes signals each write of the fleet's status.
func (b *etcdBackend) changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	wch := b.client.Watch(clientv3.WithRequireLeader(ctx), b.prefix+"/status")
	go func() {
		defer close(ch)
		for range wch {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch
}

// etcdError gives an etcd or fleet error its exit code.
func (b *etcdBackend) etcdError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sentinel.ErrTransition):
		return &exitError{code: exitRefused, err: err}
	case errors.Is(err, fleet.ErrNotApplied):
		return &exitError{code: exitNotApplied, err: err}
	case errors.Is(err, fleet.ErrBadCommand):
		return &exitError{code: exitUsage, err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "connection refused"):
		return fail(exitUnreachable, "cannot reach etcd at %s: %s", b.endpoints, strings.TrimPrefix(err.Error(), "ninelives: "))
	}
	return err
}
