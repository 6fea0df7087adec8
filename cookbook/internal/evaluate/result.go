package evaluate

import (
	"time"
)

// Outcome is how a run ended.
type Outcome string

// The outcomes.
const (
	Promoted   Outcome = "promoted"
	RolledBack Outcome = "rolled back"
	Aborted    Outcome = "aborted"
	Held       Outcome = "held"   // no decision within the scenario's limit
	Failed     Outcome = "failed" // the harness could not run it (Err says why)
)

// Result is what one run did.
type Result struct {
	Scenario string
	Hog      bool
	Seed     uint64
	Rate     int // calls/s
	Outcome  Outcome
	// Why is the test behind a rollback ("errors", "latency/p99",
	// "availability"), or "policy" for a decision without a verdict.
	Why    string
	Reason string // the final decision's reason
	// CandidateCalls are the candidate's primary calls from the start (from
	// the break, if the scenario has one) to the decision, or to the end.
	CandidateCalls int64
	// Decided is the time from the start (or the break) to the decision.
	Decided time.Duration
	// Calls and FailedCalls are the users' calls and those that failed.
	Calls, FailedCalls int64
	// Failures says what the failed calls were: each status code, how
	// many, and its first message.
	Failures string
	// Rescued counts the candidate's calls the rescue interceptor resent
	// to the baseline (-rescue; 0 without).
	Rescued int64
	// TimedOut counts the user calls that failed past their deadline
	// (callTimeout, a thousand times a demo call's latency): the machine
	// stalled, and the run measured an overload.
	TimedOut int64
	// Kept is the share of the run's rate the load kept up: calls made
	// over those its schedule asked for (the last ones in flight left out).
	Kept float64
	// BeforeBreak: a scenario with a break rolled back before it, which
	// is a false rollback, not a detection.
	BeforeBreak bool
	// FailedAfterKill counts the failed user calls that started later than
	// killGrace after the kill of the candidate before they failed.
	FailedAfterKill int64
	// MovedWhileDown: the rollout advanced or promoted while the
	// candidate's servers were killed, before they were ready again.
	MovedWhileDown bool
	// FixAlert is when the alert naming the fix for missing shadow data
	// came, from the start; 0 if none did.
	FixAlert time.Duration
	Err      string
	// Trace lists the run's decisions and the harness's events, when the
	// job asked for it.
	Trace []string
}

// decided reports whether the run made the decision its scenario wants:
// a rollback for a harmful one, a promotion otherwise.
func (r Result) decided(harmful bool) bool {
	if harmful {
		return r.Outcome == RolledBack && !r.BeforeBreak
	}
	return r.Outcome == Promoted
}
