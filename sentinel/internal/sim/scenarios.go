package sim

import "github.com/ninelives-go/ninelives/sentinel/internal/grid"

// RPCBounds are the bucket bounds (seconds) OpenTelemetry's semantic
// conventions advise for RPC durations.
var RPCBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// GridBounds are the bounds of the sentinel's own latency histograms (eight
// buckets an octave from 50 µs to 64 s), on which the judge sees every
// window: the standard scenarios count latency into them.
var GridBounds = grid.Bounds

// Healthy is the baseline of every standard scenario: 0.5 % errors and a
// log-normal latency with a 20 ms median and σ = 0.5 (p99 ≈ 64 ms).
var Healthy = Version{ErrorRate: 0.005, LatencyMedian: 0.020, LatencySigma: 0.5}

// Standard rollout shapes: a fixed 10 % share for 10 minutes, and the
// canary schedule 1 %, 5 %, 25 %, 50 % for 2 minutes each.
var (
	TenPercent  = []Step{{Share: 0.10, Seconds: 600}}
	CanarySteps = []Step{{Share: 0.01, Seconds: 120}, {Share: 0.05, Seconds: 120}, {Share: 0.25, Seconds: 120}, {Share: 0.50, Seconds: 120}}
)

// Scenarios returns the standard scenarios, all at 1,000 calls/s with one
// look per second.
func Scenarios() []Scenario {
	with := func(v Version, f func(*Version)) Version { f(&v); return v }
	outage := with(Healthy, func(v *Version) { v.ErrorRate = 0.20 })
	slowAll := with(Healthy, func(v *Version) { v.LatencyMedian *= 3 })
	scs := []Scenario{
		{Name: "A/A, 10 % for 10 min", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy},
		{Name: "A/A, canary steps 1-5-25-50 % × 2 min", Steps: CanarySteps, Baseline: Healthy, Candidate: Healthy},
		{Name: "errors 0.5 % → 5 %, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.ErrorRate = 0.05 })},
		{Name: "errors 0.5 % → 1 %, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.ErrorRate = 0.01 })},
		{Name: "latency median 1.5×, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.LatencyMedian *= 1.5 })},
		{Name: "shared outage: both 20 % errors for 30 s", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy,
			Incidents: []Incident{{From: 180, To: 210, Baseline: outage, Candidate: outage}}},
		{Name: "shared slowdown: both 3× latency for 30 s", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy,
			Incidents: []Incident{{From: 180, To: 210, Baseline: slowAll, Candidate: slowAll}}},
	}
	for i := range scs {
		scs[i].CallsPerSecond = 1000
		scs[i].Bounds = GridBounds
	}
	return scs
}
