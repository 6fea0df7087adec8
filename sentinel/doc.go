// Package sentinel judges a candidate version against the baseline from
// live figures and drives the rollout.
//
// # The control loop
//
// A Sentinel runs one rollout. Each tick (default every second) it collects
// a window from a telemetry.MetricSource, gives the judge that window as one
// look, asks its Strategy what to do, and does it to the balancer's Split:
//
//	src, _ := telemetry.NewSource()
//	mp := sdkmetric.NewMeterProvider(src.Option())
//	metrics, _ := telemetry.New(telemetry.WithMeterProvider(mp))
//	stop, _ := metrics.Instrument(split)
//	canary, _ := sentinel.NewCanary(sentinel.CanaryConfig{}) // 1 → 5 → 25 → 50 → 100 %
//	s, err := sentinel.New(split, src, canary,
//		sentinel.WithVersions("stable", "canary"),
//		sentinel.WithDecisionRecorder(metrics),
//		sentinel.WithAlerters(sentinel.LogAlerter{}, webhook))
//	go s.Run(ctx) // until promoted, rolled back or aborted
//
// Phases: pending (nothing moved yet) → progressing (step k) ⇄ paused →
// promoted, rolled back or aborted, which are final. Every change is
// checked against that table; a manual control the phase does not allow
// returns ErrTransition. Pause, Resume, Promote (all traffic to the
// candidate at once), Abort (all back to the baseline) and SetWeight are
// safe from any goroutine and record who used them. A paused rollout holds
// its weights, but the judge still watches and a failing candidate is still
// rolled back. SetWeight pauses the rollout at the new weight and begins a
// new step there; a rollout paused before its first step goes back to
// pending on Resume, and the strategy starts it on the next tick.
//
// Every decision is an Event with its evidence: the action, the phase
// before and after, the step, the weights, the reason, who decided, the
// judge's Verdict (test, statistic, threshold, α, counts, rates, quantiles)
// and each version's figures over the step. Events go to slog, to the
// ninelives.sentinel.decisions counter (WithDecisionRecorder) and, when a
// person should know (rollback, abort, promotion, pause, a failing source or
// policy), to the Alerters on a goroutine of their own, so a slow webhook
// never delays a tick. LogAlerter and WebhookAlerter (a JSON POST with a
// timeout and retries with backoff) are built in. Status returns a
// JSON-ready snapshot for programs and pages.
//
// Contract 5 holds in the loop too: a metric source that fails holds the
// rollout and alerts once per failure streak (WithRollbackOnSourceError
// rolls back instead); a strategy or script that fails does the same
// (WithRollbackOnPolicyError); no data is never a pass. A look during which
// the weights were changed by a manual control or from outside the sentinel
// is left out of the judge, since the tests need one candidate share per
// look. WithDryRun judges and reports
// every decision but never moves a weight. WithClock injects a clock; tests
// call Tick themselves.
//
// # Strategies
//
// Canary moves the candidate's weight through its steps (default 1 %, 5 %,
// 25 %, 50 %, then 100 %); each step lasts at least MinStepDuration and
// MinStepCalls candidate calls and advances only on the judge's Pass
// (errors, latency and, with JudgeConfig.EnableShadow, shadow mismatches).
// The judge's Fail rolls back at any step. After a weight set by hand it
// goes on to the first of its steps above that weight.
//
// BlueGreen warms green up through fork-join calls to each of its
// endpoints, optionally compares it with blue under shadow traffic for a
// grace period, cuts over in one weight change, and judges green against
// blue's figures of the minutes before the cut-over through a rollback
// window, with blue still connected; a failure sends all the traffic back to
// blue at once.
//
// # Meta-policy scripts
//
// A Script is a Strategy written in Starlark (go.starlark.net), a small,
// deterministic dialect of Python. The script defines one function,
// on_tick(state), which the sentinel calls once per tick; the function reads
// the state and calls action builtins to say what to do.
//
//	def on_tick(state):
//	    if state.verdict.outcome == "fail":
//	        rollback("the judge failed the candidate: " + state.verdict.reason)
//	    elif state.phase == "pending":
//	        set_weight(100)  # start the first step at 1 %
//	    elif state.verdict.outcome == "pass" and state.in_step >= 60:
//	        promote("healthy for a minute")
//
//	s, err := sentinel.LoadScript("policy.star", sentinel.WithScriptParams(map[string]any{"min_seconds": 60}))
//	sen, err := sentinel.New(split, source, s)
//
// NewScript compiles a script from source, LoadScript from a file. The
// built-in strategies exist as scripts too: CanaryScript runs
// scripts/canary.star with the settings of a CanaryConfig and makes the same
// decisions as Canary on the same input, and BlueGreenScript runs
// scripts/bluegreen.star likewise for BlueGreen; BuiltinScript returns their
// source to start a new script from.
//
// # Script state
//
// on_tick's only argument is a read-only struct, made afresh each tick. No
// field holds a Go pointer; assigning to one is an error. Times are seconds
// (floats), weights basis points (ints; 10000 is everything).
//
//	state.phase            "pending", "progressing", "paused" (final phases never reach a script)
//	state.step             0 before the first step, then 1, 2, …
//	state.step_name        the current step's name, e.g. "5%"
//	state.now              seconds since the rollout began
//	state.step_start       seconds since the rollout began, at which the step began
//	state.in_step          seconds the current step has lasted
//	state.baseline         the baseline's version name
//	state.candidate        the candidate's version name
//	state.weights          frozen dict: version → weight now (bp)
//	state.candidate_weight the candidate's weight (bp)
//	state.target_weight    the candidate's weight as the rollout last set it, by a step or by
//	                       hand (bp): before capping for other versions, and the weight a
//	                       dry run would have set
//	state.window           frozen dict: version → figures of this tick
//	state.step_window      frozen dict: version → figures of the whole step
//	state.step_calls       the candidate's primary calls in this step
//	state.dry_run          True when the sentinel moves no weight
//	state.verdict          the judge's verdict over the rollout so far (see below)
//	state.memory           a dict the script may change, kept from tick to tick
//
// The window dicts hold the baseline, the candidate and any other version
// the window saw. Figures count primary calls only (shadow copies and
// warm-ups are kept apart), with zeros when there was no call:
//
//	calls, errors, error_rate, p50, p90, p99     (latency quantiles in seconds)
//	shadow_comparisons, shadow_mismatches        (the version's shadow replies compared)
//	fallbacks                                    (picks of the version while it had no ready endpoint)
//
// A verdict is a struct:
//
//	outcome     "pass", "fail" or "inconclusive"
//	reason      one line for people
//	test        the failing test ("errors", "latency", "shadow") on fail, else ""
//	statistic   the e-value of the failing or reported test, 0.0 when none
//	threshold   the e-value at which the test fails (1/α), 0.0 when none
//	alpha       the test's share of the false-rollback budget, 0.0 when none
//	evidence    None, or a struct with every field of Evidence in snake case
//	            (method, statistic, threshold, alpha, looks, failed_at_look,
//	            candidate and baseline samples {samples, events, rate, p50,
//	            p90, p99}, step_samples, tolerance, pass_statistic,
//	            pass_threshold, prob_slower, z)
//	tests       a tuple of each enabled test's own verdict (the judge's verdict only)
//
// The statistics are there as functions of the state, valid during the tick
// only (a function kept in memory and called on a later tick fails):
//
//	state.judge()                   the judge's combined verdict now
//	state.errors()                  the errors test's verdict
//	state.latency(), state.shadow() those tests' verdicts, or None when disabled
//	state.budget()                  struct(errors, latency, shadow): each test's α
//	state.quantile(version, q, window = "step")
//	                                the q-quantile (0 ≤ q ≤ 1) of a version's latency in
//	                                seconds over "step" or "tick", None with no call
//	state.mann_whitney(window = "step")
//	                                the tie-corrected Mann-Whitney U of the candidate's
//	                                latency against the baseline's: struct(u, mean,
//	                                variance, z, prob_slower, candidate, baseline)
//	state.histogram(version, window = "tick", role = "primary")
//	                                a version's latency histogram (see below)
//
// state.memory is the only mutable part: a dict that lives as long as the
// Script, across ticks and reloads, so a script can count ticks, remember
// when something began, or keep its own figures. (Starlark freezes a
// script's globals after it loads, so memory is the place for state.) It is
// emptied when a new rollout begins (a state before the first step with
// another start time) and by ResetMemory. Changes made before a failing
// tick stay.
//
// state.now counts from the rollout's start, which a Script learns from the
// states before the first step (their step began with the rollout); a
// Script first called in a later step counts from that step's start.
//
// Besides the state, the script sees these globals:
//
//	params              a frozen struct of the values given with WithScriptParams
//	                    (getattr(params, "x", default) reads an optional one)
//	TOTAL_WEIGHT        10000
//	step_label(bp)      "5%", "0.5%": the step names the canary uses
//	percent(x)          a fraction as a percentage: "1.50%"
//	number(x)           an e-value or threshold, compactly: "180", "3.93e-14"
//	duration(seconds)   Go's rendering of a duration: "1m30s", "88.834ms"
//	struct(**fields)    an immutable struct, for a script's own records
//	math, json          the math and json modules of go.starlark.net
//	rate_test(tolerance, alpha, min_samples = 50, min_step_samples = 500)
//	                    a sequential test of a rate against a tolerance
//	                    (ShadowTest's mixture SPRT), for a script's own gates:
//	                    t.observe(samples, events), t.verdict(), t.failed(),
//	                    t.begin_step(); it fails a rate at or below tolerance
//	                    with probability at most alpha over all its looks.
//	                    Keep it in state.memory: one made at the top level is
//	                    frozen and cannot observe.
//	merge_histograms(hs) the sum of histograms, added in order
//
// A histogram (from state.histogram) is read-only: h.count, h.sum, h.min,
// h.max (seconds), h.quantile(q) (None when empty), h.count_above(seconds),
// h.merge(other). It may be kept in memory.
//
// Two host facilities exist when the Script is made with them, for
// strategies such as blue/green:
//
//	warmup_start()      (WithScriptWarmup) start warming the candidate up, on a
//	                    goroutine of the Script's; only the first call starts one
//	warmup_status()     struct(started, done, has_report, passed, reason, error)
//	shadow_on(rate)     (WithScriptShadow) copy rate of the calls to the candidate
//	shadow_off()        stop the copies
//
// shadow_on and shadow_off return None, or the error's text when the switch
// failed, so that a script can still roll back; they do nothing when the
// shadow is already as asked. These act when called, not when the tick's
// decision is carried out. A Script with a warm-up drives one rollout; its
// Close (the sentinel's Close calls it) stops the warm-up and the shadow.
//
// # Script actions
//
// Actions are builtins called from on_tick. At most one that sets the
// course may be called per tick; a second one, even the same again, is an
// error naming both calls' positions, so that a script never does
// something other than what its first decision said. With none, the rollout
// holds.
//
//	set_weight(bp, reason = "", step = "")
//	        begin a new step with the candidate at bp (the baseline gets the rest):
//	        the first step from "pending", the next one otherwise; step names it
//	        (default step_label(bp)); 10000 promotes
//	set_weights(weights, reason = "", step = "")
//	        set the weights from a dict version → bp that names the candidate;
//	        the sentinel moves only the candidate and the baseline, so any other
//	        version listed must keep its weight, and the listed weights must add
//	        up with the others to 10000. Without step the weights change within
//	        the current step; with it a new step of that name begins (as the
//	        blue/green cut-over does). 10000 does not promote: the rollout
//	        goes on until promote()
//	promote(reason = "")    all traffic to the candidate; the rollout ends
//	rollback(reason = "")   all traffic back to the baseline; the rollout ends
//	pause(reason = "")      hold the weights until an operator resumes
//	hold(reason = "")       keep everything as it is, for a reason
//
// And any number of these (up to 64 in all per tick; each message is cut
// at 2,048 bytes):
//
//	alert(message, ...)     raise an alert beside the action (joined by spaces, as print);
//	                        beside a hold, the tick's event is the first alert, and the
//	                        hold's reason is not sent
//	log(message, ...)       write a line to the sentinel's log
//	print(...)              the same as log (at a script's top level it goes nowhere)
//
// While the rollout is paused the sentinel carries out only rollback, hold
// and alerts; it holds the others, and one that alerts is sent as an alert
// event of its own, "paused: <action> (<reason>) is held", before its alert
// texts. Calling an action outside on_tick (at a script's top level) is an
// error.
//
// # Script sandbox
//
// A script cannot reach files, the network, the clock or the environment:
// Starlark has none of these unless the host gives them, and a Script gives
// none (there is no open, no time module; the time a script sees is the
// state's). load() finds only the libraries given with WithScriptLibrary and
// nothing else. The dialect is Starlark's default: no while loops, no
// recursion, no top-level if or for, no reassigned globals.
//
// Every run of Starlark code (the top level when a script loads, and each
// on_tick) has a step limit (WithScriptSteps, default 1,000,000 steps) and a
// time limit (WithScriptTimeout, default 100 ms); reaching one stops the
// script. A script that fails to load is rejected by NewScript, LoadScript,
// Reload and SetSource with a *ScriptError that carries file:line:col. A
// tick that fails — a runtime error, a limit, a bad action — makes Decide
// return a *ScriptError with the position and Starlark's backtrace; the
// sentinel then holds the rollout and raises an alert, or rolls back when
// WithRollbackOnPolicyError is set (contract 5). Memory is not limited
// beyond what the steps can build; a single builtin call (such as sorting a
// long list) runs to its end before a limit can stop it.
//
// # Reloading scripts
//
// Reload re-reads a script's file and SetSource replaces its source. Either
// compiles and loads the new program first and swaps it in atomically only
// if it loads and defines a proper on_tick; otherwise the old program keeps
// running and the error is returned. Both are safe to call while the
// sentinel ticks: a tick runs wholly on the program it began with.
//
// # Statistics
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
// Because the test conditions on each look's errors, the baseline's error
// rate is never estimated, and an outage that raises both versions' rates
// alike changes e but not the candidate's expected share n₁/(n₀+n₁) of it:
// it does not roll the candidate back. The candidate's share may change
// between looks (steps) but must not change inside a look: end a look
// whenever the weights change. Calls must be assigned to versions
// independently of how likely they are to fail (random weighted picks do
// this; sticky keys do so when keys are unrelated to failures).
//
// ErrorTest.Verdict's Pass means: both versions have MinCalls calls (50),
// the current step has MinStepCalls candidate calls (500), and the test has
// not failed. With ErrorConfig.Tolerance set (say 2), Pass also requires a
// second, mirrored e-process, with alternatives ψ = Tolerance/√2 …
// Tolerance/16 against ψ = Tolerance, to have reached 1/PassAlpha: then
// the candidate's error odds are below Tolerance times the baseline's with
// confidence 1−PassAlpha (5 %). That test needs errors to learn from, so a
// rollout of a service that never fails never passes it; it is off by
// default.
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
// This was chosen over a fixed-sample Mann-Whitney test with α spent
// across looks, which needs the number of looks in advance and a normal
// approximation, and over a test of the share of calls above one baseline
// quantile, which uses one bucket edge and so less of the data. The
// evidence still reports the classical tie-corrected Mann-Whitney z and
// P(candidate slower) + ½·P(tie) over the whole rollout (MannWhitney), and
// the p50, p90 and p99 of each version (Quantile).
//
// The test allows the candidate a slowdown, LatencyConfig.Tolerance
// (default 10 %): each candidate bucket is moved down to the bucket of its
// upper bound ÷ (1 + Tolerance) before the ranks are taken, so the test
// fails only a candidate slower than the baseline by more than that. A new
// version's first calls are often a little slower (cold connections and
// caches), and with enough calls any such difference would be found; the
// tolerance keeps the test to differences that matter. The sentinel maps
// every window onto one grid of eight buckets an octave (LatencyGrid), so
// the default tolerance is one bucket; Strict tests for any slowdown.
//
// LatencyTest.Verdict's Pass means: both versions have MinCalls latency
// samples (50), the step has MinStepCalls candidate samples (500), and the
// test has not failed.
//
// # Shadow mismatches
//
// Each compared shadow response matches or mismatches the primary's. The
// test mixes, with equal weights, Bernoulli likelihood ratios of a mismatch
// rate p₁ = 1.5, 2, 3, 5, 10, 20, 50 times the tolerance p₀ (those below 1)
// against p₀ (default 1 %). Under a rate at or below p₀ each factor has
// expectation at most 1, so the test fails a candidate within tolerance
// with probability at most α_shadow. Pass means MinComparisons (50) in the
// rollout, MinStepComparisons (500) in the step, and not failed.
//
// # The Judge and the α budget
//
// JudgeConfig.Alpha (1 %) is split between the enabled tests in proportion to
// JudgeConfig.Shares: errors 0.5, latency 0.4, shadow 0.1; a disabled test's
// share goes to the others (with the default tests, errors get 0.556 % and
// latency 0.444 %). By the union bound the probability that any test fails
// a candidate as good as the baseline is at most Alpha. Judge.Budget
// reports the split; each Verdict's evidence carries its test's α.
//
// The budget is per rollout, not per step: each test's e-process runs
// across all the steps of a rollout (the candidate's share enters each
// look's factor, so steps need no special treatment), and BeginStep only
// restarts the per-step sample counts that Pass needs. Reset starts a new
// rollout and spends α afresh; resetting at every step would multiply the
// false-rollback probability by the number of steps.
//
// The Judge's verdict: Fail if any test failed (with that test's evidence);
// Pass if every enabled test passes; otherwise Inconclusive, with the
// reasons of the tests that do not pass yet. Verdicts serialise to JSON.
//
// # Simulation
//
// The internal/sim package simulates thousands of seeded rollouts without
// gRPC and runs the Judge beside a Flagger-style fixed threshold on the
// same traffic; `go run ./sentinel/internal/sim/cmd/simulate -runs 2000
// -seed 1` prints the table of false rollbacks and candidate calls served
// before rollback.
package sentinel
