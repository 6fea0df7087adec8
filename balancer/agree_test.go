package balancer_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// warnings records what is logged through slog's default logger while a
// test runs.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.mu.Lock()
		w.msgs = append(w.msgs, r.Message)
		w.mu.Unlock()
	}
	return nil
}

// count is how many warnings hold s.
func (w *warnings) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

func captureWarnings(t *testing.T) *warnings {
	w := new(warnings)
	prev := slog.Default()
	slog.SetDefault(slog.New(w))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return w
}

// failingCalls makes n calls and requires each to fail with Unavailable;
// it returns the first error's message.
func failingCalls(t *testing.T, cc *grpc.ClientConn, n int) string {
	t.Helper()
	var msg string
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := getItem(ctx, cc, "a")
		cancel()
		require.Equal(t, codes.Unavailable, status.Code(err), "call %d: %v", i, err)
		if i == 0 {
			msg = status.Convert(err).Message()
		}
	}
	return msg
}

// untouched asserts that no server of the fleet was connected to or called.
func untouched(t *testing.T, f *demoserver.Fleet) {
	t.Helper()
	for _, s := range f.All() {
		assert.Zero(t, s.Calls("GetItem"), "%s was called", s.Instance())
	}
	assert.Zero(t, f.Accepted(), "no connection to any server")
}

// The measured case: a typo in the target with the canary at 0 % sent
// almost every call to the canary.
func TestTargetVersionTheSplitDoesNotName(t *testing.T) {
	warned := captureWarnings(t)
	f := startFleet(t, "stable", 1, "canary", 1)
	target := CompositeTarget(
		VersionTarget{"stabel", "passthrough:///" + f.Servers("stable")[0].Addr()},
		VersionTarget{"canary", "passthrough:///" + f.Servers("canary")[0].Addr()},
	)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0})
	cc := dial(t, target, WithSplit(split))
	msg := failingCalls(t, cc, 200)
	want := `ninelives: bad ninelives_split config: versions: the target names stabel, canary but the Split names stable, canary: ` +
		`"stabel" is not in the Split; "stable" has no VERSION=TARGET pair in the target; name the same versions in both`
	assert.Equal(t, want, msg)
	untouched(t, f)
	assert.Equal(t, 1, warned.count(want), "logged once at warning")
	assert.Empty(t, split.Endpoints(""))
}

func TestConfigVersionWithoutTarget(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	cc := dial(t, f.TargetOf("stable"), grpc.WithDefaultServiceConfig(
		`{"loadBalancingConfig":[{"ninelives_split":{"versions":[{"name":"stable","weight":9000},{"name":"canary","weight":1000}]}}]}`))
	msg := failingCalls(t, cc, 20)
	assert.Equal(t, `ninelives: bad ninelives_split config: versions: the target names stable but the config names stable, canary: `+
		`"canary" has no VERSION=TARGET pair in the target; name the same versions in both`, msg)
	untouched(t, f)
}

// Config and target that name different versions gave a silent round robin.
func TestTargetAndConfigNameDifferentVersions(t *testing.T) {
	f := startFleet(t, "v1", 1, "v2", 1)
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})
	cc := dial(t, f.Target(), WithSplit(split))
	msg := failingCalls(t, cc, 20)
	for _, s := range []string{
		"the target names v1, v2 but the Split names stable, canary",
		`"v1" is not in the Split`, `"v2" is not in the Split`, `"stable" has no VERSION=TARGET pair`, `"canary" has no VERSION=TARGET pair`,
	} {
		assert.Contains(t, msg, s)
	}
	untouched(t, f)
}

// A ninelives target used without the ninelives_split policy sent
// everything to the first version. grpc.NewClient shows the resolver no
// service config, so the resolver asks the policy with its first state
// and, unanswered, reports the error instead of any endpoint.
func TestCompositeTargetWithoutThePolicy(t *testing.T) {
	for name, opts := range map[string][]grpc.DialOption{
		"no service config": nil,
		"round_robin":       {grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`)},
	} {
		t.Run(name, func(t *testing.T) {
			warned := captureWarnings(t)
			f := startFleet(t, "stable", 1, "canary", 1)
			cc := dial(t, f.Target(), opts...)
			msg := failingCalls(t, cc, 20)
			assert.Contains(t, msg, `ninelives: bad composite target: target = "`+f.Target()+`": needs the ninelives_split load-balancing policy, and the channel uses another`)
			assert.Contains(t, msg, "dial with balancer.WithSplit(split)")
			untouched(t, f)
			assert.Equal(t, 1, warned.count("needs the ninelives_split load-balancing policy"), "logged once at warning")
		})
	}
}

func TestPairsSeparatedByAnythingButSemicolon(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	split := MustSplit(Weight{"stable", 9000}, Weight{"canary", 1000})
	for sep, enc := range map[string]string{",": "%2C", ", ": "%2C", "|": "%7C", "&": "%26"} {
		target := "ninelives:///stable=passthrough:///" + f.Servers("stable")[0].Addr() + sep + "canary=passthrough:///" + f.Servers("canary")[0].Addr()
		cc := dial(t, target, WithSplit(split))
		msg := failingCalls(t, cc, 5)
		sep = strings.TrimSpace(sep)
		assert.Contains(t, msg, `ninelives: bad composite target: pair 1 = "stable=passthrough:///`, sep)
		assert.Contains(t, msg, `VERSION=TARGET pairs are separated by ';', not "`+sep+`" (found "`+sep+`canary=")`, sep)
		assert.Contains(t, msg, `percent-encode a "`+sep+`" that belongs to the TARGET as `+enc, sep)
	}
	untouched(t, f)
}

// Weights in percent were taken as basis points: 90/10 became 0.9 % and
// 0.1 %, summing to 1 %.
func TestWeightsInPercent(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	const want = "weights sum to 100, want 10000; weights are basis points (10000 = 100 %), not percent: write stable=9000, canary=1000"
	_, err := NewSplit(Weight{"stable", 90}, Weight{"canary", 10})
	assert.ErrorIs(t, err, ErrBadWeights)
	assert.EqualError(t, err, "ninelives: bad weights: "+want)

	_, err = grpc.NewClient(f.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultServiceConfig(
		`{"loadBalancingConfig":[{"ninelives_split":{"versions":[{"name":"stable","weight":90},{"name":"canary","weight":10}]}}]}`))
	require.Error(t, err, "grpc.NewClient refuses the service config")
	assert.Contains(t, err.Error(), "ninelives: bad ninelives_split config: versions: "+want)
	untouched(t, f)

	// Not percent: a weight over 100, or a sum other than 100.
	for _, ws := range [][]Weight{{{"stable", 9999}, {"canary", 0}}, {{"stable", 50}, {"canary", 40}}} {
		_, err := NewSplit(ws...)
		assert.ErrorContains(t, err, "(basis points: 10000 = 100 %)")
		assert.NotContains(t, err.Error(), "not percent")
	}
}

// A resolver of the user's labels endpoints itself: a label the config
// does not name is the same mistake as a typo in a composite target.
func TestResolverLabelTheSplitDoesNotName(t *testing.T) {
	warned := captureWarnings(t)
	f := startFleet(t, "stable", 1, "canary", 1)
	r := manual.NewBuilderWithScheme("nllabels")
	stable, canary := f.Servers("stable")[0], f.Servers("canary")[0]
	r.InitialState(resolver.State{Endpoints: []resolver.Endpoint{
		SetVersion(endpoint(stable.Addr()), "stable"),
		SetVersion(endpoint(canary.Addr()), "canry"),
	}})
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	cc := dial(t, "nllabels:///orders", grpc.WithResolvers(r), WithSplit(split))
	msg := failingCalls(t, cc, 20)
	want := `ninelives: bad ninelives_split config: versions: the resolver labels endpoints stable, canry but the Split names stable, canary: ` +
		`"canry" (endpoint ` + canary.Addr() + `) is not in the Split; label endpoints only with the Split's versions (an endpoint without a label belongs to "stable", the default version)`
	assert.Equal(t, want, msg)
	untouched(t, f)

	// The resolver corrects itself: the channel serves, and the warning
	// was given once.
	r.UpdateState(resolver.State{Endpoints: []resolver.Endpoint{
		SetVersion(endpoint(stable.Addr()), "stable"),
		SetVersion(endpoint(canary.Addr()), "canary"),
	}})
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	got := tally(t, cc, 200, 4, bg)
	assert.Equal(t, 200, got["stable"]+got["canary"])
	assert.Positive(t, got["canary"])
	assert.Equal(t, 1, warned.count(want))

	// And a mislabelled update to a serving channel stops it at once,
	// connections and all, rather than sending the share elsewhere.
	r.UpdateState(resolver.State{Endpoints: []resolver.Endpoint{
		SetVersion(endpoint(stable.Addr()), "stable"),
		SetVersion(endpoint(canary.Addr()), "canary-2"),
	}})
	require.Eventually(t, func() bool { return len(split.Endpoints("")) == 0 }, 10*time.Second, 5*time.Millisecond)
	assert.Contains(t, failingCalls(t, cc, 5), `"canary-2" (endpoint `+canary.Addr()+`) is not in the Split`)
}

// The first-class path: any target, versions labelled by the user's own
// resolver, and endpoints without a label in the default version.
func TestLabelsFromAnotherResolverAndTheDefaultVersion(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 1)
	r := manual.NewBuilderWithScheme("nlfirstclass")
	r.InitialState(resolver.State{Endpoints: []resolver.Endpoint{
		endpoint(f.Servers("stable")[0].Addr()), // no label: the default version
		SetVersion(endpoint(f.Servers("stable")[1].Addr()), "stable"),
		SetVersion(endpoint(f.Servers("canary")[0].Addr()), "canary"),
	}})
	split := MustSplit(Weight{"canary", 5000}, Weight{"stable", 5000})
	cc := dial(t, "nlfirstclass:///orders", grpc.WithResolvers(r), WithSplit(split, DefaultVersion("stable")))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 2, "canary": 1})
	got := tally(t, cc, 400, 4, bg)
	assert.InDelta(t, 200, got["stable"], 60, "%v", got)
	assert.InDelta(t, 200, got["canary"], 60, "%v", got)
	assert.Positive(t, f.Servers("stable")[0].Calls("GetItem"), "the unlabelled endpoint serves the default version")

	// The same address labelled anew moves to the other version.
	r.UpdateState(resolver.State{Endpoints: []resolver.Endpoint{
		SetVersion(endpoint(f.Servers("stable")[0].Addr()), "canary"),
		SetVersion(endpoint(f.Servers("stable")[1].Addr()), "stable"),
		SetVersion(endpoint(f.Servers("canary")[0].Addr()), "canary"),
	}})
	waitReady(t, split, map[string]int{"stable": 1, "canary": 2})
	assert.ElementsMatch(t, []string{f.Servers("stable")[0].Addr(), f.Servers("canary")[0].Addr()}, split.ReadyEndpoints("canary"))

	// A plain dns target, no label at all: one version.
	_, port := splitHostPort(t, f.Servers("stable")[0].Addr())
	one := MustSplit(Weight{"stable", 10000})
	cc = dial(t, "dns:///localhost:"+port, WithSplit(one))
	connect(t, cc)
	resp, err := getItem(context.Background(), cc, "a")
	require.NoError(t, err)
	assert.Equal(t, "stable", resp.GetServedBy().GetVersion())
}

func endpoint(addr string) resolver.Endpoint {
	return resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}}
}
