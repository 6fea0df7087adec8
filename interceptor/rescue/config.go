package rescue

import (
	"errors"
	"math"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/method"
	"github.com/ninelives-go/ninelives/internal/names"
)

// ErrBadConfig is the kind of every configuration New and SetVersions
// reject: errors.Is(err, ErrBadConfig) holds, and errors.As finds a
// *balancer.ConfigError naming the field and the value.
var ErrBadConfig = errors.New("ninelives: bad rescue config")

// DefaultCodes are the status codes that get a failed call rescued unless
// Config.Codes says otherwise: the server-side failures that telemetry
// counts against a release by default (telemetry.DefaultErrorCodes).
// DeadlineExceeded counts only while the caller's own deadline has not
// passed, that is when a server gave up on its own.
var DefaultCodes = []codes.Code{
	codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented,
	codes.Internal, codes.Unavailable, codes.DataLoss,
}

// Config configures an Interceptor. Candidate and Baseline are required;
// every other field has a default.
type Config struct {
	// Candidate is the version whose failures are rescued.
	Candidate string
	// Baseline is the version the rescue goes to.
	Baseline string
	// Methods lists full method names ("/package.Service/Method") that are
	// safe to repeat although their descriptor does not say so.
	Methods []string
	// Codes are the status codes of the candidate that get a call
	// rescued. Default DefaultCodes. Codes that describe the request
	// rather than the version (InvalidArgument, NotFound, AlreadyExists,
	// PermissionDenied, FailedPrecondition, OutOfRange, Unauthenticated),
	// and OK and Canceled, are refused: the baseline would answer them
	// alike, or the caller gave up.
	Codes []codes.Code

	// BudgetRatio and BudgetBurst bound the rescues, as gRPC's retry
	// throttling bounds retries, with a token bucket: every primary call
	// adds BudgetRatio tokens, up to BudgetBurst, and every rescue takes
	// one. The bucket starts full, so over any stretch of calls the
	// rescues are at most BudgetBurst + BudgetRatio × calls. A call the
	// budget cannot pay for fails as it would without the interceptor
	// (Stats.Throttled). Defaults 0.1 (10 % extra calls at most) and 100.
	BudgetRatio float64
	BudgetBurst int

	// The hedge delay of a method is HedgeFactor × the HedgeQuantile of
	// the time the baseline took to answer it, over its last
	// HedgeWindow to 2 × HedgeWindow answers, within [MinHedgeDelay,
	// MaxHedgeDelay]. A method is not hedged before the baseline has
	// answered it HedgeMinSamples times (its failures are still rescued).
	// Defaults 0.99, 2, 1000, 10ms, 10s and 20 (up to 101 answers the
	// quantile is the second largest of them).
	HedgeQuantile   float64
	HedgeFactor     float64
	HedgeWindow     int
	MinHedgeDelay   time.Duration
	MaxHedgeDelay   time.Duration
	HedgeMinSamples int
	// DisableHedge turns hedging off: only failed calls are rescued, slow
	// ones are left to run.
	DisableHedge bool

	// StreamMaxMessages and StreamMaxBytes bound the client messages a
	// stream keeps for a replay until the server first answers; a stream
	// that sends more is never rescued. Defaults 64 and 256 KiB (gRPC's
	// own retry buffer).
	StreamMaxMessages int
	StreamMaxBytes    int

	// Split, if set, tells the weights: while the candidate's is 0 no call
	// goes to it by the weights, and calls are not watched at all. A
	// *balancer.Split is one. Without it every call of a safe method is
	// watched, which costs it about a microsecond.
	Split Weights

	// Clock times the hedges. Default: the system clock.
	Clock Clock
}

// Weights is what the Interceptor reads of a split: a version's weight in
// basis points. *balancer.Split implements it.
type Weights interface {
	Weight(version string) int
}

// Clock is the time source of an Interceptor; tests give one they move by
// hand.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine after d, unless the timer is
	// stopped first, as time.AfterFunc does.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer a Clock set; *time.Timer is one.
type Timer interface {
	// Stop reports whether it stopped the timer's function from running.
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// The defaults of Config.
const (
	defaultBudgetRatio       = 0.1
	defaultBudgetBurst       = 100
	defaultHedgeQuantile     = 0.99
	defaultHedgeFactor       = 2
	defaultHedgeWindow       = 1000
	defaultMinHedgeDelay     = 10 * time.Millisecond
	defaultMaxHedgeDelay     = 10 * time.Second
	defaultHedgeMinSamples   = 20
	defaultStreamMaxMessages = 64
	defaultStreamMaxBytes    = 256 << 10
	maxBudgetBurst           = 1 << 30
)

// settings is a validated Config with its defaults filled in.
type settings struct {
	Config
	methods method.Rule
	codes   codeSet
}

func newSettings(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	if s.Clock == nil {
		s.Clock = systemClock{}
	}
	checks := []func() error{
		func() error { return validVersions(cfg.Candidate, cfg.Baseline) },
		s.parseLists,
		s.fillBudget,
		s.fillHedge,
		s.fillInts,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// validVersions checks the two versions and that they differ.
func validVersions(candidate, baseline string) error {
	if err := config.Under(ErrBadConfig, "Candidate", names.Version(candidate)); err != nil {
		return err
	}
	if err := config.Under(ErrBadConfig, "Baseline", names.Version(baseline)); err != nil {
		return err
	}
	if candidate == baseline {
		return config.Errorf(ErrBadConfig, "Baseline", baseline, "the same as Candidate: a rescue must go to another version")
	}
	return nil
}

func (s *settings) parseLists() error {
	var err error
	if s.methods, err = method.NewRule(ErrBadConfig, "Methods", s.Methods); err != nil {
		return err
	}
	if s.Codes == nil {
		s.Codes = DefaultCodes
	}
	s.codes, err = newCodeSet(s.Codes)
	return err
}

func (s *settings) fillBudget() error {
	if s.BudgetRatio == 0 {
		s.BudgetRatio = defaultBudgetRatio
	}
	if math.IsNaN(s.BudgetRatio) || s.BudgetRatio < 0.001 || s.BudgetRatio > 1 {
		return config.Errorf(ErrBadConfig, "BudgetRatio", s.BudgetRatio, "want a share of the calls in [0.001, 1], or 0 for the default %v", defaultBudgetRatio)
	}
	return nil
}

func (s *settings) fillHedge() error {
	if s.HedgeQuantile == 0 {
		s.HedgeQuantile = defaultHedgeQuantile
	}
	if math.IsNaN(s.HedgeQuantile) || s.HedgeQuantile <= 0 || s.HedgeQuantile >= 1 {
		return config.Errorf(ErrBadConfig, "HedgeQuantile", s.HedgeQuantile, "want a quantile strictly between 0 and 1")
	}
	if s.HedgeFactor == 0 {
		s.HedgeFactor = defaultHedgeFactor
	}
	if math.IsNaN(s.HedgeFactor) || s.HedgeFactor < 1 || s.HedgeFactor > 100 {
		return config.Errorf(ErrBadConfig, "HedgeFactor", s.HedgeFactor, "want a factor in [1, 100]: a hedge sooner than the baseline's own quantile would rescue healthy calls")
	}
	err := config.FillDefaults(ErrBadConfig,
		config.Setting[time.Duration]{Field: "MinHedgeDelay", V: &s.MinHedgeDelay, Default: defaultMinHedgeDelay},
		config.Setting[time.Duration]{Field: "MaxHedgeDelay", V: &s.MaxHedgeDelay, Default: defaultMaxHedgeDelay})
	if err != nil {
		return err
	}
	if s.MinHedgeDelay > s.MaxHedgeDelay {
		return config.Errorf(ErrBadConfig, "MinHedgeDelay", s.MinHedgeDelay, "above MaxHedgeDelay %v", s.MaxHedgeDelay)
	}
	return nil
}

func (s *settings) fillInts() error {
	err := config.FillDefaults(ErrBadConfig,
		config.Setting[int]{Field: "BudgetBurst", V: &s.BudgetBurst, Default: defaultBudgetBurst},
		config.Setting[int]{Field: "HedgeWindow", V: &s.HedgeWindow, Default: defaultHedgeWindow},
		config.Setting[int]{Field: "HedgeMinSamples", V: &s.HedgeMinSamples, Default: defaultHedgeMinSamples},
		config.Setting[int]{Field: "StreamMaxMessages", V: &s.StreamMaxMessages, Default: defaultStreamMaxMessages},
		config.Setting[int]{Field: "StreamMaxBytes", V: &s.StreamMaxBytes, Default: defaultStreamMaxBytes})
	if err != nil {
		return err
	}
	if s.BudgetBurst > maxBudgetBurst {
		return config.Errorf(ErrBadConfig, "BudgetBurst", s.BudgetBurst, "want at most %d", maxBudgetBurst)
	}
	if s.HedgeMinSamples > 2*s.HedgeWindow {
		return config.Errorf(ErrBadConfig, "HedgeMinSamples", s.HedgeMinSamples, "more than 2 × HedgeWindow %d, the most answers kept", s.HedgeWindow)
	}
	return nil
}
