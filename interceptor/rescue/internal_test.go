package rescue

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketsCoverEveryTimeOnce(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, 1, 7, 8, 9, 15, 16, 17, 1000, time.Microsecond, time.Millisecond, 3 * time.Millisecond, time.Second, time.Hour, 1 << 62} {
		b := bucketOf(d)
		require.Less(t, b, numBuckets, "%v", d)
		assert.GreaterOrEqual(t, b, prev, "buckets follow the times: %v", d)
		prev = b
		if d < 1<<(maxOctave+1) {
			assert.Less(t, d, upperBound(b), "%v is below its bucket's end", d)
			if b > 0 {
				assert.GreaterOrEqual(t, d, upperBound(b-1), "%v is not below the previous bucket's end", d)
			}
		}
	}
	for i := 8; i < numBuckets-1; i++ {
		w := float64(upperBound(i)-upperBound(i-1)) / float64(upperBound(i-1))
		assert.LessOrEqual(t, w, 0.125, "bucket %d is at most 12.5 %% wide", i)
		assert.Equal(t, i, bucketOf(upperBound(i-1)), "bucket %d starts where %d ends", i, i-1)
	}
	assert.Equal(t, 0, bucketOf(-time.Second), "a negative time is 0")
	assert.Equal(t, numBuckets-1, bucketOf(1<<62), "a time past the last octave is in the last bucket")
}

func newTestEstimator(t *testing.T, cfg Config) *estimator {
	cfg.Candidate, cfg.Baseline = "canary", "stable"
	s, err := newSettings(cfg)
	require.NoError(t, err)
	return &estimator{s: s}
}

func TestEstimatorLearnsTheQuantileTimesTheFactor(t *testing.T) {
	e := newTestEstimator(t, Config{HedgeMinSamples: 100, HedgeWindow: 1000, MinHedgeDelay: time.Microsecond})
	for i := range 99 {
		e.observe(time.Duration(i+1) * time.Millisecond)
		_, ok := e.hedgeDelay()
		assert.False(t, ok, "unknown before HedgeMinSamples answers")
	}
	// 1..1000 ms: the 99th percentile is 990 ms, ×2 and rounded up to its
	// bucket's end (at most 12.5 % above).
	for i := 99; i < 1000; i++ {
		e.observe(time.Duration(i+1) * time.Millisecond)
	}
	e.recompute(false)
	d, ok := e.hedgeDelay()
	require.True(t, ok)
	assert.GreaterOrEqual(t, d, 2*990*time.Millisecond)
	assert.LessOrEqual(t, d, time.Duration(2*990*1.125*float64(time.Millisecond)))
}

func TestEstimatorForgetsOldAnswersAndKeepsItsBounds(t *testing.T) {
	e := newTestEstimator(t, Config{HedgeMinSamples: 10, HedgeWindow: 64, MinHedgeDelay: 20 * time.Millisecond, MaxHedgeDelay: time.Second})
	for range 64 {
		e.observe(time.Hour)
	}
	d, _ := e.hedgeDelay()
	assert.Equal(t, time.Second, d, "capped at MaxHedgeDelay")
	// Two windows of fast answers push the slow ones out.
	for range 3 * 64 {
		e.observe(time.Millisecond)
	}
	d, _ = e.hedgeDelay()
	assert.Equal(t, 20*time.Millisecond, d, "floored at MinHedgeDelay once the slow answers are gone")
}

func TestEstimatorUnderConcurrentObservers(t *testing.T) {
	e := newTestEstimator(t, Config{HedgeMinSamples: 10, HedgeWindow: 100, MinHedgeDelay: time.Nanosecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				e.observe(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	d, ok := e.hedgeDelay()
	require.True(t, ok)
	assert.InDelta(t, float64(10*time.Millisecond), float64(d), float64(10*time.Millisecond)*0.125)
}

func TestBudgetBoundsTheRescues(t *testing.T) {
	const burst, ratio, callers, calls = 20, 0.1, 8, 5000
	b := newBudget(ratio, burst)
	var mu sync.Mutex
	taken := 0
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			n := 0
			for range calls {
				b.earn()
				if b.take() { // every call fails and asks for a rescue
					n++
				}
			}
			mu.Lock()
			taken += n
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, float64(taken), burst+ratio*callers*calls)
	assert.GreaterOrEqual(t, float64(taken), ratio*callers*calls, "the ratio is paid out")
	assert.Less(t, b.available(), 1.0)

	b = newBudget(ratio, burst)
	for range 100 {
		b.earn()
	}
	assert.Equal(t, float64(burst), b.available(), "never above the burst")
	require.True(t, b.take())
	b.refund()
	b.refund()
	assert.Equal(t, float64(burst), b.available(), "a refund stops at the burst too")
}
