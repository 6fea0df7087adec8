// Package sentinel judges a candidate version against the baseline from
// live figures and drives the rollout.
//
// # The control loop
//
// A Sentinel runs one rollout. Each tick (WithInterval, 1 s by default)
// it collects a window from a telemetry.MetricSource, gives the judge that
// window as one look, asks its Strategy what to do, and does it to its
// Router — a *balancer.Split, or any other keeper of weights (the fleet's
// leader has one that publishes them to every replica). The judge's bound
// on false rollbacks holds however often it looks; what the sentinel
// measures over time is a duration, whatever the interval (but for the
// judge's few settings counted in looks: WithInterval says which):
//
//	src, _ := telemetry.NewSource()
//	mp := sdkmetric.NewMeterProvider(src.Option())
//	metrics, _ := telemetry.New(telemetry.WithMeterProvider(mp))
//	stop, _ := metrics.Instrument(split)
//	canary, _ := sentinel.NewCanary(sentinel.CanaryConfig{}) // 1 → 5 → 25 → 50 → 100 %
//	s, err := sentinel.New(split, src, canary,
//		sentinel.WithVersions("stable", "canary"),
//		sentinel.WithDecisionRecorder(metrics),
//		sentinel.WithAlerters(hook)) // hook, _ := webhook.New(webhook.Config{URL: …})
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
// # Where the rollout stands
//
// One type, Position, says where a rollout stands: its versions, phase and
// step, the weights, the weight it asked for, and who last changed it, how
// and why. The State a strategy sees, the Status a page shows, the
// Checkpoint that is saved and every Event embed it, and so does the
// fleet's published rollout state.
//
// Every decision is an Event with its evidence: the action, the phase
// before and the position after, the reason, who decided, the judge's
// verdict (test, statistic, threshold, α, counts, rates, quantiles) and each
// version's figures over the step. Events go to slog, to the
// ninelives.sentinel.decisions counter (WithDecisionRecorder) and, when a
// person should know (rollback, abort, promotion, pause, a failing source or
// policy), to the Alerters on a goroutine of their own, so a slow webhook
// never delays a tick; package sentinel/webhook has one (a JSON POST with a
// timeout and retries with backoff, its URL's secrets kept out of logs).
// A receiver that falls behind never costs the alerts that matter: a
// promotion, rollback or abort is never dropped and goes out ahead of a
// policy's own alerts still queued, which are merged, cut to 16 a
// decision, and dropped oldest first past 64, with a note saying so.
// Status returns a JSON-ready snapshot for programs and pages (package
// statuspage serves one).
//
// Shutdown(ctx) (Close: bounded by WithCloseTimeout, default 5 s) returns
// by its deadline even with a hanging webhook or a tick stuck in a
// strategy or source that ignores its context; a *ShutdownError lists the
// alerts it could not deliver. After it, ticks decide nothing and manual
// controls return ErrClosed.
//
// Contract 8: a step advances, and a rollout promotes, only on calls the
// candidate served recently. Each tick the sentinel records what it served
// (State.Serving: its calls and fallbacks over the last ServingConfig.Span,
// 5 s, and its READY endpoints when the router lists them, as a
// *balancer.Split does; a router that cannot is judged on calls alone). A
// candidate that is down holds the rollout with one alert ("canary has no
// ready endpoints; 0 calls in the last 5s"), and the strategies roll it
// back as unavailable (the verdict's test is judge.TestAvailability, never
// a statistical fail) once it has not served for
// ServingConfig.RollbackAfter; one that comes back in time carries on.
// Coming back means serving through a whole span: a candidate in a crash
// loop, back for less than that between its crashes, has not served since
// its first crash, and the reason counts the times it was seen going down
// after serving again (Serving.Downs).
// The calls in flight when its servers die fail Unavailable before any
// answer (telemetry's VersionStats.Unanswered). In the rollout's first
// loss they are put down to it (State.Serving.Lost), not given to the
// judge, so that a candidate killed and restored, or that lost a machine,
// is not rolled back as a statistical fail: its first outage, from the
// tick it is first seen down to the first it is not, or, when it first
// loses ready endpoints with calls unanswered (one server of several
// died), that tick and the next (no step advances on them). Others are
// held from the judge for one look, in case the endpoints are seen gone
// only on the next tick (a step does not advance while some are held),
// then judged: those lost while the candidate loses no ready endpoint,
// those of a crash loop, which serves between its crashes, of a later
// outage or lost server, and of a candidate that goes on losing calls.
// State.JudgedCandidate gives a strategy that judges the window itself the
// figures the judge saw (blue/green's CompareWithPast judges those). A
// test of the judge that has had no data for WithNoDataAlert alerts once
// with the cause and the fix; WithShadow gives the shadow interceptor whose
// copies the shadow test reads, so that New warns when none can be made and
// the alert names the methods. A window that counts calls past telemetry's
// method cap (Window.Overflow) alerts once a rollout: those calls are
// judged, but their methods are lost.
//
// Contract 5 holds in the loop too: a metric source that fails holds the
// rollout and alerts once per failure streak (WithRollbackOnSourceError
// rolls back instead); a strategy or script that fails does the same
// (WithRollbackOnPolicyError); no data is never a pass. A look during which
// the weights were changed by a manual control or from outside the sentinel
// is left out of the judge, since the tests need one candidate share per
// look. WithDryRun judges and reports every decision but never moves a
// weight. WithClock injects a clock; tests call Tick themselves (package
// sentineltest has a clock and a source a test drives by hand).
//
// Checkpoint reads where a rollout stands, with the step's figures, the
// judge's statistics and a StatefulStrategy's own state; Restore carries
// the rollout on from one, on this sentinel or another, so α is spent once
// however many sentinels take turns.
//
// # Strategies
//
// NewCanary moves the candidate's weight through its steps, in basis
// points (default 1 %, 5 %, 25 %, 50 %, then 100 %); each step lasts at
// least MinStepDuration and MinStepCalls candidate calls and advances only
// on the judge's Pass (errors, latency and, with judge.Config.EnableShadow,
// shadow mismatches) while the candidate serves. The judge's Fail rolls
// back at any step. After a weight set by hand it goes on to the first of
// its steps above that weight.
//
// NewBlueGreen warms green up through fork-join calls to each of its
// endpoints, optionally compares it with blue under shadow traffic for a
// grace period, cuts over in one weight change that leaves blue a small
// share (BlueShare), and judges green against blue over the same seconds
// through a rollback window, so that a slower machine does not count
// against green (CompareWithPast judges it against blue's figures before
// the cut-over instead); a failure sends all the traffic back to blue at
// once. A decision that rests on a strategy's own test carries its verdict
// (Decision.Verdict), and the event of a decision that begins a step shows
// the figures of the step that passed.
//
// # Release after release
//
// A Sentinel runs one rollout; package release runs rollout after rollout
// on one Sentinel and its Router, watching which build each version's
// endpoints serve: it restores the sentinel afresh for each new build,
// gives the baseline the traffic back once it serves a promoted build, and
// idles the sentinel in between (Idle: figures collected and kept, neither
// judged nor decided).
//
// # What the status shows
//
// A strategy that is a plan.Planner names its steps with their gates (the
// least time and calls, the test that passes each) in Status.Plan; the
// canary, the blue/green strategy and scripts given WithPlan are.
// Status.Steps records each step left, with the decision that ended it and
// the verdict it rested on; Status.StepVerdict is the strategy's own
// verdict on the current step when it decides it (blue/green's shadow gate
// and rollback window). Status.History covers the whole rollout: past
// WithHistory summaries, older ticks are summed pairwise.
//
// # Statistics and scripts
//
// The statistics live in package judge: its Judge holds the sequential
// tests of a rollout (errors, latency, shadow mismatches) with their false
// rollback guarantee, and the sentinel gives it each tick's window as one
// look, mapped onto one latency grid. Strategies written in Starlark live
// in package script, which also holds the built-in strategies as scripts;
// importing sentinel alone pulls in no Starlark.
package sentinel
