package shadow

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
)

// A copy's context ends what grpc derives from it, with no goroutine, and
// says why: not the primary's cancellation or cause, its own.
func TestCopyContextEndsWhatDerivesFromIt(t *testing.T) {
	s := newShadow(t, Config{Candidate: "canary", Rate: 1})
	before := goleak.IgnoreCurrent()
	primary, cancelPrimary := context.WithCancelCause(context.Background())
	c := &shadowed{s: s, ctx: primary, route: route{method: getItem, budget: time.Minute}}
	x, _ := c.newCopyContext("canary", markerCandidate, time.Now())
	cancelPrimary(errors.New("the primary's"))
	require.NoError(t, x.Err())
	assert.NoError(t, context.Cause(x), "the primary's cause is not the copy's")

	derived, cancelDerived := context.WithCancel(x)
	defer cancelDerived()
	ended, endedEarly := context.WithCancel(x)
	endedEarly() // a derived context that ends first stays ended
	ran := make(chan struct{})
	context.AfterFunc(x, func() { close(ran) })
	goleak.VerifyNone(t, before)

	x.cancel(context.DeadlineExceeded)
	x.cancel(context.Canceled) // the first reason stays
	<-derived.Done()
	<-ran
	assert.ErrorIs(t, derived.Err(), context.DeadlineExceeded)
	assert.ErrorIs(t, context.Cause(x), context.DeadlineExceeded)
	assert.ErrorIs(t, ended.Err(), context.Canceled)

	late := make(chan struct{})
	context.AfterFunc(x, func() { close(late) })
	<-late
	<-x.Done()
}

// A worker's timer ends a copy that no reply ends, with the copy's
// deadline as its error; a late firing spares the next copy.
func TestWorkerTimerEndsAHungCopy(t *testing.T) {
	f := newFakeGRPC(t)
	s := newShadow(t, Config{Candidate: "canary", Rate: 1, Timeout: 20 * time.Millisecond})
	f.shut()
	callThrough(t, s, f, &demov1.GetItemRequest{Id: "a"})
	waitCopies(t, s)
	log := s.Mismatches()
	require.Len(t, log, 1)
	assert.Equal(t, ResultShadowError, log[0].Result)
	assert.Equal(t, codes.DeadlineExceeded.String(), log[0].ShadowCode)

	c := &shadowed{s: s, ctx: context.Background(), route: route{method: getItem, budget: time.Minute}}
	x, _ := c.newCopyContext("canary", markerCandidate, time.Now())
	w := newWorker()
	defer w.timer.Stop()
	w.cur.Store(x)
	w.expire()
	assert.NoError(t, x.Err(), "a firing before the deadline ends nothing")
	x.deadline = time.Now().Add(-time.Millisecond)
	w.expire()
	assert.ErrorIs(t, x.Err(), context.DeadlineExceeded)
}

// A worker's timer, set for an earlier copy, ends each next copy at that
// copy's own deadline: sooner (set again at start) or later (set again
// when it fires before it).
func TestWorkerTimerFollowsEachCopysDeadline(t *testing.T) {
	s := newShadow(t, Config{Candidate: "canary", Rate: 1})
	w := newWorker()
	defer w.timer.Stop()
	run := func(budget time.Duration, hang bool) *copyContext {
		c := &shadowed{s: s, ctx: context.Background(), route: route{method: getItem, budget: budget}}
		x, _ := c.newCopyContext("canary", markerCandidate, time.Now())
		w.start(x, budget)
		if hang {
			select {
			case <-x.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("a copy of %v was not ended at its deadline", budget)
			}
		}
		w.end(x)
		return x
	}
	run(time.Hour, false)
	sooner := run(20*time.Millisecond, true)
	assert.ErrorIs(t, sooner.Err(), context.DeadlineExceeded)
	run(10*time.Millisecond, false)
	later := run(50*time.Millisecond, true)
	assert.ErrorIs(t, later.Err(), context.DeadlineExceeded)
	assert.False(t, time.Now().Before(later.deadline), "ended at its deadline, not at the earlier copy's")
}
