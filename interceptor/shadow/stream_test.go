package shadow_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

func withUser(ctx context.Context, user string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-user-id", user)
}

func listItems(t *testing.T, c demov1.DemoServiceClient, n int32) []*demov1.ListItemsResponse {
	t.Helper()
	st, err := c.ListItems(ctxT(t), &demov1.ListItemsRequest{PageSize: n, Prefix: "l"})
	require.NoError(t, err)
	var out []*demov1.ListItemsResponse
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, m)
	}
}

func countItems(t *testing.T, c demov1.DemoServiceClient, n int) *demov1.CountItemsResponse {
	t.Helper()
	st, err := c.CountItems(ctxT(t))
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, st.Send(&demov1.CountItemsRequest{Id: strconv.Itoa(i)}))
	}
	resp, err := st.CloseAndRecv()
	require.NoError(t, err)
	return resp
}

func echo(t *testing.T, c demov1.DemoServiceClient, n int) []string {
	t.Helper()
	st, err := c.Echo(ctxT(t))
	require.NoError(t, err)
	var got []string
	for i := range n {
		require.NoError(t, st.Send(&demov1.EchoRequest{Text: "m" + strconv.Itoa(i)}))
		m, err := st.Recv()
		require.NoError(t, err)
		got = append(got, m.GetText())
	}
	require.NoError(t, st.CloseSend())
	_, err = st.Recv()
	require.ErrorIs(t, err, io.EOF)
	return got
}

func TestShadowStreams(t *testing.T) {
	sink := new(metricsSink)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, IgnoreFields: []string{"served_by"}, Metrics: sink},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))

	items := listItems(t, e.client, 5)
	require.Len(t, items, 5)
	assert.Equal(t, "stable", items[4].GetServedBy().GetVersion())
	assert.EqualValues(t, 7, countItems(t, e.client, 7).GetCount())
	assert.Equal(t, []string{"m0", "m1", "m2"}, echo(t, e.client, 3))
	e.wait(t)

	for _, m := range []string{"ListItems", "CountItems", "Echo"} {
		assert.EqualValues(t, 1, e.fleet.Calls("canary", m), m)
	}
	comps, drops := sink.snapshot()
	assert.Equal(t, map[string]int{
		"canary " + listItemsMethod + " match":  1,
		"canary " + countItemsMethod + " match": 1,
		"canary " + echoMethod + " match":       1,
	}, comps)
	assert.Empty(t, drops)

	// A changed field in every streamed message is one mismatch of the stream.
	e.fleet.SetFaults("canary", demoserver.Faults{PriceDelta: 1})
	items = listItems(t, e.client, 4)
	require.Len(t, items, 4)
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMismatch])
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, listItemsMethod, log[0].Method)
	assert.Equal(t, []string{"item.price_cents"}, log[0].Fields)

	// The candidate fails: a shadow error, the primary stream untouched.
	e.fleet.SetFaults("canary", demoserver.Faults{ErrorRate: 1})
	assert.Equal(t, []string{"m0", "m1"}, echo(t, e.client, 2))
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultShadowError])
}

func TestShadowStreamWithBaseline(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Baseline: "stable", Rate: 1, IgnoreFields: []string{"served_by"}},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{PriceDelta: 2}))
	require.Len(t, listItems(t, e.client, 3), 3)
	e.wait(t)
	assert.EqualValues(t, 2, e.fleet.Calls("stable", "ListItems"), "the primary and its baseline copy")
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMismatch], "%+v %+v", e.shadow.Stats(), e.shadow.Mismatches())
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, []string{"item.price_cents"}, log[0].Fields)

	// A failed primary is judged by status codes alone: its noise copy is
	// cancelled, and counted neither as noise nor as a drop.
	e.fleet.SetFaults("stable", demoserver.Faults{ErrorRate: 1})
	ls, err := e.client.ListItems(ctxT(t), &demov1.ListItemsRequest{PageSize: 3, Prefix: "l"})
	require.NoError(t, err)
	_, err = ls.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err))
	e.wait(t)
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultPrimaryError], "%+v", st)
	assert.Zero(t, st.Comparisons[ResultNoise])
	for reason, n := range st.Dropped {
		assert.Zero(t, n, reason)
	}
}

func TestShadowStreamBufferLimit(t *testing.T) {
	in := make(chan string, 16)
	sink := new(metricsSink)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, StreamMaxMessages: 4, Metrics: sink},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)))
	canary := e.fleet.Servers("canary")[0]

	// Server stream: the primary's messages pile up waiting for the hung
	// candidate's, past the bound.
	items := listItems(t, e.client, 20)
	assert.Len(t, items, 20, "the primary stream is read in full")
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Dropped[DropStreamBuffer])
	eventually(t, func() bool { return canary.InFlight() == 0 }, "the abandoned copy was cancelled on the candidate")

	// Bidi stream, likewise.
	assert.Len(t, echo(t, e.client, 12), 12)
	e.wait(t)
	assert.EqualValues(t, 2, e.shadow.Stats().Dropped[DropStreamBuffer])

	// Client stream: a client message larger than the byte bound.
	small := newEnv(t, &Config{Candidate: "canary", Rate: 1, StreamMaxBytes: 32},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	cs, err := small.client.CountItems(ctxT(t))
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, cs.Send(&demov1.CountItemsRequest{Id: strings.Repeat("x", 40) + strconv.Itoa(i)}))
	}
	resp, err := cs.CloseAndRecv()
	require.NoError(t, err)
	assert.EqualValues(t, 3, resp.GetCount())
	small.wait(t)
	st := small.shadow.Stats()
	assert.EqualValues(t, 1, st.Dropped[DropStreamBuffer], "%+v", st)
	assert.Zero(t, st.Comparisons[ResultMatch])

	_, drops := sink.snapshot()
	assert.Equal(t, map[string]int{DropStreamBuffer: 2}, drops)
	eventually(t, func() bool { return canary.InFlight() == 0 }, "the candidate's handlers ended")
}

// A candidate that streams more messages than the primary did is a
// mismatch in the message count, however many more it sends: once the
// primary is over, the extra messages can pair with nothing and are counted,
// not buffered.
func TestShadowStreamCandidateSendsTooMany(t *testing.T) {
	in := make(chan string, 16)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, StreamMaxMessages: 8, IgnoreFields: []string{"served_by"}},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(in)))
	require.Len(t, listItems(t, e.client, 2), 2)
	assert.Equal(t, []string{"ListItems"}, entered(t, in, 1), "the copy waits in the candidate")
	// The primary is over; now the candidate answers with 300 items.
	e.fleet.SetFaults("canary", demoserver.Faults{ExtraItems: 298})
	e.wait(t)
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultMismatch], "%+v", st)
	assert.Zero(t, st.Dropped[DropStreamBuffer])
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, []string{PathMessageCount}, log[0].Fields)

	// A candidate that would stream without end is cut off at its first
	// message past the primary's last: a count mismatch again, not a copy
	// left running to its deadline.
	e.fleet.SetFaults("canary", demoserver.Faults{Hang: true})
	require.Len(t, listItems(t, e.client, 2), 2)
	assert.Equal(t, []string{"ListItems"}, entered(t, in, 1))
	e.fleet.SetFaults("canary", demoserver.Faults{ExtraItems: 50_000_000})
	e.wait(t)
	st = e.shadow.Stats()
	assert.EqualValues(t, 2, st.Comparisons[ResultMismatch], "%+v", st)
	assert.Zero(t, st.Comparisons[ResultShadowError])
	canary := e.fleet.Servers("canary")[0]
	eventually(t, func() bool { return canary.InFlight() == 0 }, "the candidate's stream was cancelled")

	// When the primary's stream breaks, the copy is not cut off: it reads
	// on to its own status, which is what a failed primary is judged by.
	// Here both break alike, the candidate one item later: a match.
	e.fleet.SetFaults("stable", demoserver.Faults{FailAfterItems: 2})
	e.fleet.SetFaults("canary", demoserver.Faults{Hang: true})
	ls, err := e.client.ListItems(ctxT(t), &demov1.ListItemsRequest{PageSize: 5, Prefix: "l"})
	require.NoError(t, err)
	var got int
	for {
		if _, err = ls.Recv(); err != nil {
			break
		}
		got++
	}
	require.Equal(t, 2, got)
	require.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, []string{"ListItems"}, entered(t, in, 1))
	e.fleet.SetFaults("canary", demoserver.Faults{FailAfterItems: 3})
	e.wait(t)
	st = e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultMatch], "%+v", st)
	assert.Zero(t, st.Comparisons[ResultPrimaryError])
}

func TestShadowStreamOutlivingItsDeadline(t *testing.T) {
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, Timeout: 50 * time.Millisecond, IgnoreFields: []string{"served_by"}},
		spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	st, err := e.client.Echo(ctxT(t))
	require.NoError(t, err)
	require.NoError(t, st.Send(&demov1.EchoRequest{Text: "x"}))
	_, err = st.Recv()
	require.NoError(t, err)
	// The primary stays open past the copy's deadline: the copy is given up.
	eventually(t, func() bool { return e.shadow.Stats().Dropped[DropTimeout] == 1 }, "the copy was not given up")
	e.wait(t) // the drop is counted a moment before the slot is given back
	assert.Zero(t, e.shadow.Stats().InFlight)
	require.NoError(t, st.Send(&demov1.EchoRequest{Text: "y"}))
	m, err := st.Recv()
	require.NoError(t, err)
	assert.Equal(t, "y", m.GetText(), "the primary goes on untouched")
	require.NoError(t, st.CloseSend())
	_, err = st.Recv()
	require.ErrorIs(t, err, io.EOF)
	e.wait(t)
	assert.Zero(t, e.shadow.Stats().Comparisons[ResultMatch])
}

// A primary stream its caller cancels ends its copy at the copy's first
// message: a copy of a call nobody waits for has nothing to show, however
// long the candidate would stream.
func TestShadowStreamCancelledByItsCallerEndsItsCopy(t *testing.T) {
	inStable, inCanary := make(chan string, 16), make(chan string, 16)
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, Timeout: 30 * time.Second},
		spec("stable", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(inStable)),
		spec("canary", 1, demoserver.Faults{Hang: true}, demoserver.WithEntered(inCanary)))
	ctx, cancel := context.WithCancel(ctxT(t))
	ls, err := e.client.ListItems(ctx, &demov1.ListItemsRequest{PageSize: 5, Prefix: "l"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ListItems"}, entered(t, inStable, 1))
	assert.Equal(t, []string{"ListItems"}, entered(t, inCanary, 1))
	cancel()
	_, err = ls.Recv()
	require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	e.fleet.SetFaults("canary", demoserver.Faults{ExtraItems: 50_000_000})
	e.wait(t) // well before the copy's 30 s deadline
	st := e.shadow.Stats()
	assert.EqualValues(t, 1, st.Comparisons[ResultPrimaryError], "%+v", st)
	canary := e.fleet.Servers("canary")[0]
	eventually(t, func() bool { return canary.InFlight() == 0 }, "the candidate's stream was cancelled")
}
