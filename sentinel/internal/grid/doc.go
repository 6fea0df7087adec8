// Package grid is the latency grid the sentinel gives its judge: base-2
// exponential buckets at scale 3 (eight per octave, each 9 % wide) from
// 50 µs to 64 s, a bucket for zeros below them and +Inf above. The judge
// needs one grid for the whole rollout, while each window's histograms have
// the scale that fitted their own range, so every histogram is mapped onto
// this one.
package grid
