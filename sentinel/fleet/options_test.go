package fleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestBadArgumentsAreRejected(t *testing.T) {
	srv := startEtcd(t)
	c := newClient(t, srv.Endpoint())
	split := balancer.MustSplit(initial...)
	f, err := fleet.NewFollower(c, prefix, split)
	require.NoError(t, err)
	src, err := telemetry.NewSource()
	require.NoError(t, err)
	strategy := canary(t)

	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"empty prefix": {func() error { _, err := fleet.NewFollower(c, "", split); return err }(), `prefix = "": want a key prefix`},
		"slash prefix": {func() error { _, err := fleet.NewSource(c, "/a/"); return err }(), `prefix = "/a/": ends with /`},
		"nil split":    {func() error { _, err := fleet.NewFollower(c, prefix, nil); return err }(), "split: the split is nil"},
		"nil client":   {func() error { _, err := fleet.NewSource(nil, prefix); return err }(), "client: the etcd client is nil"},
		"ttl": {func() error {
			_, err := fleet.NewFollower(c, prefix, split, fleet.WithTTL(1500*time.Millisecond))
			return err
		}(), "WithTTL = 1.5s: want whole seconds"},
		"interval":     {func() error { _, err := fleet.NewSource(c, prefix, fleet.WithInterval(0)); return err }(), "WithInterval = 0s"},
		"retention":    {func() error { _, err := fleet.NewSource(c, prefix, fleet.WithRetention(1)); return err }(), "WithRetention = 1"},
		"replica name": {func() error { _, err := fleet.NewReporter(c, prefix, "a/b", src, f); return err }(), `replica = "a/b": '/' is not`},
		"other prefix": {func() error { _, err := fleet.NewReporter(c, "/elsewhere", "r", src, f); return err }(), `follower = "/ninelives/test": it follows another prefix than "/elsewhere"`},
		"nil follower": {func() error { _, err := fleet.NewReporter(c, prefix, "r", src, nil); return err }(), "follower: the follower is nil"},
		"leader name":  {func() error { _, err := fleet.NewLeader(c, prefix, "", initial, strategy); return err }(), `name = "": want 1 to 64`},
		"weights": {func() error {
			_, err := fleet.NewLeader(c, prefix, "s", []balancer.Weight{{Version: "a", Weight: 1}}, strategy)
			return err
		}(), "initial = [{a 1}]: sum to 1, want 10000"},
		"versions": {func() error {
			_, err := fleet.NewLeader(c, prefix, "s", initial, strategy, fleet.WithVersions("stable", "blue"))
			return err
		}(), `WithVersions candidate = "blue": not a version`},
		"sentinel judge": {func() error {
			_, err := fleet.NewLeader(c, prefix, "s", initial, strategy, fleet.WithSentinelOptions(sentinel.WithJudge(judge.Config{Alpha: 2})))
			return err
		}(), "WithJudge.Alpha = 2"},
	} {
		require.Error(t, tc.err, name)
		assert.ErrorContains(t, tc.err, tc.want, name)
		assert.ErrorIs(t, tc.err, fleet.ErrBadOption, name)
		assert.True(t, strings.HasPrefix(tc.err.Error(), "ninelives: bad fleet option: "), name)
	}
	_, err = fleet.NewReporter(c, prefix, "r1", src, f)
	require.NoError(t, err)
	_, err = fleet.NewReporter(c, prefix, "r2", src, f)
	assert.ErrorContains(t, err, "the follower already has a reporter")
}
