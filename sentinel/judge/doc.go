// Package judge holds the statistics of a rollout: sequential tests of the
// candidate against the baseline (errors, latency centre and tail, shadow
// mismatches), the Judge that combines them, their verdicts with the
// evidence, and their saved state. It has no clock and does no I/O; the
// sentinel feeds it.
//
// Each look (one tick of the control loop) gives the Judge what each
// version did since the previous look; it answers with a Verdict: Fail
// (roll back), Pass (healthy enough to advance) or Inconclusive (hold),
// with the reason and the evidence.
//
//	j, err := judge.New(judge.Config{}) // α = 1 % for the whole rollout
//	if err != nil {
//		return err
//	}
//	for each tick {
//		if stepChanged {
//			j.BeginStep()
//		}
//		err := j.Observe(judge.Look{
//			Candidate: judge.Figures{Calls: 96, Errors: 1, Latency: candHist},
//			Baseline:  judge.Figures{Calls: 904, Errors: 4, Latency: baseHist},
//		})
//		v := j.Verdict() // v.Outcome, v.Reason, v.Evidence, v.Tests
//	}
//
// # The bound: α per rollout, however long
//
// Config.Alpha (1 %) is the probability that any test ever fails a
// candidate within the tolerances below, over all the looks of a rollout
// however many it takes. It is split between the tests by Config.Shares
// (errors 0.5, latency 0.4, shadow 0.1; a disabled test's share goes to the
// others: errors 0.556 %, latency 0.444 % by default) and the union bound.
//
// Each look gives each test, for each of its alternatives k (a grid of
// effect sizes), a likelihood-ratio factor L_k with E[L_k | past] ≤ 1 when
// the candidate is within tolerance. A test keeps an e-detector with
// restarts (J. Shin, A. Ramdas, A. Rinaldo, "E-detectors: a nonparametric
// framework for sequential change detection", NEJSDS 2024):
//
//	R_k(0) = ω,  R_k(t) = (R_k(t−1) + w_t)·L_k(t),  w_t = (1−ω)/N for t ≤ N, 0 after,
//
// over its informative looks t (both versions had calls), and fails at
// the first look where M = Σ π_k R_k reaches 1/α. M is a weighted sum of
// likelihood-ratio processes started with the rollout (weight ω) and at
// each of the first N informative looks (weight (1−ω)/N); M plus the
// weights still to come is a nonnegative supermartingale starting at 1,
// so by Ville's inequality M ever reaches 1/α with probability at most α:
// for the whole rollout, however long. Config.Restarts sets ω (Start,
// default ½) and N (Looks, default 1,800: 30 min of the sentinel's default
// one-second ticks, 7.5 min of 250 ms ones). A
// regression present from the start pays log 2 more than a single process;
// one that begins at look j ≤ N is caught by the restart at j, without
// first undoing the evidence gathered while healthy (about as fast as from
// the start). After N informative looks no new restart is bought: the
// bound still holds, and a later regression is caught by the restarts
// already running, more slowly. A new Judge starts a rollout and spends α
// afresh; BeginStep only restarts the per-step counts that Pass needs.
// Evidence.SinceLook names the look whose restart carries the evidence.
//
// # Errors: odds and floor
//
// Two parts, each its own detector at the errors test's level; the test
// fails once both have reached 1/α. The odds part: given a look's n₁
// candidate and n₀ baseline calls and e errors, the candidate's errors
// follow Fisher's noncentral hypergeometric law with the odds ratio ψ;
// alternatives ψ = √2 … 16, null ψ ≤ 1. Exact whatever the error rate and
// however it moves, so a shared outage never counts. The floor part: for
// independent calls, the factor exp(λx − μy)/(1+δa)^n₁ (a = e^λ − 1, μ
// chosen so that it is an e-value for every baseline rate) against "the
// candidate's rate ≤ (1+RelativeFloor)·baseline + Floor". By the
// intersection-union principle the test fails a candidate whose odds are
// no higher, or whose rate is within the floor (default 0.1 percentage
// point), with probability at most α_errors. With ErrorConfig.Tolerance,
// Pass also needs a mirrored test confident that the odds ratio is below
// Tolerance.
//
// # Latency: centre and tail, credited with the tolerance
//
// The candidate may take g(u) = max(u·(1+Tolerance), u+AbsoluteTolerance)
// against a baseline value u: "10 % or 1 ms, whichever is larger" by
// default, so a cold connection's microseconds never fail a fast service;
// Strict tolerates nothing. One detector mixes two families. The centre:
// per look, Mann-Whitney midrank scores of the pooled calls, each
// candidate bucket first moved down to where its lower edge lands with the
// tolerance taken off, exponentially tilted (λ = ½ … 16) and bounded by
// Hoeffding's inequality for sampling without replacement. The tail: for
// each of LatencyConfig.Quantiles (p95, p99, p99.9), the baseline's quantile
// bucket b is learned from a decayed histogram of its earlier looks
// (half-life BaselineHalfLife), and the look's share of candidate calls
// above g(b) is tested against the baseline's share above b with the odds
// factors of the errors test. A threshold learned from data costs power
// when it is off, never validity: it is fixed before the look. TailWeight
// (½) is the tail's part of the prior. Evidence.Part names the part that
// failed ("centre", "p99"); Evidence.Tail holds each quantile's thresholds
// and shares. On histograms the tolerance in force lies between the one
// asked and that plus one bucket (the sentinel's grid: 9 %). The tail is
// tested only in looks where the candidate served at least TailMinShare
// (3 %) of the calls: a candidate far smaller than the baseline runs
// colder, and on a busy machine its tail is heavier for that alone.
//
// # Clustered calls
//
// A pause of one version's process (the scheduler, a GC) slows all its
// calls of that moment together, and times some out; counted one by one,
// such a cluster looks like overwhelming evidence. The latency and errors
// tests measure the clustering on the baseline's own looks (how much more
// its share above its median and each watched quantile, and its error
// share, change from one look to the next than independent calls would
// let them) and divide each look's log factors by the design effect
// D = 1 + (k−1)·ρ.
// D ≥ 1 is fixed before the look, so by Jensen's inequality the bound
// holds as before; on a quiet machine ρ ≈ 0 and nothing changes; on a busy
// one a regression needs more looks (dispersion.go, Evidence.Clustering).
//
// # Shadow mismatches and rates
//
// A RateTest mixes Bernoulli likelihood ratios of event rates above a
// tolerance (shadow mismatches: 1 %); the judge's shadow test runs it with
// restarts, blue/green's gates (NewRateTest) without. The shadow test has
// a second part, at half its α: of the copies that failed on one side only
// (ShadowFigures.Errors against PrimaryErrors), at most half may be the
// candidate's (McNemar's pairs, sequentially). The same calls at the same
// moment: an outage both versions share does not count, and a candidate
// that fails the copies its primaries served is caught (Evidence.Part
// "errors").
//
// # No data, bad data
//
// Contract 5 holds in every test: with no data, too few samples (MinCalls,
// MinStepCalls) or a rejected look (the error names the field) the verdict
// is Inconclusive, never Pass or Fail; a failed test stays failed. Each
// look costs a bounded time whatever its counts and allocates nothing.
// State and Restore carry a rollout across judges (StateFormat 3; a state
// of an earlier judge is rejected, naming the fix).
//
// The sentinel's internal/sim simulates seeded rollouts beside a
// Flagger-style fixed threshold: `go run ./sentinel/internal/sim/cmd/simulate`.
package judge
