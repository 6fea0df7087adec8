package rescue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/interceptor/rescue"
	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/proto/demoserver/demotest"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// With the shadow interceptor before it in the chain, the shadow sees a
// rescued call as the baseline's: it compares the candidate with the
// answer the caller got, instead of skipping a call "on the candidate".
func TestShadowBeforeRescueSeesTheBaselinesAnswer(t *testing.T) {
	fleet := demotest.Fleet(t, spec("stable", 1, healthy), spec("canary", 1, failing))
	split := balancer.MustSplit(
		balancer.Weight{Version: "stable", Weight: 0},
		balancer.Weight{Version: "canary", Weight: balancer.TotalWeight})
	sh, err := shadow.New(shadow.Config{Candidate: "canary", Rate: 1})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sh.Close(ctx))
	})
	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable"})
	require.NoError(t, err)
	cc := demotest.Dial(t, fleet.Target(), balancer.WithSplit(split),
		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor(), rs.UnaryClientInterceptor()))
	client := demov1.NewDemoServiceClient(cc)

	const n = 5
	for range n {
		resp, err := client.GetItem(ctxT(t), &demov1.GetItemRequest{Id: "a"})
		require.NoError(t, err)
		assert.Equal(t, "stable", resp.GetServedBy().GetVersion())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sh.Wait(ctx))
	st := sh.Stats()
	assert.Zero(t, st.SkippedOnCandidate)
	assert.EqualValues(t, n, st.Comparisons[shadow.ResultShadowError], "the failing candidate's copies: %+v", st)
	assert.EqualValues(t, n, rs.Stats().Rescued, "the shadow's copies, forced to the candidate, are not rescued")
}
