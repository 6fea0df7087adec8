package sentineltest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel/sentineltest"
	"github.com/ninelives-go/ninelives/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClockAndSource(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sentineltest.NewClock(start)
	c.Advance(3 * time.Second)
	assert.Equal(t, start.Add(3*time.Second), c.Now())
	ch, stop := c.Ticker(time.Second)
	defer stop()
	go func() { c.Ticks <- c.Now() }()
	assert.Equal(t, start.Add(3*time.Second), <-ch)

	s := new(sentineltest.Source)
	w, err := s.Collect(context.Background())
	require.NoError(t, err)
	assert.Empty(t, w.Versions)
	s.Set(&telemetry.Window{Versions: map[string]*telemetry.VersionStats{"canary": {Fallbacks: 100}}}, nil)
	w, err = s.Collect(context.Background())
	require.NoError(t, err)
	w.Versions["canary"].Fallbacks = 5
	again, _ := s.Collect(context.Background())
	assert.EqualValues(t, 100, again.Version("canary").Fallbacks, "each collection is a copy")
	s.Set(nil, errors.New("down"))
	_, err = s.Collect(context.Background())
	assert.EqualError(t, err, "down")
}

func TestClockAfter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := sentineltest.NewClock(start)
	assert.Equal(t, start, <-c.After(0), "a wait of nothing ends at once")
	short, long := c.After(time.Second), c.After(3*time.Second)
	ready := func(ch <-chan time.Time) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	c.Advance(999 * time.Millisecond)
	assert.False(t, ready(short), "not due yet")
	c.Advance(time.Millisecond)
	assert.True(t, ready(short), "due when the clock reaches it")
	assert.False(t, ready(long))
	c.Advance(time.Hour)
	assert.True(t, ready(long))
}
