package promsource

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/telemetry"
)

const names = `__name__=~"ninelives_rpc_calls_total|ninelives_rpc_duration_seconds_bucket|ninelives_rpc_duration_seconds_sum|ninelives_shadow_comparisons_total|ninelives_split_fallbacks_total|ninelives_rpc_unanswered_total"`

func TestNewSourceRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []Option
		want string
	}{
		{"no scheme", "prometheus:9090", nil, `promURL = "prometheus:9090": scheme "prometheus", want http or https`},
		{"ftp", "ftp://prometheus", nil, `promURL = "ftp://prometheus": scheme "ftp", want http or https`},
		{"no host", "http:///api", nil, `promURL = "http:///api": no host`},
		{"unparsable", "http://[::1", nil, `promURL = "http://[::1": parse "http://[::1": missing ']' in host`},
		{"query", "http://p:9090/?x=1", nil, `promURL = "http://p:9090/?x=1": want no query or fragment`},
		{"timeout", "http://p:9090", []Option{WithTimeout(0)}, "WithTimeout = 0s: want more than 0"},
		{"scrape timeout", "http://p:9090", []Option{WithScrapeTimeout(-time.Second)}, "WithScrapeTimeout = -1s: want 0 or more"},
		{"client", "http://p:9090", []Option{WithHTTPClient(nil)}, "WithHTTPClient: the client is nil"},
		{"header name", "http://p:9090", []Option{WithHeader("X Tenant", "a")}, `WithHeader = "X Tenant": not a valid HTTP header name`},
		{"header value", "http://p:9090", []Option{WithHeader("X-Tenant", "a\r\nb")}, `WithHeader("X-Tenant"): the value holds a line break or NUL`},
		{"code", "http://p:9090", []Option{WithErrorCodes(codes.Internal, 17)}, "WithErrorCodes[1] = 17: not a gRPC status code (0..16)"},
		{"clock", "http://p:9090", []Option{WithClock(nil)}, "WithClock: the clock is nil"},
		{"selector", "http://p:9090", []Option{WithSelector(`job=orders`)}, `WithSelector = "job=orders": label job: value at byte 4: want a quoted value, have "orders"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewSource(tt.url, tt.opts...)
			assert.Nil(t, src)
			assert.EqualError(t, err, "ninelives: bad Prometheus source config: "+tt.want)
			assert.ErrorIs(t, err, ErrBadConfig)
		})
	}
}

func TestWithSelector(t *testing.T) {
	good := []struct{ in, want string }{
		{`job="orders-client"`, `job="orders-client"`},
		{`{job="orders-client"}`, `job="orders-client"`},
		{` job = "a" , env != 'dev', ns=~"shop|orders",  pod!~` + "`canary-.*`" + `, `, `job="a",env!="dev",ns=~"shop|orders",pod!~"canary-.*"`},
		{`team="say \"hi\"\n"`, `team="say \"hi\"\n"`},
		{`team='it\'s'`, `team="it's"`},
		{`_x1=""`, `_x1=""`},
	}
	for _, g := range good {
		src, err := NewSource("http://p:9090", WithSelector(g.in))
		require.NoError(t, err, g.in)
		assert.Equal(t, "{"+names+","+g.want+"}", src.selector, g.in)
	}
	src, err := NewSource("http://p:9090", WithSelector(`job="a"`), WithSelector(`env="prod"`))
	require.NoError(t, err)
	assert.Equal(t, "{"+names+`,job="a",env="prod"}`, src.selector, "selectors add up")

	bad := []struct{ in, want string }{
		{``, "no label matcher"},
		{`{}`, "no label matcher"},
		{`1job="a"`, `want a label name at byte 0, have "1job=\"a\""`},
		{`job`, "label job: want an operator"},
		{`job=="a"`, `label job: value at byte 4: want a quoted value, have "=\"a\""`},
		{`job="a`, "the quote \" is not closed"},
		{"job=`a", "the backquote is not closed"},
		{`job="a\q"`, `bad escape`},
		{`job="a" env="b"`, "want a comma or the end after label job"},
		{`job=~"(a"`, `label job: regular expression "(a"`},
		{`__name__="up"`, "__name__"},
		{"job=\"a\nb\"", "line break"},
	}
	for _, b := range bad {
		_, err := NewSource("http://p:9090", WithSelector(b.in))
		require.Error(t, err, b.in)
		assert.Contains(t, err.Error(), b.want, b.in)
		assert.Contains(t, err.Error(), "ninelives: bad Prometheus source config: WithSelector = ", b.in)
	}
}

func TestDefaults(t *testing.T) {
	src, err := NewSource("https://prometheus.example/prom/")
	require.NoError(t, err)
	defer src.Close()
	assert.Equal(t, "{"+names+"}", src.selector)
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		want := false
		for _, e := range telemetry.DefaultErrorCodes {
			want = want || e == c
		}
		assert.Equal(t, want, src.cfg.errorCodes.Has(c), "code %v", c)
	}
	assert.False(t, src.cfg.errorCodes.Has(99))

	src, err = NewSource("http://p:9090", WithErrorCodes(codes.InvalidArgument),
		WithHTTPClient(&http.Client{}), WithHeader("X-Scope-OrgID", "team-a"))
	require.NoError(t, err)
	src.Close() // a client given by the user is left alone
	assert.True(t, src.cfg.errorCodes.Has(codes.InvalidArgument))
	assert.False(t, src.cfg.errorCodes.Has(codes.Unavailable))
}
