// Package judge holds the statistics of a rollout: sequential tests of the
// candidate against the baseline (errors, latency, shadow mismatches), the
// Judge that combines them, their verdicts with the evidence, and their
// saved state. It has no clock and does no I/O; the sentinel feeds it.
//
// A Judge holds three sequential tests, one rollout long. Each look (one
// tick of the control loop) gives it what each version did since the
// previous look; it answers with a Verdict: Fail (roll back), Pass (healthy
// enough to advance) or Inconclusive (hold), with the reason and the
// evidence.
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
// Every test is an e-process: a mixture of likelihood ratios that, when
// the candidate is as good as the baseline, is a nonnegative
// supermartingale starting at 1. By Ville's inequality (J. Ville, Étude
// critique de la notion de collectif, 1939) it ever reaches 1/α with
// probability at most α, however many looks the rollout takes and whenever
// they happen. A test fails the first time its e-value reaches 1/α, and
// stays failed. This is the always-valid mixture sequential probability
// ratio test (H. Robbins, "Statistical methods related to the law of the
// iterated logarithm", Ann. Math. Statist. 41, 1970; R. Johari, L.
// Pekelis, D. Walsh, "Always valid inference", Operations Research 70,
// 2022; A. Ramdas et al., "Game-theoretic statistics and safe anytime-valid
// inference", Statistical Science 38, 2023). Nothing is estimated and
// plugged in: each look's evidence is exact given that look's margins, so
// the guarantee does not rest on an approximation.
//
// Contract 5 holds in every test: with no data, too few samples, or a
// rejected look (negative or inconsistent counts, bad histogram bounds;
// the error names the field) the verdict is Inconclusive, never Pass or
// Fail. A test that has failed stays Fail.
//
// # Errors: the candidate's share of the errors
//
// In a look with n₁ candidate calls, n₀ baseline calls and e errors in
// all, suppose both versions' calls fail independently with the same
// probability (whatever it is, and however it moves from look to look).
// Then, given n₁, n₀ and e, which calls failed is a uniformly random
// choice, so the candidate's errors x follow the hypergeometric
// distribution, and if the candidate's error odds are ψ times the
// baseline's, Fisher's noncentral hypergeometric distribution
// P_ψ(x) ∝ C(n₁,x)·C(n₀,e−x)·ψˣ. The test mixes, with equal weights, the
// likelihood ratios P_ψ(x)/P_1(x) for ψ = √2, 2, 2√2, … 16, multiplied over
// the looks. Under ψ ≤ 1 (the candidate no worse) each factor has
// expectation at most 1 (the family has a monotone likelihood ratio), so
// the product is a supermartingale and the test fails a candidate no worse
// than the baseline with probability at most α_errors.
//
// Conditioning on each look's errors, the test never estimates the
// baseline's rate, and an outage that raises both versions' rates alike
// does not roll the candidate back. The candidate's share may change
// between looks but not inside one: end a look whenever the weights
// change. Calls must go to versions independently of how likely they are
// to fail (random weighted picks do; sticky keys do when unrelated).
//
// The errors test's Pass means: both versions have MinCalls calls (50),
// the current step has MinStepCalls candidate calls (500), and the test has
// not failed. With ErrorConfig.Tolerance set (say 2), Pass also requires a
// second, mirrored e-process, with alternatives ψ = Tolerance/√2 …
// Tolerance/16 against ψ = Tolerance, to have reached 1/PassAlpha: then
// the candidate's error odds are below Tolerance times the baseline's with
// confidence 1−PassAlpha (5 %). It needs errors to learn from, so it is
// off by default.
//
// # Latency: Mann-Whitney rank scores, made sequential
//
// Latency comes as histograms with the same bucket bounds for both
// versions. Within a look, each call is scored by its bucket's centred
// midrank among the look's pooled calls, u = (calls in lower buckets + half
// the bucket)/N − ½ (the Mann-Whitney/Wilcoxon scores with midranks for
// ties; H. B. Mann and D. R. Whitney, Ann. Math. Statist. 18, 1947). If
// both versions have the same latency distribution, the smaller group's
// calls are a uniformly random subset of the pooled calls, so the sum W of
// their scores is a sum of draws without replacement, and by W. Hoeffding
// ("Probability inequalities for sums of bounded random variables", JASA
// 58, 1963, Theorem 4) E exp(λW) ≤ (mean of exp(λu) over the pooled
// calls)ⁿ. The look's factor exp(λW)/(mean exp(λu))ⁿ therefore has
// expectation at most 1; the sign of λ is chosen so that a slower
// candidate raises it. The test mixes λ = 0.5, 1, 2, 4, 8, 16 with equal
// weights. Using each look's own ranks makes a shared slowdown (both
// versions slower together) invisible, as for errors; ties in a bucket are
// handled exactly by the midrank scores and the pooled mean, with no
// normal approximation.
//
// Unlike a fixed-sample Mann-Whitney test with α spent across looks, it
// needs neither the number of looks in advance nor a normal approximation.
// The evidence still reports the tie-corrected Mann-Whitney z and
// P(candidate slower) + ½·P(tie) over the rollout (MannWhitney), and each
// version's p50, p90 and p99 (Buckets.Quantile).
//
// The test allows the candidate a slowdown, LatencyConfig.Tolerance
// (default 10 %): each candidate bucket is moved down to the bucket of its
// upper bound ÷ (1 + Tolerance) before the ranks are taken, so the test
// fails only a candidate slower than the baseline by more than that. A new
// version's first calls are often a little slower (cold connections and
// caches); the tolerance keeps the test to differences that matter. The
// sentinel maps every window onto one grid of eight buckets an octave, so
// the default tolerance is one bucket; Strict tests for any slowdown.
//
// The latency test's Pass means: both versions have MinCalls latency
// samples (50), the step has MinStepCalls candidate samples (500), and the
// test has not failed.
//
// # Shadow mismatches, and rates against a tolerance
//
// Each compared shadow response matches or mismatches the primary's. The
// test, a RateTest (as blue/green's gates and scripts' rate_test are),
// mixes with equal weights Bernoulli likelihood ratios of a mismatch rate
// p₁ = 1.5, 2, 3, 5, 10, 20, 50 times the tolerance p₀ (those below 1)
// against p₀ (default 1 %). Under a rate at or below p₀ each factor has
// expectation at most 1, so the test fails a candidate within tolerance
// with probability at most α_shadow. Pass means MinComparisons (50) in the
// rollout, MinStepComparisons (500) in the step, and not failed.
//
// # The Judge and the α budget
//
// Config.Alpha (1 %) is split between the enabled tests in proportion to
// Config.Shares: errors 0.5, latency 0.4, shadow 0.1; a disabled test's
// share goes to the others (with the default tests, errors get 0.556 % and
// latency 0.444 %). By the union bound the probability that any test fails
// a candidate as good as the baseline is at most Alpha. Judge.Budget
// reports the split; each Verdict's evidence carries its test's α.
//
// The budget is per rollout, not per step: each test's e-process runs
// across all the steps of a rollout (the candidate's share enters each
// look's factor, so steps need no special treatment), and BeginStep only
// restarts the per-step sample counts that Pass needs. A new Judge starts a
// new rollout and spends α afresh; a new one at every step would multiply the
// false-rollback probability by the number of steps.
//
// The Judge's verdict: Fail if any test failed (with that test's evidence);
// Pass if every enabled test passes; otherwise Inconclusive, with the
// reasons of the tests that do not pass yet. Verdicts serialise to JSON.
//
// The sentinel's internal/sim simulates seeded rollouts beside a
// Flagger-style fixed threshold: `go run ./sentinel/internal/sim/cmd/simulate`.
package judge
