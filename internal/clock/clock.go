// Package clock is the wall clock the sentinel, the fleet and the release
// lifecycle tell the time and tick with unless a test gives them its own
// (sentinel.Clock, sentinel.WithClock).
package clock

import "time"

// Wall is the clock of the real time.
type Wall struct{}

// Now is time.Now.
func (Wall) Now() time.Time { return time.Now() }

// Ticker is a time.Ticker's channel and Stop.
func (Wall) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
