package promsource

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/internal/errcodes"
)

// ErrBadConfig is the kind of the errors NewSource returns for a bad URL or
// option: errors.Is(err, ErrBadConfig) holds for them.
var ErrBadConfig = errors.New("ninelives: bad Prometheus source config")

// Defaults of the options.
const (
	// defaultTimeout bounds each query of a Collect, HTTP round trip and
	// Prometheus' evaluation both.
	defaultTimeout = 5 * time.Second
	// defaultScrapeTimeout is Prometheus' own default scrape_timeout.
	defaultScrapeTimeout = 10 * time.Second
)

// Option configures NewSource.
type Option interface{ apply(*settings) }

type optionFunc func(*settings)

func (f optionFunc) apply(c *settings) { f(c) }

type settings struct {
	matchers      []matcher
	timeout       time.Duration
	scrapeTimeout time.Duration
	client        *http.Client
	header        http.Header
	errorCodes    errcodes.Set
	now           func() time.Time
	errs          []error
}

func newSettings(opts []Option) (settings, error) {
	c := settings{
		timeout:       defaultTimeout,
		scrapeTimeout: defaultScrapeTimeout,
		header:        http.Header{},
		now:           time.Now,
	}
	c.errorCodes, _ = errcodes.New(nil, "", telemetry.DefaultErrorCodes)
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
	return optionFunc(func(c *settings) {
		ms, err := parseSelector(matchers)
		if err != nil {
			c.errs = append(c.errs, &config.Error{Kind: ErrBadConfig, Field: "WithSelector", Value: matchers, Err: err})
			return
		}
		c.matchers = append(c.matchers, ms...)
	})
}

// WithTimeout bounds each query (default 5 s): the HTTP round
// trip, and Prometheus' evaluation through the query's timeout parameter.
// A Collect makes one query, two the first time.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *settings) {
		if d <= 0 {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithTimeout", d, "want more than 0"))
			return
		}
		c.timeout = d
	})
}

// WithScrapeTimeout is the longest a scrape of the clients takes, their
// jobs' scrape_timeout (default 10 s, Prometheus' own default). A scrape's samples carry the time the scrape started but are
// stored when it ends, so each Collect reads this much of the past again and
// counts the samples it has not counted yet. Any clock skew between this
// process and Prometheus should fit in it too. Zero is allowed: samples that
// arrive late are then missed.
func WithScrapeTimeout(d time.Duration) Option {
	return optionFunc(func(c *settings) {
		if d < 0 {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithScrapeTimeout", d, "want 0 or more"))
			return
		}
		c.scrapeTimeout = d
	})
}

// WithHTTPClient sets the client of the queries, for TLS or a proxy (default:
// a client of the source's own, whose idle connections Close releases).
func WithHTTPClient(client *http.Client) Option {
	return optionFunc(func(c *settings) {
		if client == nil {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithHTTPClient", nil, "the client is nil"))
			return
		}
		c.client = client
	})
}

// WithHeader adds a header to every query, such as Authorization or a
// tenant's X-Scope-OrgID.
func WithHeader(key, value string) Option {
	return optionFunc(func(c *settings) {
		if key == "" || !validHeaderName(key) {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithHeader", key, "not a valid HTTP header name"))
			return
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, fmt.Sprintf("WithHeader(%q)", key), nil, "the value holds a line break or NUL"))
			return
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
	return optionFunc(func(c *settings) {
		e, err := errcodes.New(ErrBadConfig, "WithErrorCodes", cs)
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
	return optionFunc(func(c *settings) {
		if now == nil {
			c.errs = append(c.errs, config.Errorf(ErrBadConfig, "WithClock", nil, "the clock is nil"))
			return
		}
		c.now = now
	})
}
