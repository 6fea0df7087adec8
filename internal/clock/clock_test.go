package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWallTellsTheTimeAndTicks(t *testing.T) {
	assert.WithinDuration(t, time.Now(), clock.Wall{}.Now(), time.Minute)
	c, stop := clock.Wall{}.Ticker(time.Millisecond)
	defer stop()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatal("the ticker never ticked")
	}
}
