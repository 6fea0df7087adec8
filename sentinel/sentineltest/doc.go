// Package sentineltest has a clock and a metric source that a test drives by
// hand, for driving a sentinel tick by tick.
package sentineltest
