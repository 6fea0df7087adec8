package balancer_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func TestCompositeOverDNSAndPassthrough(t *testing.T) {
	f := startFleet(t, "stable", 1, "canary", 1)
	_, port := splitHostPort(t, f.Servers("stable")[0].Addr())
	target := CompositeTarget(
		VersionTarget{"stable", "dns:///localhost:" + port},
		VersionTarget{"canary", "passthrough:///" + f.Servers("canary")[0].Addr()},
	)
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	cc := dial(t, target, WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})
	got := tally(t, cc, 400, 4, bg)
	assert.InDelta(t, 200, got["stable"], 60, "%v", got)
	assert.InDelta(t, 200, got["canary"], 60, "%v", got)

	// The channel's authority is the first TARGET's host, not the composite text.
	ao, ok := resolver.Get(Scheme).(interface{ OverrideAuthority(resolver.Target) string })
	require.True(t, ok)
	u, err := url.Parse(target)
	require.NoError(t, err)
	assert.Equal(t, "localhost:"+port, ao.OverrideAuthority(resolver.Target{URL: *u}))
}

func TestCompositeWithOneTargetThatCannotResolve(t *testing.T) {
	f := startFleet(t, "stable", 1)
	target := CompositeTarget(
		VersionTarget{"stable", "passthrough:///" + f.Servers("stable")[0].Addr()},
		VersionTarget{"canary", "dns:///no-such-host.invalid:50051"},
	)
	split := MustSplit(Weight{"stable", 5000}, Weight{"canary", 5000})
	rec := new(recorder)
	defer split.AddObserver(rec)()
	cc := dial(t, target, WithSplit(split))
	connect(t, cc)
	got := tally(t, cc, 200, 4, bg)
	assert.Equal(t, map[string]int{"stable": 200}, got, "the other version keeps serving")
	assert.Greater(t, rec.fallbackCount("canary"), 50, "the canary's share fell back and was counted")
	assert.Empty(t, split.Endpoints("canary"))
}

func TestCompositeMergesUpdatesOfEachChild(t *testing.T) {
	f := startFleet(t, "stable", 2, "canary", 1)
	man := manual.NewBuilderWithScheme("nltest")
	man.InitialState(resolver.State{Endpoints: []resolver.Endpoint{{Addresses: []resolver.Address{{Addr: f.Servers("stable")[0].Addr()}}}}})
	resolver.Register(man)

	target := CompositeTarget(
		VersionTarget{"stable", "nltest:///orders"},
		VersionTarget{"canary", "passthrough:///" + f.Servers("canary")[0].Addr()},
	)
	split := MustSplit(Weight{"stable", 10000}, Weight{"canary", 0})
	cc := dial(t, target, WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1, "canary": 1})

	// The user's resolver adds a second stable endpoint: merged with the
	// canary's, which stays.
	man.UpdateState(resolver.State{Addresses: []resolver.Address{
		{Addr: f.Servers("stable")[0].Addr()}, {Addr: f.Servers("stable")[1].Addr()},
	}})
	waitReady(t, split, map[string]int{"stable": 2, "canary": 1})
	tally(t, cc, 200, 4, bg)
	assert.Positive(t, f.Servers("stable")[0].Calls("GetItem"))
	assert.Positive(t, f.Servers("stable")[1].Calls("GetItem"))

	// An error from that resolver keeps its last endpoints in use.
	man.CC().ReportError(context.DeadlineExceeded)
	got := tally(t, cc, 100, 2, bg)
	assert.Equal(t, map[string]int{"stable": 100}, got)
	assert.Len(t, split.ReadyEndpoints("stable"), 2)
}

func TestCompositeTargetErrorsReachTheCaller(t *testing.T) {
	split := MustSplit(Weight{"stable", 10000})
	cc := dial(t, "ninelives:///stable", WithSplit(split))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := getItem(ctx, cc, "a")
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, `pair 1 = "stable": no '=' between VERSION and TARGET`)
}

func TestParseCompositeTarget(t *testing.T) {
	good := []struct {
		in   string
		want []VersionTarget
	}{
		{"ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051",
			[]VersionTarget{{"stable", "dns:///orders-v1:50051"}, {"canary", "dns:///orders-v2:50051"}}},
		{"blue=passthrough:///blue-1.internal:7001;blue=passthrough:///blue-2.internal:7001;green=unix:///run/green.sock",
			[]VersionTarget{{"blue", "passthrough:///blue-1.internal:7001"}, {"blue", "passthrough:///blue-2.internal:7001"}, {"green", "unix:///run/green.sock"}}},
		{"ninelives:///a=unix:///run/a%3Bb.sock;b=passthrough:///x%3By%3Fz%23w", []VersionTarget{{"a", "unix:///run/a;b.sock"}, {"b", "passthrough:///x;y?z#w"}}},
		{"ninelives:a=localhost:50051", []VersionTarget{{"a", "localhost:50051"}}},
		// A '%' inside a TARGET is decoded exactly once.
		{CompositeTarget(VersionTarget{"a", "passthrough:///a%2541"}), []VersionTarget{{"a", "passthrough:///a%2541"}}},
		{"ninelives:///a=passthrough:///a%252541", []VersionTarget{{"a", "passthrough:///a%2541"}}},
		{CompositeTarget(VersionTarget{"a", "unix:///tmp/50%25.sock"}), []VersionTarget{{"a", "unix:///tmp/50%25.sock"}}},
		{CompositeTarget(VersionTarget{"a", "unix:///tmp/50%25.sock"}, VersionTarget{"b", "passthrough:///x;y%3F"}),
			[]VersionTarget{{"a", "unix:///tmp/50%25.sock"}, {"b", "passthrough:///x;y%3F"}}},
		// A ',' or '=' that starts no pair belongs to the TARGET; one that
		// would is percent-encoded, as CompositeTarget writes it.
		{"ninelives:///a=unix:///run/a,b.sock;b=unix:///run/x=y.sock", []VersionTarget{{"a", "unix:///run/a,b.sock"}, {"b", "unix:///run/x=y.sock"}}},
		{CompositeTarget(VersionTarget{"a", "unix:///run/x,b=y.sock"}), []VersionTarget{{"a", "unix:///run/x,b=y.sock"}}},
		{"ninelives:///a=unix:///run/x%2Cb=y.sock", []VersionTarget{{"a", "unix:///run/x,b=y.sock"}}},
	}
	for _, tc := range good {
		got, err := ParseCompositeTarget(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		again, err := ParseCompositeTarget(CompositeTarget(got...))
		require.NoError(t, err)
		assert.Equal(t, got, again, "round trip of %q", tc.in)
	}
	bad := map[string]string{
		"":                                        "no VERSION=TARGET pairs",
		"ninelives:///":                           "no VERSION=TARGET pairs",
		"ninelives:///stable":                     `pair 1 = "stable": no '=' between VERSION and TARGET`,
		"ninelives:///=dns:///x:1":                "version name is empty",
		"ninelives:///a=":                         "TARGET is empty",
		"ninelives:///a=foo:///x":                 `no resolver is registered for scheme "foo"`,
		"ninelives:///a=dns:///x?y":               "raw '?'",
		"ninelives:///a=dns:///x#y":               "raw '#'",
		"ninelives://host/a=dns:///x:1":           "three slashes",
		"ninelives:///a=passthrough:///x%zz":      `invalid URL escape "%zz"`,
		"a=passthrough:///x%zz":                   "bad percent-encoding",
		"ninelives:///a b=dns:///x:1":             `version name "a b"`,
		"a=ninelives:///b=dns:///x:1":             "nests a ninelives target",
		"ninelives:///a=dns:///x:1,b=dns:///y:1":  `pairs are separated by ';', not "," (found ",b="); percent-encode a "," that belongs to the TARGET as %2C`,
		"a=dns:///x:1 | dns:///y:1":               `not "|" (found "|dns://")`,
		"ninelives:///a=dns:///x:1&b=dns:///y:1":  `not "&" (found "&b=")`,
		"a=dns:///x:1 b=dns:///y:1":               `not " " (found " b="); percent-encode a " " that belongs to the TARGET as %20`,
		"ninelives:///a=passthrough:///x:1+b=y:1": `not "+"`,
	}
	for in, want := range bad {
		_, err := ParseCompositeTarget(in)
		assert.ErrorIs(t, err, ErrBadTarget, in)
		assert.ErrorContains(t, err, want, in)
	}
}

// A TARGET without a scheme is resolved by dns, as grpc.NewClient resolves
// a target without one: "localhost:port" becomes the loopback addresses, not
// one "localhost:port" address passed through.
func TestSchemelessChildTargetUsesDNS(t *testing.T) {
	f := startFleet(t, "stable", 1)
	_, port := splitHostPort(t, f.Servers("stable")[0].Addr())
	target := "ninelives:///stable=localhost:" + port
	split := MustSplit(Weight{"stable", 10000})
	cc := dial(t, target, WithSplit(split))
	connect(t, cc)
	waitReady(t, split, map[string]int{"stable": 1})
	assert.Equal(t, []string{"127.0.0.1:" + port}, split.ReadyEndpoints("stable"))
	for _, e := range split.Endpoints("") {
		assert.NotEqual(t, "localhost:"+port, e.Addr, "passed through instead of resolved: %v", split.Endpoints(""))
	}
	resp, err := getItem(context.Background(), cc, "a")
	require.NoError(t, err)
	assert.Equal(t, "stable", resp.GetServedBy().GetVersion())
}

// A Split handed to WithSplit and kept by nothing else is still there when
// the channel parses its config, after collections in between.
func TestASplitOnlyTheDialOptionNamesIsThereForTheChannel(t *testing.T) {
	f := startFleet(t, "stable", 1)
	target := f.TargetOf("stable")
	opt := WithSplit(MustSplit(Weight{"stable", 10000}))
	for range 3 {
		runtime.GC()
	}
	cc := dial(t, target, opt)
	connect(t, cc)
	_, err := getItem(context.Background(), cc, "a")
	require.NoError(t, err)
}

// A unix socket whose name holds a '%' is reached through the composite
// target: the channel's parsed target is decoded once, as the text is.
func TestCompositeTargetWithPercentInASocketName(t *testing.T) {
	dir, err := os.MkdirTemp("", "nl")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "50%.sock")
	lis, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := demoserver.New("stable", "stable-unix")
	require.NoError(t, srv.Serve(lis))
	defer srv.Stop()

	target := CompositeTarget(VersionTarget{"stable", "unix://" + strings.ReplaceAll(path, "%", "%25")})
	split := MustSplit(Weight{"stable", 10000})
	cc := dial(t, target, WithSplit(split))
	connect(t, cc)
	resp, err := getItem(context.Background(), cc, "a")
	require.NoError(t, err)
	assert.Equal(t, "stable-unix", resp.GetServedBy().GetInstance())
}
