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
