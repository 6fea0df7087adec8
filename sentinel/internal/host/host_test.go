package host_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel/internal/host"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	rep *warmup.Report
	err error
}

func TestWarmupTurnsAPanicIntoAnError(t *testing.T) {
	var w host.Warmup
	got := make(chan result, 1)
	w.Start(context.Background(), time.Minute, "green", func(context.Context, string) (*warmup.Report, error) {
		panic("boom")
	}, func(rep *warmup.Report, err error) { got <- result{rep, err} })
	<-w.Done()
	r := <-got
	assert.Nil(t, r.rep)
	assert.EqualError(t, r.err, `ninelives: the warm-up of "green" panicked: boom`)
	assert.True(t, w.Finished())
	assert.False(t, w.Running())
}

func TestWarmupStopEndsItAndOutlivesItsContext(t *testing.T) {
	var w host.Warmup
	assert.False(t, w.Running())
	assert.Nil(t, w.Done())
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	got := make(chan result, 1)
	w.Start(ctx, time.Minute, "green", func(ctx context.Context, _ string) (*warmup.Report, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, func(rep *warmup.Report, err error) { got <- result{rep, err} })
	<-started
	cancel() // the tick's context ends; the warm-up goes on
	assert.True(t, w.Running())
	require.NoError(t, w.Stop(time.Minute))
	assert.ErrorIs(t, (<-got).err, context.Canceled)
	assert.True(t, w.Finished())
}

// A warm-up that ignores its context does not hold Stop up past its wait.
func TestWarmupStopIsBounded(t *testing.T) {
	var w host.Warmup
	started, release := make(chan struct{}), make(chan struct{})
	w.Start(context.Background(), time.Minute, "green", func(context.Context, string) (*warmup.Report, error) {
		close(started)
		<-release
		return nil, nil
	}, func(*warmup.Report, error) {})
	<-started
	err := w.Stop(time.Millisecond)
	assert.EqualError(t, err, `ninelives: the warm-up of "green" did not return within 1ms of being stopped; it is left running`)
	assert.True(t, w.Running())
	close(release)
	<-w.Done()
	assert.NoError(t, new(host.Warmup).Stop(time.Millisecond), "nothing started, nothing to stop")
}

type shadow struct {
	candidate string
	rate      float64
	calls     int
	err       error
}

func (s *shadow) SetCandidate(v string) error { s.calls++; s.candidate = v; return s.err }
func (s *shadow) SetRate(r float64) error     { s.calls++; s.rate = r; return s.err }

func TestSwitchTurnsTheShadowOffOnlyIfItTurnedItOn(t *testing.T) {
	var sw host.Switch
	sh := new(shadow)
	require.NoError(t, sw.Set(sh, "green", false, 0))
	assert.Zero(t, sh.calls, "never turned on: nothing to turn off")
	require.NoError(t, sw.Set(sh, "green", true, 0.1))
	require.NoError(t, sw.Set(sh, "green", true, 0.1))
	assert.Equal(t, 2, sh.calls, "on once")
	assert.Equal(t, "green", sh.candidate)
	require.NoError(t, sw.Set(sh, "", false, 0))
	assert.Equal(t, 3, sh.calls)
	assert.Zero(t, sh.rate)
	require.NoError(t, sw.Set(nil, "green", true, 0.1), "no shadow: nothing to do")

	bad := &shadow{err: errors.New("closed")}
	err := new(host.Switch).Set(bad, "green", true, 0.1)
	assert.EqualError(t, err, `ninelives: shadow to "green": closed`)
}
