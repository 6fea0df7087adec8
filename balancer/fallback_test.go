package balancer_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
)

// A version that is down gives its share to the versions that can serve in
// proportion to their weights (contract 2), not all of it to a neighbour.
func TestFallbackSplitsTheShareByTheReadyWeights(t *testing.T) {
	weights := []Weight{{"a", 5000}, {"b", 2500}, {"c", 2500}}
	cases := []struct {
		down []string
		want map[string]float64
	}{
		{[]string{"a"}, map[string]float64{"b": 0.5, "c": 0.5}},
		{[]string{"b"}, map[string]float64{"a": 2.0 / 3, "c": 1.0 / 3}},
		{[]string{"c"}, map[string]float64{"a": 2.0 / 3, "b": 1.0 / 3}},
		{[]string{"a", "c"}, map[string]float64{"b": 1}},
		{[]string{"b", "c"}, map[string]float64{"a": 1}},
	}
	for _, tc := range cases {
		t.Run("down="+strings.Join(tc.down, "+"), func(t *testing.T) {
			f := startFleet(t, "a", 1, "b", 1, "c", 1)
			split := MustSplit(weights...)
			rec := new(recorder)
			defer split.AddObserver(rec)()
			cc := dial(t, f.Target(), WithSplit(split))
			connect(t, cc)
			waitReady(t, split, map[string]int{"a": 1, "b": 1, "c": 1})
			want := map[string]int{"a": 1, "b": 1, "c": 1}
			for _, v := range tc.down {
				f.Servers(v)[0].Stop()
				want[v] = 0
			}
			waitReady(t, split, want)

			// The picker's own golden-ratio sequence drives the choice, so the
			// shares are deterministic but for a restart of the sequence when
			// grpc rebuilds the picker; a binomial bound of four standard
			// deviations is far wider than either.
			const n = 4000
			got := tally(t, cc, n, 4, bg)
			t.Logf("down %v: %v of %d", tc.down, got, n)
			for _, v := range []string{"a", "b", "c"} {
				p := tc.want[v]
				tol := 4*math.Sqrt(n*p*(1-p)) + 2
				assert.InDelta(t, p*n, float64(got[v]), tol, "%s: %v", v, got)
			}
			for _, v := range tc.down {
				assert.Positive(t, rec.fallbackCount(v), "fallbacks are counted against %s", v)
			}

			// A sticky key keeps to one version while the weights and the
			// endpoints stay as they are, fallback included.
			first := map[string]string{}
			for i := range 300 {
				key := "user-" + strconv.Itoa(i)
				r, err := getItem(WithStickyKey(context.Background(), key), cc, "a")
				require.NoError(t, err)
				first[key] = r.GetServedBy().GetVersion()
			}
			for key, v := range first {
				r, err := getItem(WithStickyKey(context.Background(), key), cc, "a")
				require.NoError(t, err)
				assert.Equal(t, v, r.GetServedBy().GetVersion(), key)
				assert.NotContains(t, tc.down, v)
				if own := versionAt(split, int(call.StickyPoint(key))); !slices.Contains(tc.down, own) {
					assert.Equal(t, own, v, "a key of a ready version stays in it: %s", key)
				}
			}
		})
	}
}

// versionAt is the version whose interval of the cumulative weights holds p.
func versionAt(s *Split, p int) string {
	c := 0
	for _, w := range s.Weights() {
		c += w.Weight
		if p < c {
			return w.Version
		}
	}
	return ""
}
