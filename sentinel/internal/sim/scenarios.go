package sim

import "github.com/ninelives-go/ninelives/sentinel/internal/grid"

// RPCBounds are the bucket bounds (seconds) OpenTelemetry's semantic
// conventions advise for RPC durations.
var RPCBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// GridBounds are the bounds of the sentinel's own latency histograms (eight
// buckets an octave from 50 µs to 64 s), on which the judge sees every
// window: the standard scenarios count latency into them.
var GridBounds = grid.Bounds

// Healthy is the baseline of every standard scenario but the fast ones:
// 0.5 % errors and a log-normal latency with a 20 ms median and σ = 0.5
// (p95 ≈ 46 ms, p99 ≈ 64 ms).
var Healthy = Version{ErrorRate: 0.005, LatencyMedian: 0.020, LatencySigma: 0.5}

// Fast is a service on loopback: Healthy's errors with a 0.169 ms median.
var Fast = Version{ErrorRate: 0.005, LatencyMedian: 0.000169, LatencySigma: 0.5}

// Standard rollout shapes: a fixed 10 % share for 10 minutes, the canary
// schedule 1 %, 5 %, 25 %, 50 % for 2 minutes each, and a 1 % share for 15
// minutes.
var (
	TenPercent  = []Step{{Share: 0.10, Seconds: 600}}
	CanarySteps = []Step{{Share: 0.01, Seconds: 120}, {Share: 0.05, Seconds: 120}, {Share: 0.25, Seconds: 120}, {Share: 0.50, Seconds: 120}}
	OnePercent  = []Step{{Share: 0.01, Seconds: 900}}
)

func with(v Version, f func(*Version)) Version { f(&v); return v }

// The candidates of the standard scenarios.
var (
	tenfoldErrors = with(Healthy, func(v *Version) { v.ErrorRate = 0.05 })
	slower        = with(Healthy, func(v *Version) { v.LatencyMedian *= 1.5 })
	tailOnly      = with(Healthy, func(v *Version) { v.TailShare, v.TailDelay = 0.03, 0.5 })
	cold          = with(Fast, func(v *Version) { v.LatencyMedian = 0.000195 })
)

// Scenarios returns the standard scenarios: at 1,000 calls/s with one look
// a second unless the name says otherwise, latency on the sentinel's grid.
func Scenarios() []Scenario {
	outage := with(Healthy, func(v *Version) { v.ErrorRate = 0.20 })
	slowAll := with(Healthy, func(v *Version) { v.LatencyMedian *= 3 })
	scs := []Scenario{
		{Name: "A/A, 10 % for 10 min", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy},
		{Name: "A/A, canary steps 1-5-25-50 % × 2 min", Steps: CanarySteps, Baseline: Healthy, Candidate: Healthy},
		{Name: "A/A, 1 % of 200 calls/s for 15 min (low traffic)", CallsPerSecond: 200, Steps: OnePercent, Baseline: Healthy, Candidate: Healthy},
		{Name: "A/A cold connection: candidate p50 0.195 ms vs 0.169 ms, canary steps, 300 calls/s", CallsPerSecond: 300, Steps: CanarySteps, Baseline: Fast, Candidate: cold},
		{Name: "A/A cold connection: candidate p50 0.195 ms vs 0.169 ms, 10 % share", Steps: TenPercent, Baseline: Fast, Candidate: cold},
		{Name: "within the floor: errors 0.5 % → 0.55 %, 10 % share", Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.ErrorRate = 0.0055 })},
		{Name: "within the tolerance: latency ×1.1, 10 % share", Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.LatencyMedian *= 1.1 })},
		{Name: "errors 0.5 % → 5 %, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: tenfoldErrors},
		{Name: "errors 0.5 % → 5 %, 10 % share, 2 looks a second", Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: tenfoldErrors, LooksPerSecond: 2},
		{Name: "errors 0.5 % → 5 %, 10 % share, 4 looks a second", Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: tenfoldErrors, LooksPerSecond: 4},
		{Name: "errors 0.5 % → 5 %, 1 % of 200 calls/s", Harmful: true, CallsPerSecond: 200, Steps: OnePercent, Baseline: Healthy, Candidate: tenfoldErrors},
		{Name: "errors 0.5 % → 1 %, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy,
			Candidate: with(Healthy, func(v *Version) { v.ErrorRate = 0.01 })},
		{Name: "latency median 1.5×, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: slower},
		{Name: "latency median 1.5×, 1 % of 200 calls/s", Harmful: true, CallsPerSecond: 200, Steps: OnePercent, Baseline: Healthy, Candidate: slower},
		{Name: "tail-only: 3 % of calls +500 ms, 10 % share", Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: tailOnly},
		{Name: "tail-only: 3 % of calls +500 ms, canary steps", Harmful: true, Steps: CanarySteps, Baseline: Healthy, Candidate: tailOnly},
		{Name: "tail-only: 3 % of calls +500 ms, 1 % of 200 calls/s", Harmful: true, CallsPerSecond: 200, Steps: OnePercent, Baseline: Healthy, Candidate: tailOnly},
		late("late break: errors 0.5 % → 5 % after 150 s, 10 % share", tenfoldErrors),
		late("late break: latency median 1.5× after 150 s, 10 % share", slower),
		late("late break: tail-only after 150 s, 10 % share", tailOnly),
		{Name: "shared outage: both 20 % errors for 30 s", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy,
			Incidents: []Incident{{From: 180, To: 210, Baseline: outage, Candidate: outage}}},
		{Name: "shared slowdown: both 3× latency for 30 s", Steps: TenPercent, Baseline: Healthy, Candidate: Healthy,
			Incidents: []Incident{{From: 180, To: 210, Baseline: slowAll, Candidate: slowAll}}},
	}
	for i := range scs {
		if scs[i].CallsPerSecond == 0 {
			scs[i].CallsPerSecond = 1000
		}
		scs[i].Bounds = GridBounds
	}
	return scs
}

// late is a healthy 10 % rollout whose candidate turns bad after 150 s;
// calls to rollback count from the break.
func late(name string, bad Version) Scenario {
	return Scenario{Name: name, Harmful: true, Steps: TenPercent, Baseline: Healthy, Candidate: Healthy,
		BreakAt: 150, Incidents: []Incident{{From: 150, To: 600, Baseline: Healthy, Candidate: bad}}}
}
