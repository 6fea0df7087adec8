package shadow_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// reference is what the stable version answers without any shadowing,
// less the fields that differ on every reply.
func reference(t *testing.T, e *env, id string) *demov1.GetItemResponse {
	t.Helper()
	rate := e.shadow.Stats().Rate
	require.NoError(t, e.shadow.SetRate(0))
	defer func() { require.NoError(t, e.shadow.SetRate(rate)) }()
	resp, err := e.client.GetItem(balancer.ForceVersion(ctxT(t), "stable"), &demov1.GetItemRequest{Id: id})
	require.NoError(t, err)
	return resp
}

func sameItem(t *testing.T, want, got *demov1.GetItemResponse) {
	t.Helper()
	assert.True(t, proto.Equal(want.GetItem(), got.GetItem()), "item: want %v, got %v", want.GetItem(), got.GetItem())
	assert.Equal(t, "stable", got.GetServedBy().GetVersion())
}

func TestShadowComparesCandidateReplies(t *testing.T) {
	cases := []struct {
		name   string
		faults demoserver.Faults
		result string
		fields []string
		code   string
	}{
		{name: "same", result: ResultMatch},
		{name: "different fields", faults: demoserver.Faults{PriceDelta: 7}, result: ResultMismatch, fields: []string{"item.price_cents"}},
		{name: "errors", faults: demoserver.Faults{ErrorRate: 1}, result: ResultShadowError, code: "Unavailable"},
		{name: "slow", faults: demoserver.Faults{Latency: 50 * time.Millisecond}, result: ResultMatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := new(metricsSink)
			e := newEnv(t, &Config{
				Candidate: "canary", Rate: 1, ShowValues: true, Metrics: sink,
				IgnoreFields: []string{"served_by", "generated_at"},
			}, spec("stable", 2, demoserver.Faults{}), spec("canary", 1, tc.faults))
			want := reference(t, e, "a")

			const n = 3
			for range n {
				resp, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
				require.NoError(t, err, "the primary never fails because of the candidate")
				sameItem(t, want, resp)
			}
			e.wait(t)

			st := e.shadow.Stats()
			assert.EqualValues(t, n, st.Comparisons[tc.result], "stats: %+v", st)
			assert.EqualValues(t, n, e.fleet.Calls("canary", "GetItem"))
			comps, _ := sink.snapshot()
			assert.Equal(t, map[string]int{"canary " + getItemMethod + " " + tc.result: n}, comps)
			roles := e.obs.roles()
			assert.Equal(t, n, roles["canary/shadow"], "copies are attributed to the shadow role: %v", roles)
			assert.Zero(t, roles["canary/primary"])

			log := e.shadow.Mismatches()
			switch tc.result {
			case ResultMatch:
				assert.Empty(t, log)
			default:
				require.Len(t, log, n)
				m := log[n-1]
				assert.Equal(t, tc.result, m.Result)
				assert.Equal(t, getItemMethod, m.Method)
				assert.Equal(t, "canary", m.Candidate)
				assert.Equal(t, tc.fields, m.Fields)
				if tc.code != "" {
					assert.Equal(t, tc.code, m.ShadowCode)
					assert.Contains(t, m.ShadowError, "injected failure")
				}
				if tc.fields != nil {
					require.Len(t, m.Values, 1)
					assert.Equal(t, FieldValues{Path: "item.price_cents", Primary: "3197", Shadow: "3204"}, m.Values[0])
				}
				_, err := json.Marshal(log)
				assert.NoError(t, err)
			}
		})
	}
}

func TestPrimaryReturnsWhileCandidateHangs(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by", "generated_at"}},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)))
	want := reference(t, e, "b")
	before := goleak.IgnoreCurrent()

	resp, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "b"})
	require.NoError(t, err)
	// The primary has returned; now the copy reaches the candidate and
	// blocks there.
	assert.Equal(t, []string{"GetItem"}, entered(t, in, 1))
	sameItem(t, want, resp)
	canary := e.fleet.Servers("canary")[0]
	assert.EqualValues(t, 1, canary.InFlight(), "the copy is still blocked in the candidate's handler")
	st := e.shadow.Stats()
	assert.Equal(t, 1, st.InFlight)
	assert.Zero(t, st.Comparisons[ResultMatch]+st.Comparisons[ResultShadowError])

	// The candidate recovers: the copy completes and is compared.
	e.fleet.SetFaults("canary", demoserver.Faults{})
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMatch])

	// Hung again: Close cancels the copy when its context ends, and every
	// goroutine of the copy is gone.
	e.fleet.SetFaults("canary", demoserver.Faults{Hang: true})
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "b"})
	require.NoError(t, err)
	entered(t, in, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = e.shadow.Close(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, e.shadow.Stats().InFlight)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMatch], "a copy cut short by Close is not counted")
	eventually(t, func() bool { return canary.InFlight() == 0 }, "the candidate's handler saw the cancel")
	goleak.VerifyNone(t, before)

	// After Close calls pass straight through.
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "b"})
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.fleet.Calls("canary", "GetItem"))
}

func TestCopyHasItsOwnDeadline(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, Timeout: 100 * time.Millisecond},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)))
	// The primary's context ends as soon as it returns; the copy is detached
	// from it and ends at its own deadline instead.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := e.client.GetItem(ctx, &demov1.GetItemRequest{Id: "c"})
	cancel()
	require.NoError(t, err)
	entered(t, in, 1)
	e.wait(t)
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultShadowError], "%+v", st)
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, codes.DeadlineExceeded.String(), log[0].ShadowCode)

	// A primary already out of time is not copied, even with a timeout of
	// the copy's own.
	late, cancelLate := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelLate()
	_, err = e.client.GetItem(late, &demov1.GetItemRequest{Id: "c"})
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Dropped[DropTimeout])
	assert.EqualValues(t, 1, e.fleet.Calls("canary", "GetItem"), "no second copy")
}

// Close never waits for a primary call: the concurrency slots belong to
// copies, taken once the primary has returned.
func TestCloseDoesNotWaitForPrimaries(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, MaxConcurrent: 1},
		spec("stable", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)), spec("canary", 1, demoserver.Faults{}))
	done := make(chan error, 1)
	go func() {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "h"})
		done <- err
	}()
	assert.Equal(t, []string{"GetItem"}, entered(t, in, 1), "the primary waits in stable's handler")
	assert.Zero(t, e.shadow.Stats().InFlight, "a primary holds no slot")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, e.shadow.Close(ctx), "nothing to wait for")

	e.fleet.SetFaults("stable", demoserver.Faults{})
	require.NoError(t, <-done)
	e.wait(t)
	assert.Zero(t, e.fleet.Calls("canary", "GetItem"), "a primary ending after Close is not copied")
	assert.Zero(t, e.shadow.Stats().Dropped[DropConcurrency])
}

func TestConcurrencyBound(t *testing.T) {
	in := make(chan string, 64)
	sink := new(metricsSink)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, MaxConcurrent: 2, Metrics: sink},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 2, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)))
	const n = 10
	for range n {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "d"})
		require.NoError(t, err)
	}
	entered(t, in, 2)
	st := e.shadow.Stats()
	assert.EqualValues(t, n-2, st.Dropped[DropConcurrency], "%+v", st)
	assert.Equal(t, 2, st.InFlight)
	inflight := func() (cur, peak int64) {
		for _, s := range e.fleet.Servers("canary") {
			cur += s.InFlight()
			peak += s.MaxInFlight()
		}
		return cur, peak
	}
	cur, _ := inflight()
	assert.EqualValues(t, 2, cur)

	e.fleet.SetFaults("canary", demoserver.Faults{})
	e.wait(t)
	_, peak := inflight()
	assert.LessOrEqual(t, peak, int64(2), "never more copies on the candidate than the bound")
	assert.EqualValues(t, 2, e.fleet.Calls("canary", "GetItem"))
	assert.EqualValues(t, 2, e.shadow.Stats().Comparisons[ResultMatch]+e.shadow.Stats().Comparisons[ResultNoise]+e.shadow.Stats().Comparisons[ResultMismatch])
	_, drops := sink.snapshot()
	assert.Equal(t, map[string]int{DropConcurrency: n - 2}, drops)

	// Slots are free again.
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "d"})
	require.NoError(t, err)
	e.wait(t)
	assert.EqualValues(t, 3, e.fleet.Calls("canary", "GetItem"))
}

func TestMutatingMethodNeverReachesCandidate(t *testing.T) {
	sink := new(metricsSink)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, Metrics: sink},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	const n = 5
	for i := range n {
		resp, err := e.client.PutItem(ctxT(t), &demov1.PutItemRequest{Item: &demov1.Item{Id: "p", PriceCents: int64(i)}})
		require.NoError(t, err)
		assert.EqualValues(t, i, resp.GetItem().GetPriceCents())
	}
	e.wait(t)
	assert.Zero(t, e.fleet.Calls("canary", "PutItem"), "PutItem has no idempotency option and is never copied")
	assert.EqualValues(t, n, e.fleet.Calls("stable", "PutItem"))
	st := e.shadow.Stats()
	assert.EqualValues(t, n, st.Dropped[DropUnsafeMethod])
	_, drops := sink.snapshot()
	assert.Equal(t, map[string]int{DropUnsafeMethod: n}, drops)
	for _, v := range st.Comparisons {
		assert.Zero(t, v)
	}

	// A method the user lists is copied although its descriptor is silent.
	listed := newEnv(t, &Config{Candidate: "canary", Rate: 1, Methods: []string{putItemMethod}, IgnoreFields: []string{"served_by"}},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	_, err := listed.client.PutItem(ctxT(t), &demov1.PutItemRequest{Item: &demov1.Item{Id: "p"}})
	require.NoError(t, err)
	listed.wait(t)
	assert.EqualValues(t, 1, listed.fleet.Calls("canary", "PutItem"))
	assert.EqualValues(t, 1, listed.shadow.Stats().Comparisons[ResultMatch])
}

func TestNoiseLearning(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Baseline: "stable", Rate: 1, IgnoreFields: []string{"served_by"}},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	const n = 4
	for range n {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "e"})
		require.NoError(t, err)
		e.wait(t)
	}
	st := e.shadow.Stats()
	assert.EqualValues(t, n, st.Comparisons[ResultNoise], "generated_at differs on every reply, and between the baseline's too: %+v", st)
	assert.Zero(t, st.Comparisons[ResultMismatch])
	assert.Equal(t, map[string][]string{getItemMethod: {"generated_at"}}, e.shadow.NoisyFields())
	assert.EqualValues(t, n, e.fleet.Calls("canary", "GetItem"))
	assert.EqualValues(t, 2*n, e.fleet.Calls("stable", "GetItem"), "each primary on stable got a baseline copy")
	assert.Equal(t, n, e.obs.roles()["stable/shadow"])

	// A real difference is still reported, with the noise beside it.
	e.fleet.SetFaults("canary", demoserver.Faults{PriceDelta: 3})
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "e"})
	require.NoError(t, err)
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMismatch])
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, []string{"item.price_cents"}, log[0].Fields)
	assert.Equal(t, []string{"generated_at"}, log[0].Noise)
	assert.Empty(t, log[0].Values, "values are left out unless asked for")
}

func TestPrimaryOnCandidateIsSkipped(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	require.NoError(t, e.split.Set("canary", balancer.TotalWeight, "stable"))
	const n = 4
	for range n {
		resp, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "f"})
		require.NoError(t, err)
		assert.Equal(t, "canary", resp.GetServedBy().GetVersion())
	}
	_, err := e.client.GetItem(balancer.ForceVersion(ctxT(t), "canary"), &demov1.GetItemRequest{Id: "f"})
	require.NoError(t, err)
	e.wait(t)
	assert.EqualValues(t, n+1, e.fleet.Calls("canary", "GetItem"), "no copy joins the primaries on the candidate")
	st := e.shadow.Stats()
	assert.EqualValues(t, n+1, st.SkippedOnCandidate)
	assert.Zero(t, st.Comparisons[ResultMatch])
}

func TestPrimaryErrorsAndNoCandidate(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Baseline: "stable", Rate: 1},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	// Both fail alike: a match of status codes.
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	// Only the primary fails.
	e.fleet.SetFaults("stable", demoserver.Faults{ErrorRate: 1})
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "g"})
	require.Equal(t, codes.Unavailable, status.Code(err))
	e.wait(t)
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultMatch])
	assert.EqualValues(t, 1, st.Comparisons[ResultPrimaryError])

	// No noise copy goes to a baseline whose primary failed: only status
	// codes are compared then.
	assert.Zero(t, e.fleet.Servers("stable")[0].ShadowCalls())

	// A primary out of time is not copied.
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = e.client.GetItem(late, &demov1.GetItemRequest{Id: "g"})
	require.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.EqualValues(t, 1, e.shadow.Stats().Dropped[DropTimeout])

	// The candidate goes away: copies are dropped, not counted as errors.
	e.fleet.SetFaults("stable", demoserver.Faults{})
	e.fleet.Servers("canary")[0].Stop()
	eventually(t, func() bool { return len(e.split.ReadyEndpoints("canary")) == 0 }, "canary still READY")
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "g"})
	require.NoError(t, err)
	e.wait(t)
	st = e.shadow.Stats()
	assert.EqualValues(t, 1, st.Dropped[DropNoCandidate], "%+v", st)
	assert.Zero(t, st.Comparisons[ResultShadowError])
}

func TestSampling(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Rate: 0.25, Seed: 7, StickyKey: "x-user-id"},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	const n = 400
	for range n {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "h"})
		require.NoError(t, err)
	}
	e.wait(t)
	copies := e.fleet.Calls("canary", "GetItem")
	assert.InDelta(t, n/4, copies, n/10, "about a quarter of the calls are copied")

	// The same users are shadowed every time.
	shadowed := func(user string) bool {
		before := e.fleet.Calls("canary", "GetItem")
		ctx := withUser(ctxT(t), user)
		_, err := e.client.GetItem(ctx, &demov1.GetItemRequest{Id: "h"})
		require.NoError(t, err)
		e.wait(t)
		return e.fleet.Calls("canary", "GetItem") > before
	}
	in, out := 0, 0
	for i := range 40 {
		user := "user-" + string(rune('a'+i%26)) + string(rune('0'+i/26))
		first := shadowed(user)
		for range 3 {
			assert.Equal(t, first, shadowed(user), "user %s", user)
		}
		if first {
			in++
		} else {
			out++
		}
	}
	assert.Positive(t, in)
	assert.Positive(t, out)

	// Rate 0 copies nothing; the rate can change at run time.
	require.NoError(t, e.shadow.SetRate(0))
	before := e.fleet.Calls("canary", "GetItem")
	for range 20 {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "h"})
		require.NoError(t, err)
	}
	e.wait(t)
	assert.Equal(t, before, e.fleet.Calls("canary", "GetItem"))
	assert.ErrorIs(t, e.shadow.SetRate(2), ErrBadConfig)
	assert.InDelta(t, 0, e.shadow.Stats().Rate, 0)
}

func TestSetCandidate(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}), spec("next", 1, demoserver.Faults{}))
	require.NoError(t, e.shadow.SetCandidate("next"))
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "i"})
	require.NoError(t, err)
	e.wait(t)
	assert.EqualValues(t, 1, e.fleet.Calls("next", "GetItem"))
	assert.Zero(t, e.fleet.Calls("canary", "GetItem"))
	assert.Equal(t, "next", e.shadow.Stats().Candidate)

	require.NoError(t, e.shadow.SetBaseline("stable"))
	err = e.shadow.SetCandidate("stable")
	assert.ErrorContains(t, err, `Candidate = "stable": is the Baseline too`)
	assert.ErrorContains(t, e.shadow.SetCandidate(""), "Candidate: a version name is empty")
	assert.ErrorContains(t, e.shadow.SetBaseline("next"), `Baseline = "next": is the Candidate too`)
	assert.ErrorIs(t, e.shadow.SetRate(2), ErrBadConfig)
	assert.Equal(t, "stable", e.shadow.Stats().Baseline, "a rejected change changes nothing")
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "ninelives: bad shadow config: Candidate: a version name is empty"},
		{Config{Candidate: "a/b"}, `Candidate: version name "a/b" holds '/'`},
		{Config{Candidate: "c", Baseline: "c"}, `Baseline = "c": is the Candidate too`},
		{Config{Candidate: "c", Baseline: "c d"}, `Baseline: version name "c d" holds ' '`},
		{Config{Candidate: "c", Rate: 1.5}, "Rate = 1.5: want a number in [0, 1]"},
		{Config{Candidate: "c", Rate: -0.1}, "Rate = -0.1"},
		{Config{Candidate: "c", Methods: []string{"GetItem"}}, `Methods[0] = "GetItem": want a full method name`},
		{Config{Candidate: "c", IgnoreFields: []string{"item..tags"}}, `IgnoreFields[0] = "item..tags": "" is not a field name`},
		{Config{Candidate: "c", DenyMetadata: []string{"bad key"}}, `DenyMetadata[0]: metadata key "bad key" holds ' '`},
		{Config{Candidate: "c", DenyMetadata: []string{"Authorization"}}, `DenyMetadata[0]: metadata key "Authorization" holds 'A'`},
		{Config{Candidate: "c", StickyKey: "x y"}, `StickyKey: metadata key "x y"`},
		{Config{Candidate: "c", MaxConcurrent: -1}, "MaxConcurrent = -1: want 0 (the default) or more"},
		{Config{Candidate: "c", Timeout: -time.Second}, "Timeout = -1s"},
		{Config{Candidate: "c", Timeout: 30 * time.Second, MaxTimeout: 5 * time.Second}, "Timeout = 30s: above MaxTimeout 5s"},
		{Config{Candidate: "c", NoiseWindow: 3, NoiseMinCount: 4}, "NoiseMinCount = 4: more than NoiseWindow 3"},
	}
	for _, tc := range cases {
		_, err := New(tc.cfg)
		require.Error(t, err, "%+v", tc.cfg)
		assert.ErrorIs(t, err, ErrBadConfig)
		assert.Contains(t, err.Error(), tc.want)
		assert.Regexp(t, "^ninelives: bad shadow config: ", err.Error())
		assert.Equal(t, 1, strings.Count(err.Error(), "ninelives:"), "the prefix once")
		var ce *balancer.ConfigError
		assert.ErrorAs(t, err, &ce)
	}
}

func TestCustomCompare(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	cmp := func(method string, primary, shadow proto.Message) []string {
		mu.Lock()
		seen = append(seen, method)
		mu.Unlock()
		p, s := primary.(*demov1.GetItemResponse), shadow.(*demov1.GetItemResponse)
		assert.Nil(t, s.GetServedBy(), "ignored fields are cleared before the comparison")
		if p.GetItem().GetPriceCents()/100 != s.GetItem().GetPriceCents()/100 {
			return []string{"price in whole units"}
		}
		return nil
	}
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, Compare: cmp, IgnoreFields: []string{"served_by"}},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{PriceDelta: 1}))
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"}) // 3197 vs 3198: same whole units
	require.NoError(t, err)
	e.wait(t)
	e.fleet.SetFaults("canary", demoserver.Faults{PriceDelta: 500})
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err)
	e.wait(t)
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultMatch])
	assert.EqualValues(t, 1, st.Comparisons[ResultMismatch])
	assert.Equal(t, []string{"price in whole units"}, e.shadow.Mismatches()[0].Fields)
	mu.Lock()
	assert.Equal(t, []string{getItemMethod, getItemMethod}, seen)
	mu.Unlock()
	js, err := json.Marshal(st)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"comparisons":{"match":1,"mismatch":1,`)
}

// Servers tell copies apart by Header; the demo server reads the same key.
func TestHeaderIsWhatServersRead(t *testing.T) {
	assert.Equal(t, demoserver.ShadowHeader, Header)
}
