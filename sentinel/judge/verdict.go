package judge

import (
	"fmt"
	"math"
	"strings"

	"github.com/ninelives-go/ninelives/internal/config"
)

// Outcome is what a test concludes about the candidate at one look.
// The zero value is Inconclusive, so a Verdict that was never filled in
// holds the rollout.
type Outcome uint8

const (
	// Inconclusive: not enough evidence either way (or no usable data); the
	// rollout holds.
	Inconclusive Outcome = iota
	// Pass: the candidate is healthy enough to advance (see each test's
	// Verdict for exactly what that means).
	Pass
	// Fail: the candidate is worse than the baseline with the configured
	// confidence; roll it back.
	Fail
)

var outcomeNames = [...]string{Inconclusive: "inconclusive", Pass: "pass", Fail: "fail"}

// String returns "inconclusive", "pass" or "fail".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// MarshalText encodes the outcome as its name.
func (o Outcome) MarshalText() ([]byte, error) {
	if int(o) >= len(outcomeNames) {
		return nil, config.Errorf(ErrBadState, "outcome", int(o), "want inconclusive, pass or fail")
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText decodes an outcome from its name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if string(b) == n {
			*o = Outcome(i)
			return nil
		}
	}
	return config.Errorf(ErrBadState, "outcome", string(b), "want inconclusive, pass or fail")
}

// Names of the tests, as they appear in Verdict.Test: the judge's own, and
// those the sentinel's strategies decide on besides it.
const (
	TestErrors  = "errors"
	TestLatency = "latency"
	TestShadow  = "shadow"
	// TestWarmup: blue/green's fork-join warm-up of every endpoint of the
	// candidate.
	TestWarmup = "warmup"
	// TestWindow: blue/green's rollback window, green judged after the
	// cut-over (against blue over the same seconds, by the judge, or with
	// CompareWithPast against blue's figures before it).
	TestWindow = "rollback window"
	// TestAvailability: a rollback for want of a serving candidate; an
	// Inconclusive verdict, since no statistic failed the candidate.
	TestAvailability = "availability"
)

// Verdict is a test's (or the Judge's) conclusion with the reason and the
// evidence behind it. It is JSON-serialisable: no field ever holds NaN or
// an infinity.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	// Test names the test the verdict is about: TestErrors, TestLatency,
	// TestShadow, or one the sentinel decides on (TestWarmup, …). In a Judge's verdict it names the failing test on Fail and
	// is empty otherwise.
	Test string `json:"test,omitempty"`
	// Reason is one line for people: what was concluded and why.
	Reason string `json:"reason"`
	// Evidence backs a single test's verdict (and a Judge's Fail). Nil in a
	// Judge's Pass or Inconclusive verdict, whose Tests hold it instead.
	Evidence *Evidence `json:"evidence,omitempty"`
	// Tests holds, in a Judge's verdict, the verdict of every enabled test.
	Tests []Verdict `json:"tests,omitempty"`
}

// Evidence is what a test measured. Rates and quantiles are 0 when there is
// no sample to compute them from.
type Evidence struct {
	// Method names the statistical method (see the package documentation).
	Method string `json:"method"`
	// Statistic is the test's e-value against the hypothesis that the
	// candidate is within the tolerance (the errors test: the smaller of
	// its two parts'); the test fails when it reaches Threshold. Once
	// failed, the value at the failing look. Capped at 1e300 for JSON.
	Statistic float64 `json:"statistic"`
	// Threshold is 1/Alpha (Ville's inequality).
	Threshold float64 `json:"threshold"`
	// Alpha is this test's share of the false-rollback budget for the whole
	// rollout.
	Alpha float64 `json:"alpha"`
	// Looks counts the valid looks observed since the rollout began.
	Looks int `json:"looks"`
	// FailedAtLook is the look at which Statistic first reached Threshold
	// (0 while it has not).
	FailedAtLook int `json:"failedAtLook,omitempty"`
	// SinceLook is the look whose restart carries the largest part of
	// Statistic (1: the evidence runs from the rollout's start): "evidence
	// since look 152". RestartStart and RestartLooks are the Restarts in
	// force (ω and N).
	SinceLook int `json:"sinceLook,omitempty"`
	// IdleLooks counts the latest looks without a candidate sample (calls,
	// or comparisons for shadow): 0 when the last look had some, Looks
	// when none has. A test that has gone idle judges nothing new.
	IdleLooks    int     `json:"idleLooks,omitempty"`
	RestartStart float64 `json:"restartStart,omitempty"`
	RestartLooks int     `json:"restartLooks,omitempty"`
	// Candidate and Baseline are the cumulative figures of the rollout.
	Candidate Sample `json:"candidate"`
	Baseline  Sample `json:"baseline"`
	// StepSamples counts the candidate's samples since the current step
	// began (BeginStep).
	StepSamples int64 `json:"stepSamples"`
	// Tolerance is the error-odds ratio of the errors test's optional
	// pass test, the mismatch rate (shadow), or the relative latency
	// tolerance (latency; AbsoluteTolerance is the absolute one, in
	// seconds); 0 when not used.
	Tolerance         float64 `json:"tolerance,omitempty"`
	AbsoluteTolerance float64 `json:"absoluteTolerance,omitempty"`
	// PassStatistic and PassThreshold belong to the errors test's optional
	// non-inferiority test: the e-value against "the candidate's error odds
	// are at least Tolerance times the baseline's", and 1/PassAlpha.
	PassStatistic float64 `json:"passStatistic,omitempty"`
	PassThreshold float64 `json:"passThreshold,omitempty"`
	// The errors test's two parts: the e-value of the odds part (error
	// odds above the baseline's) and of the floor part (error rate above
	// (1+RelativeFloor)·baseline + Floor), each at the look it reached
	// Threshold (OddsAtLook, FloorAtLook; 0 while it has not) or now.
	OddsStatistic  float64 `json:"oddsStatistic,omitempty"`
	OddsAtLook     int     `json:"oddsAtLook,omitempty"`
	FloorStatistic float64 `json:"floorStatistic,omitempty"`
	FloorAtLook    int     `json:"floorAtLook,omitempty"`
	Floor          float64 `json:"floor,omitempty"`
	RelativeFloor  float64 `json:"relativeFloor,omitempty"`
	// Part names the latency test's part that carries most of Statistic
	// (at the failing look, once failed): "centre", or a tail ("p99"); and
	// "errors" when the shadow test failed on the copies' failures rather
	// than on their mismatches.
	Part string `json:"part,omitempty"`
	// Tail holds the latency test's tail evidence, one per quantile.
	Tail []TailEvidence `json:"tail,omitempty"`
	// ProbSlower is the latency effect size over the whole rollout:
	// P(candidate slower than baseline) + ½·P(same bucket), i.e. U/(n₁n₀)
	// of the Mann-Whitney test; 0.5 means no difference.
	ProbSlower float64 `json:"probSlower,omitempty"`
	// Z is the tie-corrected Mann-Whitney z of the whole rollout's
	// histograms (descriptive; the decision uses Statistic).
	Z float64 `json:"z,omitempty"`
	// Clustering is the estimated correlation ρ of a look's calls, for the
	// errors test and for the latency test's parts (the centre, then each
	// tail): a look of k calls counts as 1 + (k−1)·ρ times fewer
	// independent ones.
	Clustering []float64 `json:"clustering,omitempty"`
}

// Sample is one version's cumulative figures in a test.
type Sample struct {
	// Samples counts calls (errors, latency) or comparisons (shadow).
	Samples int64 `json:"samples"`
	// Events counts errors (errors) or mismatches (shadow).
	Events int64 `json:"events,omitempty"`
	// Rate is Events/Samples.
	Rate float64 `json:"rate,omitempty"`
	// P50, P90 and P99 are latency quantiles in seconds, interpolated
	// within histogram buckets.
	P50 float64 `json:"p50,omitempty"`
	P90 float64 `json:"p90,omitempty"`
	P99 float64 `json:"p99,omitempty"`
}

// maxJSON caps e-values so that they stay finite in JSON.
const maxJSON = 1e300

// expCapped returns exp(x) capped to [0, maxJSON].
func expCapped(x float64) float64 {
	if x > math.Log(maxJSON) {
		return maxJSON
	}
	return math.Exp(x)
}

// finite returns x, or 0 when x is NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// rate returns events/samples, or 0 when samples is 0.
func rate(events, samples int64) float64 {
	if samples <= 0 {
		return 0
	}
	return float64(events) / float64(samples)
}

// Percent formats a fraction as a percentage, as the verdicts' reasons do:
// "0%", "0.050%", "1.50%", "25.0%".
func Percent(x float64) string {
	switch p := 100 * x; {
	case p == 0:
		return "0%"
	case p < 0.1:
		return fmt.Sprintf("%.3f%%", p)
	case p < 10:
		return fmt.Sprintf("%.2f%%", p)
	default:
		return fmt.Sprintf("%.1f%%", p)
	}
}

// Number formats an e-value or a threshold compactly, as the verdicts'
// reasons do: "180", "0.5", "3.93e-14".
func Number(x float64) string {
	if x >= 1e6 || (x != 0 && x < 1e-3) {
		return fmt.Sprintf("%.3g", x)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
}

// Unavailable is the verdict of a rollback for want of a serving
// candidate: Inconclusive, since no statistic failed it, test
// TestAvailability, and the reason ("canary has no ready endpoints; 0
// calls in the last 5s").
func Unavailable(reason string) Verdict {
	return Verdict{Outcome: Inconclusive, Test: TestAvailability, Reason: reason}
}
