package shadow_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	. "github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// Messages far above a frame's size, for calls and streams: the copies
// send the primary's request as grpc marshalled it and compare with its
// reply as it came, in many pieces; equal replies match, a changed field is
// named, with a noise copy to the baseline reading the same reply.
func TestLargeMessages(t *testing.T) {
	e := newEnv(t, &Config{
		Candidate: "canary", Baseline: "stable", Rate: 1, StreamMaxBytes: 16 << 20,
		IgnoreFields: []string{"served_by", "generated_at"},
	}, spec("stable", 1, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{}))
	id := strings.Repeat("x", 300<<10)
	resp, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, id, resp.GetItem().GetId())
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMatch], "%+v", e.shadow.Stats())

	e.fleet.SetFaults("canary", demoserver.Faults{PriceDelta: 1})
	_, err = e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: id})
	require.NoError(t, err)
	e.wait(t)
	assert.EqualValues(t, 1, e.shadow.Stats().Comparisons[ResultMismatch], "%+v", e.shadow.Stats())
	log := e.shadow.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, []string{"item.price_cents"}, log[0].Fields)

	st, err := e.client.Echo(ctxT(t))
	require.NoError(t, err)
	for _, c := range "abc" {
		text := strings.Repeat(string(c), 200<<10)
		require.NoError(t, st.Send(&demov1.EchoRequest{Text: text}))
		m, err := st.Recv()
		require.NoError(t, err)
		require.Equal(t, text, m.GetText())
	}
	require.NoError(t, st.CloseSend())
	_, err = st.Recv()
	require.ErrorIs(t, err, io.EOF)
	e.wait(t)
	assert.EqualValues(t, 2, e.shadow.Stats().Comparisons[ResultMatch], "%+v", e.shadow.Stats())
	assert.EqualValues(t, 3, e.fleet.Calls("canary", "GetItem")+e.fleet.Calls("canary", "Echo"))
}

// A slow candidate under more calls than the bound takes, unary and
// streams from many callers at once: every primary succeeds, the candidate
// never has more copies than the bound, and every sampled call is counted
// once, compared or dropped. Then Close amid such a load, with the bound
// full of copies the candidate holds: the primaries still succeed, and no
// copy nor goroutine of one is left.
func TestSlowCandidateWithTheBoundFull(t *testing.T) {
	const bound, callers, each = 3, 8, 20
	e := newEnv(t, &Config{Candidate: "canary", Rate: 1, MaxConcurrent: bound, IgnoreFields: []string{"served_by", "generated_at"}},
		spec("stable", 2, demoserver.Faults{}), spec("canary", 1, demoserver.Faults{Latency: 20 * time.Millisecond}))
	before := goleak.IgnoreCurrent()
	load(t, e, callers, each)
	e.wait(t)
	st := e.shadow.Stats()
	var counted int64
	for _, n := range st.Comparisons {
		counted += n
	}
	assert.Positive(t, st.Comparisons[ResultMatch], "%+v", st)
	assert.EqualValues(t, callers*each, counted+st.Dropped[DropConcurrency], "%+v", st)
	assert.LessOrEqual(t, e.fleet.Servers("canary")[0].MaxInFlight(), int64(bound))

	e.fleet.SetFaults("canary", demoserver.Faults{Hang: true})
	var wg sync.WaitGroup
	wg.Go(func() { load(t, e, callers, each) })
	eventually(t, func() bool { return e.shadow.Stats().InFlight == bound }, "the bound full")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.shadow.Close(ctx); err != nil {
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.Zero(t, e.shadow.Stats().InFlight)
	wg.Wait()
	eventually(t, func() bool { return e.fleet.Servers("canary")[0].InFlight() == 0 }, "the candidate saw the copies cancelled")
	goleak.VerifyNone(t, before)
}

// load makes each calls from each of callers goroutines: GetItem, with a
// ListItems stream every fifth call. Every primary must succeed.
func load(t *testing.T, e *env, callers, each int) {
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if (c+i)%5 == 0 {
					assert.NoError(t, drain(e.client.ListItems(ctxT(t), &demov1.ListItemsRequest{PageSize: 2})))
					continue
				}
				_, err := e.client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "s"})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}

// drain reads a stream to its end.
func drain(st demov1.DemoService_ListItemsClient, err error) error {
	for err == nil {
		_, err = st.Recv()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
