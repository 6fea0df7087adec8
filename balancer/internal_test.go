package balancer

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gbalancer "google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/internal/call"
)

func TestStickyPointIsMonotoneInWeights(t *testing.T) {
	// The placement rule itself, exhaustively over canary weights: a key in
	// the canary at weight w stays there at every larger weight.
	for i := range 2000 {
		p := int(call.StickyPoint("k" + strconv.Itoa(i)))
		require.True(t, p >= 0 && p < TotalWeight)
		first := -1
		for w := 0; w <= TotalWeight; w += 100 {
			s := &snapshot{cum: []uint32{uint32(TotalWeight - w), TotalWeight}}
			inCanary := s.index(uint32(p)) == 1
			if inCanary && first < 0 {
				first = w
			}
			if first >= 0 {
				require.True(t, inCanary, "key %d left the canary at weight %d", i, w)
			}
		}
	}
}

func TestSchemelessChildTargetScheme(t *testing.T) {
	pairs, err := ParseCompositeTarget("ninelives:///stable=localhost:1234")
	require.NoError(t, err)
	ct, b, err := childTarget(pairs[0].Target)
	require.NoError(t, err)
	require.Equal(t, "dns", ct.URL.Scheme, "as grpc.NewClient")
	require.Equal(t, "dns", b.Scheme())
	require.Equal(t, "localhost:1234", ct.Endpoint())

	// A default scheme set with resolver.SetDefaultScheme is followed, as
	// grpc.NewClient follows it; grpc's own initial "passthrough" is not.
	require.Equal(t, "dns", defaultChildScheme("passthrough"))
	require.Equal(t, "xds", defaultChildScheme("xds"))
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(json.RawMessage(`{"versions":[{"name":"stable","weight":9000},{"name":"canary","weight":1000}],"stickyKey":"x-user-id"}`))
	require.NoError(t, err)
	require.Equal(t, "stable", cfg.DefaultVersion, "defaults to the first version")
	require.True(t, cfg.fallbackOn(), "fallback defaults to on")
	require.Equal(t, []Weight{{"stable", 9000}, {"canary", 1000}}, cfg.split.Weights())
}

func FuzzParseConfig(f *testing.F) {
	f.Add(`{"versions":[{"name":"stable","weight":9000},{"name":"canary","weight":1000}],"defaultVersion":"stable","stickyKey":"x-user-id","overrideKey":"x-ninelives-version","fallback":true}`)
	f.Add(`{"versions":[{"name":"a","weight":10000}]}`)
	f.Add(`{"versions":[{"name":"a","weight":5000},{"name":"a","weight":5000}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		cfg, err := ParseConfig(json.RawMessage(in))
		if err != nil {
			assert.ErrorContains(t, err, "ninelives:")
			return
		}
		// A config that parses re-encodes to one that parses the same way.
		out, err := json.Marshal(cfg)
		require.NoError(t, err)
		again, err := ParseConfig(out)
		require.NoError(t, err, "%s", out)
		assert.Equal(t, cfg.split.Weights(), again.split.Weights())
		assert.Equal(t, cfg.DefaultVersion, again.DefaultVersion)
		assert.Equal(t, cfg.StickyKey, again.StickyKey)
		assert.Equal(t, cfg.fallbackOn(), again.fallbackOn())
		sum := 0
		for _, w := range cfg.split.Weights() {
			sum += w.Weight
		}
		assert.Equal(t, TotalWeight, sum)
	})
}

// lastSeen keeps the attempts it is told of.
type lastSeen struct{ attempts []Attempt }

func (l *lastSeen) ObserveAttempt(a *Attempt) { l.attempts = append(l.attempts, *a) }
func (l *lastSeen) ObserveFallback(string)    {}

// Only attempts that reached a server are observed: not a pick of a
// transport that was not ready, nor one on which grpc could not open a
// stream (it retries those transparently, as often as the picker hands it
// the transport: thousands of times on a busy machine as a server dies).
// Of those observed, the ones that failed Unavailable with nothing from
// the server are unanswered.
func TestOnlyAttemptsThatReachedAServerAreObserved(t *testing.T) {
	o := new(lastSeen)
	finish := func(di gbalancer.DoneInfo) {
		r := attemptPool.Get().(*attemptRec)
		r.obs, r.a, r.start = []Observer{o}, Attempt{Version: "canary", Role: RolePrimary}, time.Now()
		r.done(di)
	}
	closing := status.Error(codes.Unavailable, "transport is closing")
	finish(gbalancer.DoneInfo{})
	finish(gbalancer.DoneInfo{Err: closing})
	assert.Empty(t, o.attempts, "no attempt reached a server")

	// A stream that could not be opened for a reason of the server's, which
	// grpc does not retry: the caller's failure is observed.
	finish(gbalancer.DoneInfo{Err: status.Error(codes.Internal, "header list size to send violates the maximum size (64 bytes) set by server")})
	finish(gbalancer.DoneInfo{Err: status.Error(codes.DeadlineExceeded, "waiting for the server's stream quota")})
	require.Len(t, o.attempts, 2)
	o.attempts = nil

	finish(gbalancer.DoneInfo{Err: closing, BytesSent: true})
	finish(gbalancer.DoneInfo{Err: status.Error(codes.Unavailable, "injected"), BytesSent: true, BytesReceived: true})
	finish(gbalancer.DoneInfo{Err: status.Error(codes.DeadlineExceeded, "too slow"), BytesSent: true})
	finish(gbalancer.DoneInfo{BytesSent: true, BytesReceived: true})
	var unanswered []bool
	for _, a := range o.attempts {
		unanswered = append(unanswered, a.Unanswered)
	}
	assert.Equal(t, []bool{true, false, false, false}, unanswered)
}
