package demo

import (
	"sync"
	"time"
)

// Clock is the sentinel's clock: the wall clock, or a virtual one that the
// run moves by one interval per tick.
type Clock struct {
	mu      sync.Mutex
	virtual bool
	start   time.Time
	now     time.Time
}

// NewClock returns the wall clock, or a virtual clock that only Advance
// moves.
func NewClock(virtual bool) *Clock {
	now := time.Now()
	return &Clock{virtual: virtual, start: now, now: now}
}

// Now implements sentinel.Clock.
func (c *Clock) Now() time.Time {
	if !c.virtual {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Ticker implements sentinel.Clock; the run ticks the sentinel itself.
func (c *Clock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Advance moves a virtual clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Since is the time since the run began.
func (c *Clock) Since() time.Duration { return c.Now().Sub(c.start) }
