package chaos_test

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/cookbook/internal/chaos"
)

// samples are a soak's samples, one a minute, whose heap is heap[i].
func samples(heap ...uint64) []chaos.SoakSample {
	var out []chaos.SoakSample
	for i, h := range heap {
		out = append(out, chaos.SoakSample{At: time.Duration(i) * time.Minute,
			Sample: chaos.Sample{Goroutines: 100, HeapBytes: h << 20, FDs: 20}, EtcdBytes: 4 << 20})
	}
	return out
}

func TestGrowthIsMeasuredFromTheWarmupsEnd(t *testing.T) {
	// The heap doubles during the warm-up, then grows 5 %: flat.
	g, ok := chaos.GrowthOf(samples(10, 15, 20, 20, 21), 2*time.Minute)
	require.True(t, ok)
	assert.Equal(t, 2*time.Minute, g.From)
	assert.Equal(t, 4*time.Minute, g.To)
	assert.InDelta(t, 0.05, g.Heap, 1e-9)
	assert.Zero(t, g.Goroutines)
	flat, over := g.Flat()
	assert.True(t, flat, over)

	// 20 % after it: not flat, and the heap is named.
	g, ok = chaos.GrowthOf(samples(10, 20, 22, 24), time.Minute)
	require.True(t, ok)
	flat, over = g.Flat()
	assert.False(t, flat)
	assert.Equal(t, []string{"heap +20.0 %"}, over)

	// Nothing after the warm-up's end: no measure.
	_, ok = chaos.GrowthOf(samples(10, 20), time.Minute)
	assert.False(t, ok)
}

func TestSoakTableAndPlot(t *testing.T) {
	ss := samples(10, 12, 12, 13)
	g, ok := chaos.GrowthOf(ss, time.Minute)
	require.True(t, ok)
	var out bytes.Buffer
	chaos.PrintSoak(&out, ss, g)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1+len(ss)+1, out.String())
	assert.Contains(t, lines[0], "heap MiB")
	assert.Contains(t, lines[2], "12.0")
	assert.Contains(t, lines[len(lines)-1], "heap +8.3 %")

	// The first errors, when a call failed, under the growth.
	ss[len(ss)-1].Fleet.Errors = []string{"rpc error: code = Unavailable"}
	out.Reset()
	chaos.PrintSoak(&out, ss, g)
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1+len(ss)+2, out.String())
	assert.Contains(t, lines[len(lines)-1], `fleet ["rpc error: code = Unavailable"]`)

	var img bytes.Buffer
	require.NoError(t, chaos.Plot(&img, ss, time.Minute))
	decoded, err := png.Decode(&img)
	require.NoError(t, err)
	assert.Equal(t, 900, decoded.Bounds().Dx())
	assert.Error(t, chaos.Plot(&img, nil, time.Minute), "nothing to plot")
}
