package rescue_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// safeCall is one call of a safe method of each kind; it returns the
// version that answered.
type safeCall struct {
	name string
	call func(ctx context.Context, c demov1.DemoServiceClient) (string, error)
}

var safeCalls = []safeCall{
	{"unary", func(ctx context.Context, c demov1.DemoServiceClient) (string, error) {
		r, err := c.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		return r.GetServedBy().GetVersion(), err
	}},
	{"server stream", listItems},
	{"client stream", countItems},
	{"bidi stream", echo},
}

func listItems(ctx context.Context, c demov1.DemoServiceClient) (string, error) {
	s, err := c.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 3, Prefix: "p"})
	if err != nil {
		return "", err
	}
	var v string
	for i := 0; ; i++ {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			if i != 3 {
				return v, errors.New("want 3 items, got " + strconv.Itoa(i))
			}
			return v, nil
		}
		if err != nil {
			return v, err
		}
		v = m.GetServedBy().GetVersion()
	}
}

func countItems(ctx context.Context, c demov1.DemoServiceClient) (string, error) {
	s, err := c.CountItems(ctx)
	if err != nil {
		return "", err
	}
	for i := range 3 {
		if err := s.Send(&demov1.CountItemsRequest{Id: strconv.Itoa(i)}); err != nil {
			return "", err
		}
	}
	r, err := s.CloseAndRecv()
	if err == nil && r.GetCount() != 3 {
		err = errors.New("want a count of 3, got " + strconv.FormatInt(r.GetCount(), 10))
	}
	return r.GetServedBy().GetVersion(), err
}

func echo(ctx context.Context, c demov1.DemoServiceClient) (string, error) {
	s, err := c.Echo(ctx)
	if err != nil {
		return "", err
	}
	var v string
	for _, text := range []string{"a", "b"} {
		if err := s.Send(&demov1.EchoRequest{Text: text}); err != nil {
			return "", err
		}
		m, err := s.Recv()
		if err != nil {
			return "", err
		}
		if m.GetText() != text {
			return "", errors.New("echo of " + text + " is " + m.GetText())
		}
		v = m.GetServedBy().GetVersion()
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		return "", err
	}
	return v, nil
}

func TestFailingCanaryCostsNoUserCallOfASafeMethod(t *testing.T) {
	// The canary fails every call with Unavailable at 20 %; a budget above
	// that share is never exhausted.
	e := newEnv(t, rescue.Config{BudgetRatio: 0.3}, 2000, spec("stable", 2, healthy), spec("canary", 1, failing))
	const n = 50
	rescued := 0
	for _, sc := range safeCalls {
		e.obs.reset()
		for i := range n {
			v, err := sc.call(ctxT(t), e.client)
			require.NoError(t, err, "%s call %d", sc.name, i)
			assert.Equal(t, "stable", v)
		}
		got := e.obs.roles()
		failed := got["canary/primary"]
		assert.InDelta(t, 0.2*n, failed, 0.1*n, "%s: about a fifth of the calls went to the canary: %v", sc.name, got)
		assert.Equal(t, map[string]int{"canary/primary": failed, "stable/rescue": failed, "stable/primary": n - failed}, got,
			"%s: each failure was rescued once, as a rescue of the baseline", sc.name)
		if sc.name == "unary" || sc.name == "server stream" {
			assert.Equal(t, failed, e.obs.count()["canary/primary/Unavailable"], "the candidate's failures are counted")
		}
		rescued += failed
	}
	st := e.rs.Stats()
	assert.Equal(t, rescue.Stats{Calls: 4 * n, Rescued: int64(rescued), Tokens: st.Tokens}, st)

	// A method that is not safe to repeat fails as it would without the
	// interceptor.
	e.obs.reset()
	userFailures := 0
	for range n {
		_, err := e.client.PutItem(ctxT(t), &demov1.PutItemRequest{Item: &demov1.Item{Id: "a"}})
		if err != nil {
			assert.Equal(t, codes.Unavailable, codeOf(err))
			userFailures++
		}
	}
	got := e.obs.count()
	assert.Positive(t, userFailures)
	assert.Equal(t, userFailures, got["canary/primary/Unavailable"], "%v", got)
	assert.Zero(t, got["stable/rescue/OK"], "%v", got)
	assert.EqualValues(t, rescued, e.rs.Stats().Rescued, "no rescue of an unsafe method")
}

func TestHangingCanaryIsAnsweredByTheBaselineAfterTheHedgeDelay(t *testing.T) {
	in := make(chan string, 16)
	const delay = 50 * time.Millisecond
	e := newEnv(t, rescue.Config{HedgeMinSamples: 1, MinHedgeDelay: delay}, 0,
		spec("stable", 1, healthy), spec("canary", 1, hanging, demoserver.WithEntered(in)))
	canary := e.fleet.Servers("canary")[0]

	// The delay is learnt from the baseline's answers before the canary
	// has any weight; on a clock that stands still they take no time, so
	// it is the floor.
	for _, sc := range safeCalls {
		_, err := sc.call(ctxT(t), e.client)
		require.NoError(t, err)
	}
	d, ok := e.rs.HedgeDelay(getItem)
	require.True(t, ok)
	assert.Equal(t, delay, d)
	_, ok = e.rs.HedgeDelay(putItem)
	assert.False(t, ok, "an unsafe method has no delay")

	require.NoError(t, e.split.Set("canary", balancer.TotalWeight, "stable"))
	e.obs.reset()
	for _, sc := range safeCalls {
		t.Run(sc.name, func(t *testing.T) {
			type result struct {
				version string
				err     error
			}
			done := make(chan result, 1)
			go func() {
				v, err := sc.call(ctxT(t), e.client)
				done <- result{v, err}
			}()
			select {
			case <-in:
			case <-time.After(10 * time.Second):
				t.Fatal("the call never reached the canary")
			}
			waitFor(t, func() bool { return e.clock.pending() == 1 }, "the hedge timer")
			assert.Equal(t, []time.Duration{delay}, e.clock.fire())
			select {
			case r := <-done:
				require.NoError(t, r.err)
				assert.Equal(t, "stable", r.version)
			case <-time.After(10 * time.Second):
				t.Fatal("the call was not rescued")
			}
			waitFor(t, func() bool { return canary.InFlight() == 0 }, "the hung attempt to be cancelled")
		})
	}
	got := e.obs.count()
	k := len(safeCalls)
	assert.Equal(t, map[string]int{"canary/primary/Canceled": k, "stable/rescue/OK": k}, got,
		"the candidate's attempts count as cut short, the answers as rescues")
	st := e.rs.Stats()
	assert.EqualValues(t, k, st.Hedged)
	assert.EqualValues(t, k, st.Rescued)
}

func TestExhaustedBudgetLetsFailuresThrough(t *testing.T) {
	e := newEnv(t, rescue.Config{BudgetBurst: 5, BudgetRatio: 0.1}, balancer.TotalWeight,
		spec("stable", 1, healthy), spec("canary", 1, failing))
	const n = 100
	failures := 0
	for range n {
		if _, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"}); err != nil {
			assert.Equal(t, codes.Unavailable, codeOf(err))
			failures++
		}
	}
	st := e.rs.Stats()
	// 5 from the full bucket, then one each time ten calls have earned a
	// token: calls 11, 21, … 91.
	assert.EqualValues(t, 14, st.Rescued)
	assert.LessOrEqual(t, float64(st.Rescued+st.RescueFailed), 5+0.1*float64(st.Calls), "the budget's bound")
	assert.Equal(t, n-14, failures)
	assert.EqualValues(t, failures, st.Throttled)
	assert.EqualValues(t, 14, e.fleet.Calls("stable", "GetItem"), "the baseline saw only the rescues")
}

func TestCallsThatAreNotRescued(t *testing.T) {
	e := newEnv(t, rescue.Config{}, balancer.TotalWeight, spec("stable", 1, healthy), spec("canary", 1, failing))
	get := func(ctx context.Context) error {
		_, err := e.client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
		return err
	}
	cases := map[string]func() error{
		"unsafe method": func() error {
			_, err := e.client.PutItem(ctxT(t), &demov1.PutItemRequest{Item: &demov1.Item{Id: "a"}})
			return err
		},
		"forced version":  func() error { return get(balancer.ForceVersion(ctxT(t), "canary")) },
		"forced endpoint": func() error { return get(balancer.ForceEndpoint(ctxT(t), e.fleet.Servers("canary")[0].Addr())) },
		"override key":    func() error { return get(metadata.AppendToOutgoingContext(ctxT(t), "x-version", "canary")) },
		"caller gone": func() error {
			ctx, cancel := context.WithCancel(ctxT(t))
			cancel()
			return get(ctx)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := f()
			assert.Contains(t, []codes.Code{codes.Unavailable, codes.Canceled}, codeOf(err), "%v", err)
		})
	}
	assert.Zero(t, e.fleet.Calls("stable", "GetItem")+e.fleet.Calls("stable", "PutItem"))
	st := e.rs.Stats()
	assert.Zero(t, st.Rescued+st.RescueFailed+st.Throttled)

	// A code that says the request is bad is the request's fault, not the
	// candidate's.
	e.fleet.SetFaults("canary", healthy)
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: ""})
	assert.Equal(t, codes.InvalidArgument, codeOf(err))
	assert.Zero(t, e.fleet.Calls("stable", "GetItem"))
}

func TestFailingBaselineEndsTheCallWithItsError(t *testing.T) {
	e := newEnv(t, rescue.Config{}, balancer.TotalWeight, spec("stable", 1, failing), spec("canary", 1, failing))
	const n = 20
	for _, sc := range safeCalls {
		for range n {
			_, err := sc.call(ctxT(t), e.client)
			assert.Equal(t, codes.Unavailable, codeOf(err))
			assert.ErrorContains(t, err, "injected failure in stable", "the caller gets the baseline's error")
		}
	}
	k := len(safeCalls) * n
	assert.Equal(t, map[string]int{"canary/primary": k, "stable/rescue": k}, e.obs.roles(),
		"one rescue a call, never a rescue of a rescue")
	st := e.rs.Stats()
	assert.EqualValues(t, k, st.RescueFailed)
	assert.Zero(t, st.Rescued)
}

func TestBaselineThatIsNotAVersionOfTheService(t *testing.T) {
	e := newEnv(t, rescue.Config{}, balancer.TotalWeight, spec("stable", 1, healthy), spec("canary", 1, failing))
	require.NoError(t, e.rs.SetVersions("canary", "stabel"))
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.Unimplemented, codeOf(err))
	assert.ErrorContains(t, err, `forced version "stabel" is not a version of this service`, "the misspelt baseline is named")
	assert.EqualValues(t, 1, e.rs.Stats().RescueFailed)
}

func TestNothingIsWatchedWhileTheCandidateHasNoWeight(t *testing.T) {
	e := newEnv(t, rescue.Config{HedgeMinSamples: 1}, 0, spec("stable", 1, healthy), spec("canary", 1, failing))
	// A call forced to the canary is never rescued; with no weight on the
	// canary, nor is anything else: nothing is watched, the calls are
	// only timed.
	for range 10 {
		_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
	}
	_, ok := e.rs.HedgeDelay(getItem)
	assert.True(t, ok, "the baseline's answers teach the delay")
	_, err := e.client.GetItem(metadata.AppendToOutgoingContext(ctxT(t), "x-version", "canary"), &demov1.GetItemRequest{Id: "a"})
	assert.Equal(t, codes.Unavailable, codeOf(err))
	assert.Equal(t, rescue.Stats{Calls: 11, Tokens: 100}, e.rs.Stats())
}

func TestAStreamThatHasAnsweredIsNeverRescued(t *testing.T) {
	breaks := demoserver.Faults{FailAfterItems: 1}
	e := newEnv(t, rescue.Config{}, balancer.TotalWeight, spec("stable", 1, healthy), spec("canary", 1, breaks))
	s, err := e.client.ListItems(ctxT(t), &demov1.ListItemsRequest{PageSize: 3})
	require.NoError(t, err)
	m, err := s.Recv()
	require.NoError(t, err)
	assert.Equal(t, "canary", m.GetServedBy().GetVersion())
	_, err = s.Recv()
	assert.Equal(t, codes.Unavailable, codeOf(err), "the caller has the canary's first item: a replay would repeat it")
	assert.Zero(t, e.fleet.Calls("stable", "ListItems"))
	assert.Zero(t, e.rs.Stats().Rescued+e.rs.Stats().Throttled)
}

func TestAClientStreamPastTheBufferIsNotRescued(t *testing.T) {
	e := newEnv(t, rescue.Config{StreamMaxMessages: 2}, balancer.TotalWeight, spec("stable", 1, healthy), spec("canary", 1, failing))
	_, err := countItems(ctxT(t), e.client) // three messages: one more than kept
	assert.Error(t, err)
	assert.Zero(t, e.fleet.Calls("stable", "CountItems"))
	assert.Zero(t, e.rs.Stats().Rescued)
}

func TestAHedgeTheBudgetCannotPayForLeavesTheCallRunning(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, rescue.Config{HedgeMinSamples: 1, BudgetBurst: 1}, 0,
		spec("stable", 1, healthy), spec("canary", 1, hanging, demoserver.WithEntered(in)))
	_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
	require.NoError(t, err, "teaches the delay")
	require.NoError(t, e.split.Set("canary", balancer.TotalWeight, "stable"))

	for i, want := range []codes.Code{codes.OK, codes.DeadlineExceeded} {
		ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
		done := make(chan error, 1)
		go func() {
			_, err := e.client.GetItem(ctx, &demov1.GetItemRequest{Id: "a"})
			done <- err
		}()
		<-in
		waitFor(t, func() bool { return e.clock.pending() == 1 }, "the hedge timer")
		e.clock.fire()
		assert.Equal(t, want, codeOf(<-done), "call %d", i)
		cancel()
	}
	st := e.rs.Stats()
	assert.EqualValues(t, 1, st.Hedged, "the one token paid for the first hedge")
	assert.EqualValues(t, 1, st.Throttled, "the second ran on until the caller's deadline")
}

func TestABidiStreamIsReplayedToTheBaseline(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, rescue.Config{HedgeMinSamples: 1}, 0,
		spec("stable", 1, healthy), spec("canary", 1, hanging, demoserver.WithEntered(in)))
	_, err := echo(ctxT(t), e.client)
	require.NoError(t, err, "teaches the delay")
	require.NoError(t, e.split.Set("canary", balancer.TotalWeight, "stable"))

	s, err := e.client.Echo(ctxT(t))
	require.NoError(t, err)
	<-in
	sent := make(chan struct{})
	go func() { // a sender of its own, as gRPC allows beside the receiver
		defer close(sent)
		for _, text := range []string{"a", "b"} {
			assert.NoError(t, s.Send(&demov1.EchoRequest{Text: text}))
		}
	}()
	<-sent
	got := make(chan *demov1.EchoResponse, 1)
	go func() {
		m, err := s.Recv()
		assert.NoError(t, err)
		got <- m
	}()
	waitFor(t, func() bool { return e.clock.pending() == 1 }, "the hedge timer")
	e.clock.fire()
	m := <-got
	assert.Equal(t, "a", m.GetText())
	assert.Equal(t, "stable", m.GetServedBy().GetVersion())
	require.NoError(t, s.Send(&demov1.EchoRequest{Text: "c"}))
	require.NoError(t, s.CloseSend())
	for _, want := range []string{"b", "c"} {
		m, err := s.Recv()
		require.NoError(t, err)
		assert.Equal(t, want, m.GetText(), "the kept messages, then the new one, in order")
	}
	_, err = s.Recv()
	assert.ErrorIs(t, err, io.EOF)
	assert.EqualValues(t, 1, e.rs.Stats().Hedged)
}
