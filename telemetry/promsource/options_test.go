package promsource_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/telemetry"
	"github.com/ninelives-go/ninelives/telemetry/promsource"
)

const names = `__name__=~"ninelives_rpc_calls_total|ninelives_rpc_duration_seconds_bucket|ninelives_rpc_duration_seconds_sum|ninelives_shadow_comparisons_total|ninelives_shadow_dropped_total|ninelives_split_weight|ninelives_split_fallbacks_total|ninelives_sentinel_decisions_total"`

func TestNewSourceRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []promsource.Option
		want string
	}{
		{"no scheme", "prometheus:9090", nil, `Prometheus URL "prometheus:9090": scheme "prometheus", want http or https`},
		{"ftp", "ftp://prometheus", nil, `scheme "ftp", want http or https`},
		{"no host", "http:///api", nil, `Prometheus URL "http:///api" has no host`},
		{"unparsable", "http://[::1", nil, `Prometheus URL "http://[::1"`},
		{"query", "http://p:9090/?x=1", nil, `want no query or fragment`},
		{"timeout", "http://p:9090", []promsource.Option{promsource.WithTimeout(0)}, "WithTimeout: timeout 0s, want more than 0"},
		{"scrape timeout", "http://p:9090", []promsource.Option{promsource.WithScrapeTimeout(-time.Second)}, "WithScrapeTimeout: timeout -1s, want 0 or more"},
		{"client", "http://p:9090", []promsource.Option{promsource.WithHTTPClient(nil)}, "WithHTTPClient: the client is nil"},
		{"header name", "http://p:9090", []promsource.Option{promsource.WithHeader("X Tenant", "a")}, `WithHeader: header name "X Tenant" is not a valid HTTP header name`},
		{"header value", "http://p:9090", []promsource.Option{promsource.WithHeader("X-Tenant", "a\r\nb")}, `WithHeader("X-Tenant"): the value holds a line break`},
		{"code", "http://p:9090", []promsource.Option{promsource.WithErrorCodes(codes.Internal, 17)}, "WithErrorCodes: codes[1] = 17 is not a gRPC status code (0..16)"},
		{"clock", "http://p:9090", []promsource.Option{promsource.WithClock(nil)}, "WithClock: the clock is nil"},
		{"selector", "http://p:9090", []promsource.Option{promsource.WithSelector(`job=orders`)}, `WithSelector("job=orders"): label job: value at byte 4: want a quoted value, have "orders"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := promsource.NewSource(tt.url, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, src)
			assert.Contains(t, err.Error(), tt.want)
			assert.Regexp(t, "^ninelives: ", err.Error())
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
		src, err := promsource.NewSource("http://p:9090", promsource.WithSelector(g.in))
		require.NoError(t, err, g.in)
		assert.Equal(t, "{"+names+","+g.want+"}", src.Selector(), g.in)
	}
	src, err := promsource.NewSource("http://p:9090", promsource.WithSelector(`job="a"`), promsource.WithSelector(`env="prod"`))
	require.NoError(t, err)
	assert.Equal(t, "{"+names+`,job="a",env="prod"}`, src.Selector(), "selectors add up")

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
		_, err := promsource.NewSource("http://p:9090", promsource.WithSelector(b.in))
		require.Error(t, err, b.in)
		assert.Contains(t, err.Error(), b.want, b.in)
		assert.Contains(t, err.Error(), "ninelives: WithSelector(", b.in)
	}
}

func TestDefaults(t *testing.T) {
	src, err := promsource.NewSource("https://prometheus.example/prom/")
	require.NoError(t, err)
	defer src.Close()
	assert.Equal(t, "{"+names+"}", src.Selector())
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		want := false
		for _, e := range telemetry.DefaultErrorCodes {
			want = want || e == c
		}
		assert.Equal(t, want, src.IsError(c), "code %v", c)
	}
	assert.False(t, src.IsError(99))

	src, err = promsource.NewSource("http://p:9090", promsource.WithErrorCodes(codes.InvalidArgument),
		promsource.WithHTTPClient(&http.Client{}), promsource.WithHeader("X-Scope-OrgID", "team-a"))
	require.NoError(t, err)
	src.Close() // a client given by the user is left alone
	assert.True(t, src.IsError(codes.InvalidArgument))
	assert.False(t, src.IsError(codes.Unavailable))
}
