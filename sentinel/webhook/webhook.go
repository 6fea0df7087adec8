package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
)

// ErrBadConfig is wrapped by New's errors for a bad Config.
var ErrBadConfig = errors.New("ninelives: bad webhook config")

// Config sets up an Alerter.
type Config struct {
	// URL receives a POST with the event as JSON for every alert. It may
	// carry a secret (a token in the query, a user and password): errors
	// and logs show only its scheme, host and path.
	URL string
	// Client sends the requests; default a client with Timeout per attempt.
	Client *http.Client
	// Timeout bounds each attempt (default 5 s).
	Timeout time.Duration
	// Attempts is the most tries per alert (default 4).
	Attempts int
	// Backoff is the wait before the second try, doubled before each next
	// one (default 200 ms).
	Backoff time.Duration
	// Header is added to every request, such as an Authorization header.
	Header http.Header
}

// Alerter POSTs each alert as JSON to a URL (see the package doc for the
// body). It retries on network errors, 429 and 5xx answers with
// exponential backoff, and gives up after its attempts or when the alert's
// context ends.
type Alerter struct {
	cfg  Config
	safe string // the URL as errors show it: scheme://host/path
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Alerter, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// The parser's error repeats the URL, which may hold a secret.
		return nil, config.Errorf(ErrBadConfig, "Config.URL", nil, "not a URL (not shown: it may hold a secret); want an http or https URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, config.Errorf(ErrBadConfig, "Config.URL", redactURL(u), "want an http or https URL with a host")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	switch {
	case cfg.Timeout < 0:
		return nil, config.Errorf(ErrBadConfig, "Config.Timeout", cfg.Timeout, "want > 0")
	case cfg.Attempts < 1:
		return nil, config.Errorf(ErrBadConfig, "Config.Attempts", cfg.Attempts, "want ≥ 1")
	case cfg.Backoff < 0:
		return nil, config.Errorf(ErrBadConfig, "Config.Backoff", cfg.Backoff, "want ≥ 0")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Alerter{cfg: cfg, safe: redactURL(u)}, nil
}

// redactURL is u as logs and errors may show it: its scheme, host and
// path, without the user, password, query and fragment, where webhook
// URLs keep their secrets.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		s += " (user, query and fragment not shown)"
	}
	return s
}

// redactErr replaces the URL that net/http's errors repeat with the
// redacted one.
func (w *Alerter) redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// payload is the JSON body of an alert.
type payload struct {
	Source string         `json:"source"` // always "ninelives"
	Text   string         `json:"text"`   // one line for chat tools
	Event  sentinel.Event `json:"event"`
}

// Alert implements sentinel.Alerter.
func (w *Alerter) Alert(ctx context.Context, e sentinel.Event) error {
	body, err := json.Marshal(payload{
		Source: "ninelives",
		Text:   fmt.Sprintf("ninelives %s (%s, step %d): %s", e.Action, e.Phase, e.Step, e.Reason),
		Event:  e,
	})
	if err != nil {
		return fmt.Errorf("ninelives: webhook: encoding event %d: %w", e.Seq, err)
	}
	wait := w.cfg.Backoff
	var last error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("ninelives: webhook %s: attempt %d of %d: %w", w.safe, attempt, w.cfg.Attempts, w.redactErr(err))
		if !retry || attempt == w.cfg.Attempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then: %v)", last, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
	return last
}

// post sends one attempt; retry says whether another may succeed.
func (w *Alerter) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ninelives-sentinel")
	for k, vs := range w.cfg.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	default:
		return false, fmt.Errorf("answered %s", resp.Status)
	}
}
