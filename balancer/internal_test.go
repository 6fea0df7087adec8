package balancer

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStickyPointIsMonotoneInWeights(t *testing.T) {
	// The placement rule itself, exhaustively over canary weights: a key in
	// the canary at weight w stays there at every larger weight.
	for i := range 2000 {
		p := StickyPoint("k" + strconv.Itoa(i))
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
