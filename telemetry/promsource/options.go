package promsource

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/telemetry"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds each query of a Collect, HTTP round trip and
	// Prometheus' evaluation both.
	DefaultTimeout = 5 * time.Second
	// DefaultScrapeTimeout is Prometheus' own default scrape_timeout.
	DefaultScrapeTimeout = 10 * time.Second
)

// Option configures NewSource.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	matchers      []matcher
	timeout       time.Duration
	scrapeTimeout time.Duration
	client        *http.Client
	header        http.Header
	errorCodes    telemetry.ErrorCodes
	now           func() time.Time
	errs          []error
}

func newConfig(opts []Option) (config, error) {
	c := config{
		timeout:       DefaultTimeout,
		scrapeTimeout: DefaultScrapeTimeout,
		header:        http.Header{},
		now:           time.Now,
	}
	c.errorCodes, _ = telemetry.NewErrorCodes(telemetry.DefaultErrorCodes...)
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c, errors.Join(c.errs...)
}

// WithSelector scopes every query to the series that match the label
// matchers, written as inside a PromQL selector's braces, such as
// `job="orders-client", env!="dev"` or `namespace=~"shop|orders"`. It is
// how a team reads one service's clients out of a shared Prometheus. The
// matchers are checked here (label names, operators =, !=, =~ and !~,
// quoted values, regular expressions); __name__ is ninelives' to set.
// Several WithSelector options add up.
func WithSelector(matchers string) Option {
	return optionFunc(func(c *config) {
		ms, err := parseSelector(matchers)
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("ninelives: WithSelector(%q): %w", matchers, err))
			return
		}
		c.matchers = append(c.matchers, ms...)
	})
}

// WithTimeout bounds each query (default DefaultTimeout): the HTTP round
// trip, and Prometheus' evaluation through the query's timeout parameter.
// A Collect makes one query, two the first time.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("ninelives: WithTimeout: timeout %v, want more than 0", d))
			return
		}
		c.timeout = d
	})
}

// WithScrapeTimeout is the longest a scrape of the clients takes, their
// jobs' scrape_timeout (default DefaultScrapeTimeout, Prometheus' own
// default). A scrape's samples carry the time the scrape started but are
// stored when it ends, so each Collect reads this much of the past again and
// counts the samples it has not counted yet. Any clock skew between this
// process and Prometheus should fit in it too. Zero is allowed: samples that
// arrive late are then missed.
func WithScrapeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < 0 {
			c.errs = append(c.errs, fmt.Errorf("ninelives: WithScrapeTimeout: timeout %v, want 0 or more", d))
			return
		}
		c.scrapeTimeout = d
	})
}

// WithHTTPClient sets the client of the queries, for TLS or a proxy (default:
// a client of the source's own, whose idle connections Close releases).
func WithHTTPClient(client *http.Client) Option {
	return optionFunc(func(c *config) {
		if client == nil {
			c.errs = append(c.errs, errors.New("ninelives: WithHTTPClient: the client is nil"))
			return
		}
		c.client = client
	})
}

// WithHeader adds a header to every query, such as Authorization or a
// tenant's X-Scope-OrgID.
func WithHeader(key, value string) Option {
	return optionFunc(func(c *config) {
		if key == "" || !validHeaderName(key) {
			c.errs = append(c.errs, fmt.Errorf("ninelives: WithHeader: header name %q is not a valid HTTP header name", key))
			return
		}
		for _, r := range value {
			if r == '\r' || r == '\n' || r == 0 {
				c.errs = append(c.errs, fmt.Errorf("ninelives: WithHeader(%q): the value holds a line break or NUL", key))
				return
			}
		}
		c.header.Add(textproto.CanonicalMIMEHeaderKey(key), value)
	})
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b < 0x80 && (b == '!' || b == '#' || b == '$' || b == '%' || b == '&' || b == '\'' || b == '*' ||
			b == '+' || b == '-' || b == '.' || b == '^' || b == '_' || b == '`' || b == '|' || b == '~'):
		default:
			return false
		}
	}
	return true
}

// WithErrorCodes sets the status codes that count as errors in a window's
// RoleStats.Errors (default telemetry.DefaultErrorCodes, as the telemetry
// Source counts them). Every code is still counted in RoleStats.Codes.
func WithErrorCodes(cs ...codes.Code) Option {
	return optionFunc(func(c *config) {
		e, err := telemetry.NewErrorCodes(cs...)
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.errorCodes = e
	})
}

// WithClock sets the clock that places the windows (default time.Now). The
// queries evaluate at its times, so it must agree with Prometheus' clock
// (within the scrape timeout): it is for tests that need to know the
// windows' bounds, not for a fake clock.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now == nil {
			c.errs = append(c.errs, errors.New("ninelives: WithClock: the clock is nil"))
			return
		}
		c.now = now
	})
}
