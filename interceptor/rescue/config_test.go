package rescue_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := rescue.Config{Candidate: "canary", Baseline: "stable"}
	with := func(f func(*rescue.Config)) rescue.Config {
		c := ok
		f(&c)
		return c
	}
	cases := []struct {
		cfg  rescue.Config
		want string
	}{
		{rescue.Config{Baseline: "stable"}, "Candidate: a version name is empty"},
		{with(func(c *rescue.Config) { c.Baseline = "st able" }), `Baseline: version name "st able" holds ' '`},
		{with(func(c *rescue.Config) { c.Baseline = "canary" }), `Baseline = "canary": the same as Candidate`},
		{with(func(c *rescue.Config) { c.Methods = []string{"GetItem"} }), `Methods[0] = "GetItem": want a full method name`},
		{with(func(c *rescue.Config) { c.Codes = []codes.Code{codes.Unavailable, codes.InvalidArgument} }), "Codes[1] = InvalidArgument: the request is bad"},
		{with(func(c *rescue.Config) { c.Codes = []codes.Code{codes.Canceled} }), "Codes[0] = Canceled: the caller gave up"},
		{with(func(c *rescue.Config) { c.Codes = []codes.Code{codes.OK} }), "Codes[0] = OK: not an error"},
		{with(func(c *rescue.Config) { c.Codes = []codes.Code{99} }), "Codes[0] = 99: not a gRPC status code"},
		{with(func(c *rescue.Config) { c.BudgetRatio = 1.5 }), "BudgetRatio = 1.5: want a share of the calls in [0.001, 1]"},
		{with(func(c *rescue.Config) { c.BudgetRatio = -0.1 }), "BudgetRatio = -0.1"},
		{with(func(c *rescue.Config) { c.BudgetBurst = -1 }), "BudgetBurst = -1: want 0 (the default) or more"},
		{with(func(c *rescue.Config) { c.BudgetBurst = 1 << 31 }), "BudgetBurst = 2147483648: want at most 1073741824"},
		{with(func(c *rescue.Config) { c.HedgeQuantile = 1 }), "HedgeQuantile = 1: want a quantile strictly between 0 and 1"},
		{with(func(c *rescue.Config) { c.HedgeFactor = 0.5 }), "HedgeFactor = 0.5: want a factor in [1, 100]"},
		{with(func(c *rescue.Config) { c.MinHedgeDelay = -time.Second }), "MinHedgeDelay = -1s: want 0 (the default) or more"},
		{with(func(c *rescue.Config) { c.MinHedgeDelay = time.Minute }), "MinHedgeDelay = 1m0s: above MaxHedgeDelay 10s"},
		{with(func(c *rescue.Config) { c.HedgeWindow = 10; c.HedgeMinSamples = 21 }), "HedgeMinSamples = 21: more than 2 × HedgeWindow 10"},
		{with(func(c *rescue.Config) { c.StreamMaxBytes = -1 }), "StreamMaxBytes = -1"},
	}
	for _, tc := range cases {
		_, err := rescue.New(tc.cfg)
		require.Error(t, err, tc.want)
		assert.True(t, errors.Is(err, rescue.ErrBadConfig), "%v", err)
		var ce *balancer.ConfigError
		assert.True(t, errors.As(err, &ce), "%v", err)
		assert.Contains(t, err.Error(), "ninelives: bad rescue config: "+tc.want)
		assert.Equal(t, 1, countPrefix(err.Error()), "one prefix: %v", err)
	}
	_, err := rescue.New(ok)
	assert.NoError(t, err)
}

func TestSetVersionsIsValidated(t *testing.T) {
	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable"})
	require.NoError(t, err)
	assert.ErrorContains(t, rs.SetVersions("blue", "blue"), `Baseline = "blue": the same as Candidate`)
	assert.ErrorIs(t, rs.SetVersions("", "blue"), rescue.ErrBadConfig)
	assert.NoError(t, rs.SetVersions("green", "blue"))
}

func countPrefix(s string) int {
	n := 0
	for i := 0; i+9 <= len(s); i++ {
		if s[i:i+9] == "ninelives" {
			n++
		}
	}
	return n
}
