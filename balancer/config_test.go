package balancer_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	. "github.com/ninelives-go/ninelives/balancer"
)

func TestParseConfigErrors(t *testing.T) {
	cases := map[string]string{
		`{`:               "ninelives: bad ninelives_split config: unexpected EOF",
		`{"versions":[]}`: "versions: empty",
		`{"versions":[{"name":"a","weight":9999}]}`:                                    "versions: weights sum to 9999, want 10000",
		`{"versions":[{"name":"a","weight":-1},{"name":"b","weight":10001}]}`:          `versions[0].weight = -1: is outside 0..10000`,
		`{"versions":[{"name":"a","weight":5000},{"name":"a","weight":5000}]}`:         `versions[1].name = "a": is given twice`,
		`{"versions":[{"name":"","weight":10000}]}`:                                    "versions[0].name: a version name is empty",
		`{"versions":[{"name":"a","weight":10000}],"defaultVersion":"b"}`:              `defaultVersion = "b": is not one of the versions`,
		`{"versions":[{"name":"a","weight":10000}],"stickyKey":"X-User"}`:              `stickyKey: metadata key "X-User" holds 'X'`,
		`{"versions":[{"name":"a","weight":10000}],"stickyKey":"grpc-x"}`:              "reserved",
		`{"versions":[{"name":"a","weight":10000}],"overrideKey":"v-bin"}`:             `overrideKey: metadata key "v-bin": binary`,
		`{"versions":[{"name":"a","weight":10000}],"stickyKey":"k","overrideKey":"k"}`: `overrideKey = "k": is the stickyKey too`,
		`{"versions":[{"name":"a","weight":10000}],"splitRef":"split-0"}`:              `splitRef = "split-0": names no live Split`,
		`{"versions":[{"name":"a","weight":10000}],"splitRef":"nil"}`:                  `splitRef = "nil": WithSplit was given a nil *Split`,
		`{"versions":[{"name":"a","weight":"x"}]}`:                                     "cannot unmarshal string",
		`{"versions":[{"name":"a","weight":10000}],"fallback":"yes"}`:                  "fallback",
		// Misspelt and foreign fields, and anything after the config.
		`{"versions":[{"name":"a","weight":10000}],"sticky_key":"x-user-id"}`: `unknown field "sticky_key"`,
		`{"versions":[{"name":"a","weight":10000}],"fallbak":false}`:          `unknown field "fallbak"`,
		`{"versions":[{"name":"a","wieght":10000}]}`:                          `unknown field "wieght"`,
		`{"versions":[{"name":"a","weight":10000}]} x`:                        `trailing data after the config at offset 43: "x"`,
		`{"versions":[{"name":"a","weight":10000}]}{"fallback":false}`:        `trailing data after the config at offset 42: "{\"fallback\":false}"`,
		// Keys given twice or spelt in another case: encoding/json takes the
		// last one, or matches the field regardless of case.
		`{"Versions":[{"name":"a","weight":10000}]}`:                                     `Versions: unknown key; keys are case-sensitive: the field is "versions"`,
		`{"versions":[{"name":"a","Weight":10000}]}`:                                     `versions[0].Weight: unknown key; keys are case-sensitive: the field is "weight"`,
		`{"versions":[{"name":"a","weight":0,"weight":10000}]}`:                          `versions[0].weight: duplicate key`,
		`{"versions":[{"name":"a","weight":10000}],"fallback":true,"fallback":false}`:    `fallback: duplicate key`,
		`{"versions":[{"name":"a","weight":10000}],"stickyKey":"k","StickyKey":"other"}`: `StickyKey: unknown key; keys are case-sensitive: the field is "stickyKey"`,
	}
	for in, want := range cases {
		_, err := ParseConfig(json.RawMessage(in))
		require.Error(t, err, in)
		assert.ErrorIs(t, err, ErrBadConfig, in)
		assert.ErrorContains(t, err, want, in)
		assert.Equal(t, 1, strings.Count(err.Error(), "ninelives:"), "the prefix once: %v", err)
	}

	_, err := ParseConfig(json.RawMessage(`{"versions":[{"name":"a","weight":10000}],"stickyKey":"X-User"}`))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "stickyKey", ce.Field)
	_, err = ParseConfig(json.RawMessage(" {\"versions\":[{\"name\":\"a\",\"weight\":10000}]}\n\t "))
	assert.NoError(t, err, "white space around the config is fine")
}

func TestWithSplitRejectsBadOptionsAtNewClient(t *testing.T) {
	split := MustSplit(Weight{"stable", 10000})
	for _, tc := range []struct {
		split *Split
		opts  []Option
		want  string
	}{
		{split, []Option{StickyKey("Bad Key")}, `ninelives: bad ninelives_split config: stickyKey: metadata key "Bad Key" holds 'B'`},
		{split, []Option{DefaultVersion("canary")}, `defaultVersion = "canary": is not one of the versions`},
		{nil, nil, `splitRef = "nil": WithSplit was given a nil *Split; make one with NewSplit`},
	} {
		_, err := grpc.NewClient("ninelives:///stable=passthrough:///127.0.0.1:1",
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			WithSplit(tc.split, tc.opts...))
		assert.ErrorContains(t, err, tc.want)
		_, err = ServiceConfig(tc.split, tc.opts...)
		assert.ErrorIs(t, err, ErrBadConfig)
		assert.ErrorContains(t, err, tc.want, "ServiceConfig says the same")
	}

	sc, err := ServiceConfig(split, StickyKey("x-user-id"), Fallback(false))
	require.NoError(t, err)
	assert.Contains(t, sc, `"ninelives_split":{"versions":[{"name":"stable","weight":10000}],"stickyKey":"x-user-id","fallback":false,"splitRef":"split-`)
}

func FuzzParseCompositeTarget(f *testing.F) {
	f.Add("ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051")
	f.Add("blue=passthrough:///blue-1.internal:7001;blue=passthrough:///blue-2.internal:7001;green=unix:///run/green.sock")
	f.Add("ninelives:///a=unix:///run/a%3Bb.sock")
	f.Add("ninelives:a=localhost:50051")
	f.Add("ninelives:///a=passthrough:///a%252541")
	f.Add("ninelives:///a=unix:///tmp/50%2525.sock")
	f.Add("a=unix:///tmp/50%2525.sock;b=passthrough:///a%252541")
	f.Add("ninelives:///a=unix:///tmp/x%3By z.sock")
	f.Add("ninelives:///a=unix:///tmp/x%3Bb=passthrough:///y z")
	f.Add("0=%3B ")
	f.Fuzz(func(t *testing.T, in string) {
		// With or without the scheme, a body without '?' or '#' reads
		// alike: the URL form must not split it anywhere else.
		if !strings.ContainsAny(in, "?#") && !strings.HasPrefix(in, Scheme+":") {
			bare, bareErr := ParseCompositeTarget(in)
			full, fullErr := ParseCompositeTarget(Scheme + ":///" + in)
			if bareErr == nil {
				require.NoError(t, fullErr, "%q parses bare but not as %s:///…", in, Scheme)
				assert.Equal(t, bare, full, "%q", in)
			}
		}
		pairs, err := ParseCompositeTarget(in)
		if err != nil {
			assert.ErrorIs(t, err, ErrBadTarget)
			return
		}
		require.NotEmpty(t, pairs)
		again, err := ParseCompositeTarget(CompositeTarget(pairs...))
		require.NoError(t, err, "the text form of %q", in)
		assert.Equal(t, pairs, again)
	})
}
