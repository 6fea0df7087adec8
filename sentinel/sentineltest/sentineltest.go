package sentineltest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Clock is a sentinel.Clock that moves only when told. Its ticker ticks when
// the test sends on Ticks.
type Clock struct {
	// Ticks is the channel the ticker returns.
	Ticks chan time.Time

	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

var _ sentinel.Clock = (*Clock)(nil)

// NewClock returns a clock showing start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, Ticks: make(chan time.Time)}
}

// Now implements sentinel.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d, and ends the waits of After that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waiters = slices.DeleteFunc(c.waiters, func(w waiter) bool {
		if w.at.After(c.now) {
			return false
		}
		w.c <- c.now
		return true
	})
}

// After returns a channel that receives the clock's time once Advance has
// moved it d on (at once when d ≤ 0), as time.After does on the wall clock.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), c: ch})
	return ch
}

// Ticker implements sentinel.Clock: it returns Ticks, whatever d.
func (c *Clock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.Ticks, func() {} }

// Source is a telemetry.MetricSource that hands out a copy of the window, or
// the error, the test set last.
type Source struct {
	mu   sync.Mutex
	next *telemetry.Window
	err  error
}

var _ telemetry.MetricSource = (*Source)(nil)

// Set makes the next collections return w, or err if it is not nil.
func (s *Source) Set(w *telemetry.Window, err error) {
	s.mu.Lock()
	s.next, s.err = w, err
	s.mu.Unlock()
}

// Collect implements telemetry.MetricSource.
func (s *Source) Collect(context.Context) (*telemetry.Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.next == nil {
		return &telemetry.Window{}, nil
	}
	return s.next.Clone(), nil
}
