package warmup_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	. "github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// downFleet is three stable endpoints, the last one stopped and no longer
// READY; targets lists all three.
func downFleet(t *testing.T, opts ...demoserver.Option) (*env, []string) {
	t.Helper()
	e := newEnv(t, spec("stable", 3, opts...))
	servers := e.fleet.Servers("stable")
	var targets []string
	for _, s := range servers {
		targets = append(targets, s.Addr())
	}
	servers[2].Stop()
	eventually(t, func() bool { return len(e.split.ReadyEndpoints("stable")) == 2 }, "the stopped endpoint is still READY")
	assert.ElementsMatch(t, targets[:2], e.split.ReadyEndpoints("stable"))
	return e, targets
}

func TestForkJoinWithOneEndpointDown(t *testing.T) {
	e, targets := downFleet(t)
	servers := e.fleet.Servers("stable")

	res, err := ForkJoin(ctxT(t), e.cc, targets, getItemCall, WithJoin(JoinAll()))
	require.ErrorIs(t, err, ErrJoinFailed)
	assert.Contains(t, err.Error(), "join all: 2 of 3 endpoints succeeded, 3 needed; "+targets[2])
	require.Len(t, res.Results, 3)
	assert.Equal(t, 2, res.Succeeded)
	assert.Equal(t, 1, res.Failed)
	for i, r := range res.Results {
		assert.Equal(t, targets[i], r.Addr)
		assert.True(t, r.Started)
		assert.False(t, r.Canceled)
	}
	assert.NoError(t, res.Results[0].Err)
	assert.NoError(t, res.Results[1].Err)
	assert.Equal(t, codes.Unavailable, status.Code(res.Results[2].Err))
	assert.Positive(t, res.Results[0].Latency)
	assert.EqualValues(t, 1, servers[0].Calls("GetItem"), "each endpoint got exactly one call")
	assert.EqualValues(t, 1, servers[1].Calls("GetItem"))
	assert.Equal(t, 2, e.obs.roles()["stable/warmup"], "fork-join calls carry the warm-up role: %v", e.obs.roles())
	_, err = json.Marshal(res)
	assert.NoError(t, err)

	res, err = ForkJoin(ctxT(t), e.cc, targets, getItemCall, WithJoin(JoinQuorum(2)), WithConcurrency(1))
	require.NoError(t, err)
	assert.Equal(t, "quorum(2)", res.Join)
	assert.Equal(t, 2, res.Succeeded)

	// A quorum that can no longer be met fails at once and cancels the
	// rest: here the healthy endpoints' calls wait for that cancel.
	held := func(ctx context.Context, cc *grpc.ClientConn) error {
		if addr, _ := call.ForcedEndpoint(ctx); addr != targets[2] {
			<-ctx.Done() // the join's own cancel, once the down call has failed
		}
		return getItemCall(ctx, cc)
	}
	res, err = ForkJoin(ctxT(t), e.cc, targets, held, WithJoin(JoinQuorum(3)))
	require.ErrorIs(t, err, ErrJoinFailed)
	assert.Contains(t, err.Error(), "join quorum(3): 0 of 3 endpoints succeeded, 3 needed; "+targets[2])
	assert.Equal(t, codes.Unavailable, status.Code(res.Results[2].Err))
	assert.False(t, res.Results[2].Canceled)
	for _, r := range res.Results[:2] {
		assert.True(t, r.Canceled, "%+v", r)
		assert.Equal(t, codes.Canceled, status.Code(r.Err))
	}
	assert.Equal(t, 0, res.Succeeded)
	assert.Equal(t, 1, res.Failed, "the cancelled calls are not failures")
}

func TestForkJoinFirstCancelsTheOthers(t *testing.T) {
	in := make(chan string, 16)
	e, targets := downFleet(t, demoserver.WithEntered(in))
	hung := e.fleet.Servers("stable")[1]
	hung.SetFaults(demoserver.Faults{Hang: true})

	// The healthy endpoint's call waits until the hung endpoint's call is in
	// its handler and the down endpoint's call has failed, so First has
	// something to cancel.
	order := []string{targets[1], targets[2], targets[0]}
	hungIn, downDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(hungIn)
		select {
		case <-in:
		case <-time.After(10 * time.Second):
		}
	}()
	call := func(ctx context.Context, cc *grpc.ClientConn) error {
		switch addr, _ := call.ForcedEndpoint(ctx); addr {
		case targets[2]:
			defer close(downDone)
		case targets[0]:
			<-hungIn
			<-downDone
		}
		return getItemCall(ctx, cc)
	}
	res, err := ForkJoin(ctxT(t), e.cc, order, call, WithJoin(JoinFirst()))
	require.NoError(t, err)
	assert.Equal(t, "first", res.Join)
	assert.Equal(t, 1, res.Succeeded)
	hungRes := res.Results[0]
	assert.True(t, hungRes.Canceled, "%+v", hungRes)
	assert.Equal(t, codes.Canceled, status.Code(hungRes.Err))
	assert.Equal(t, codes.Unavailable, status.Code(res.Results[1].Err))
	assert.False(t, res.Results[1].Canceled, "it failed before the join was decided")
	assert.Equal(t, 1, res.Failed, "the down endpoint; the cancelled call is not a failure")
	assert.NoError(t, res.Results[2].Err)
	eventually(t, func() bool { return hung.InFlight() == 0 }, "the cancel reached the hung handler")
	hung.SetFaults(demoserver.Faults{})

	// Cancelling the caller's context cancels every call.
	for len(in) > 0 {
		<-in
	}
	hung.SetFaults(demoserver.Faults{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		select {
		case <-in:
		case <-time.After(10 * time.Second):
		}
	}()
	res, err = ForkJoin(ctx, e.cc, targets[1:2], getItemCall)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, codes.Canceled, status.Code(res.Results[0].Err))
	assert.True(t, res.Results[0].Canceled)
	assert.Zero(t, res.Failed)
	assert.EqualValues(t, 2, hung.Calls("GetItem"), "the call reached the handler before the cancel")

	// The caller's deadline likewise: the call it cuts short is cancelled,
	// not failed, whether the client's timer ends it or the hung server,
	// holding the deadline grpc sent it, answers first.
	for range 20 {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		res, err = ForkJoin(dctx, e.cc, targets[1:2], getItemCall)
		dcancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, codes.DeadlineExceeded, status.Code(res.Results[0].Err))
		assert.True(t, res.Results[0].Canceled, "%+v", res.Results[0])
		assert.Zero(t, res.Failed)
	}
	hung.SetFaults(demoserver.Faults{})
}

func TestForkJoinRejectsBadArguments(t *testing.T) {
	e := newEnv(t, spec("stable", 1))
	a := []string{"127.0.0.1:1", "127.0.0.1:2"}
	cases := []struct {
		cc      *grpc.ClientConn
		targets []string
		call    CallFunc
		opts    []ForkJoinOption
		want    string
	}{
		{nil, a, getItemCall, nil, "ninelives: bad warmup config: cc: is nil"},
		{e.cc, a, nil, nil, "call: is nil"},
		{e.cc, nil, getItemCall, nil, "targets: is empty"},
		{e.cc, []string{"x", ""}, getItemCall, nil, "targets[1]: is empty"},
		{e.cc, []string{"x", "x"}, getItemCall, nil, `targets[1] = "x": repeats targets[0]`},
		{e.cc, a, getItemCall, []ForkJoinOption{WithJoin(JoinQuorum(3))}, "JoinQuorum = 3: want 1..2"},
		{e.cc, a, getItemCall, []ForkJoinOption{WithConcurrency(-1)}, "WithConcurrency = -1: want 0"},
		{e.cc, a, getItemCall, []ForkJoinOption{WithRole("")}, `WithRole = "": is empty`},
	}
	for _, tc := range cases {
		res, err := ForkJoin(ctxT(t), tc.cc, tc.targets, tc.call, tc.opts...)
		assert.Nil(t, res)
		require.ErrorIs(t, err, ErrBadConfig)
		assert.Contains(t, err.Error(), tc.want)
	}
	cfg := Config{Calls: []CallFunc{getItemCall}}
	_, err := Version(ctxT(t), e.cc, nil, "stable", cfg)
	assert.EqualError(t, err, "ninelives: bad warmup config: split: is nil")
	_, err = Version(ctxT(t), e.cc, e.split, "a b", cfg)
	assert.ErrorIs(t, err, ErrBadConfig)
	assert.ErrorContains(t, err, `version: version name "a b" holds ' '`)
}

func TestForkJoinRole(t *testing.T) {
	e := newEnv(t, spec("stable", 2))
	_, err := ForkJoin(ctxT(t), e.cc, e.split.ReadyEndpoints("stable"), getItemCall, WithRole(balancer.RolePrimary))
	require.NoError(t, err)
	assert.Equal(t, 2, e.obs.roles()["stable/primary"])
}

// A call that fails by a deadline of its own is a failure, even when it
// returns after the join has decided; only the join's own end cancels.
func TestForkJoinOwnDeadlineIsAFailure(t *testing.T) {
	e, targets := downFleet(t)
	ownFailed := make(chan struct{})
	call := func(ctx context.Context, cc *grpc.ClientConn) error {
		if addr, _ := call.ForcedEndpoint(ctx); addr == targets[1] {
			own, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			err := getItemCall(own, cc)
			if status.Code(err) != codes.DeadlineExceeded {
				// The call beat its millisecond: fail it by its own deadline anyway.
				<-own.Done()
				err = status.FromContextError(own.Err()).Err()
			}
			close(ownFailed)
			<-ctx.Done() // returns only after the join has decided
			return err
		}
		<-ownFailed // succeeds only once the other call has failed on its own
		return getItemCall(ctx, cc)
	}
	res, err := ForkJoin(ctxT(t), e.cc, targets[:2], call, WithJoin(JoinFirst()))
	require.NoError(t, err)
	assert.NoError(t, res.Results[0].Err)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(res.Results[1].Err))
	assert.False(t, res.Results[1].Canceled, "%+v", res.Results[1])
	assert.Equal(t, 1, res.Failed)
}
