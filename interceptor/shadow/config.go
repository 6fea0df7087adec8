package shadow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/method"
	"github.com/ninelives-go/ninelives/internal/names"
)

// ErrBadConfig is the kind of every configuration New, SetRate,
// SetCandidate and SetBaseline reject: errors.Is(err, ErrBadConfig) holds,
// and errors.As finds a *balancer.ConfigError naming the field and the
// value.
var ErrBadConfig = errors.New("ninelives: bad shadow config")

// Header is the metadata key every shadow copy carries, so servers can
// tell copies apart from real traffic. Its value is "candidate" on copies to
// the candidate version and "baseline" on the noise copies to the baseline.
const Header = "x-ninelives-shadow"

// The values of Header.
const (
	markerCandidate = "candidate"
	markerBaseline  = "baseline"
)

// The results of a comparison, as recorded in ninelives.shadow.comparisons
// (attribute ninelives.shadow.result).
const (
	// ResultMatch: the replies are equal once the ignored fields are
	// cleared, or both calls failed with the same status code.
	ResultMatch = "match"
	// ResultMismatch: some field differs that is neither ignored nor noise,
	// or a stream's message count differs.
	ResultMismatch = "mismatch"
	// ResultNoise: the replies differ, but only in noisy fields (fields that
	// also differ between two replies of the baseline).
	ResultNoise = "noise"
	// ResultShadowError: the primary succeeded and the copy failed.
	ResultShadowError = "shadow_error"
	// ResultPrimaryError: the primary failed and the copy did not fail with
	// the same status code; nothing can be said about the candidate.
	ResultPrimaryError = "primary_error"
)

// The reasons a copy is dropped, as recorded in ninelives.shadow.dropped
// (attribute ninelives.shadow.reason). Calls left out by sampling are not
// drops and are not counted.
const (
	// DropUnsafeMethod: a sampled call of a method that is not safe to
	// repeat (its idempotency_level is neither NO_SIDE_EFFECTS nor
	// IDEMPOTENT and the user did not list it). It is never copied.
	DropUnsafeMethod = "unsafe_method"
	// DropConcurrency: the bound on copies in flight was reached.
	DropConcurrency = "concurrency"
	// DropStreamBuffer: a shadowed stream held more messages or bytes than
	// its buffer allows; its shadow was cancelled.
	DropStreamBuffer = "stream_buffer"
	// DropNoCandidate: the copy never reached a server of the candidate
	// (the version had no READY endpoint, or none became READY before the
	// copy's deadline). This is a drop, not a shadow_error, so a candidate
	// that is still starting does not count as failing.
	DropNoCandidate = "no_candidate"
	// DropTimeout: the copy had no time: the primary's deadline had
	// already passed when it was sampled, or a shadowed stream's primary
	// was still running when the copy's deadline passed, so there was no
	// complete pair to compare.
	DropTimeout = "timeout"
)

// Metrics receives the outcome of every copy. The telemetry package's
// *Metrics implements it; any other sink may too. Methods are called from
// the copies' goroutines, concurrently, and must not block.
type Metrics interface {
	// RecordShadowComparison counts one comparison: version is the
	// candidate, method the full method name, result one of the Result
	// constants.
	RecordShadowComparison(ctx context.Context, version, method, result string)
	// RecordShadowDropped counts one copy that was not made or not
	// compared; reason is one of the Drop constants.
	RecordShadowDropped(ctx context.Context, reason string)
}

// Config configures an Interceptor. Candidate is required; every other field
// has a default.
type Config struct {
	// Candidate is the version copies go to.
	Candidate string
	// Baseline, if set, turns on noise cancellation: a sampled call whose
	// primary went to the baseline gets a second copy to the baseline, and
	// the fields that differ between the two baseline replies are noise.
	Baseline string
	// Rate is the share of calls, in [0, 1], that are copied. 0 turns
	// shadowing off at the cost of one atomic load per call.
	Rate float64
	// StickyKey names an outgoing metadata key (such as "x-user-id"). Calls
	// that carry it are sampled by a hash of its value, so the same users
	// are shadowed every time; calls without it are sampled at random.
	// Sticky sampling goes by whole basis points (0.01 %), a Rate below
	// one counting as one.
	StickyKey string
	// Seed seeds the sampler. A call is sampled by a hash of the seed and
	// the call's sequence number, so the same seed and call order give the
	// same choices.
	Seed uint64

	// Methods lists full method names ("/package.Service/Method") that may
	// be copied although their descriptor does not say they are safe.
	Methods []string
	// IgnoreFields lists field paths ("generated_at", "item.tags") cleared
	// in every reply before comparison. A path through a repeated or map
	// field applies to each element.
	IgnoreFields []string
	// DenyMetadata lists outgoing metadata keys not forwarded to copies
	// (such as "authorization"), in lower case as gRPC sends them. All
	// others are forwarded.
	DenyMetadata []string
	// Compare replaces the built-in comparison (protobuf equality reported
	// as field paths, see Diff). It is given a primary reply and a copy's
	// reply, both with the ignored fields already cleared, and returns the
	// paths of the fields that differ ("item.price_cents"); nil or empty
	// means equal. The paths take part in noise learning like those of the
	// built-in comparison. It is called from the copies' goroutines,
	// concurrently.
	Compare func(method string, primary, shadow proto.Message) []string

	// Timeout is the deadline of every copy. 0 gives each copy the time the
	// primary had when it began.
	Timeout time.Duration
	// MaxTimeout caps the deadline of a copy, and is its deadline when the
	// primary had none. Default 10s, or Timeout if that is longer; a
	// Timeout above a MaxTimeout set is an error.
	MaxTimeout time.Duration
	// MaxConcurrent bounds the shadowed calls in flight (a call takes its
	// slot once its primary has returned, or its stream has opened, and
	// holds it to the end of its copies). A call that finds no free slot
	// is not copied (DropConcurrency). Default 64.
	MaxConcurrent int
	// StreamMaxMessages and StreamMaxBytes bound what one shadowed stream
	// holds at a time: client messages not yet sent to a copy, and server
	// messages of any side waiting for their counterpart. Past either
	// bound the stream's copies are cancelled (DropStreamBuffer). Defaults
	// 256 messages and 1 MiB.
	StreamMaxMessages int
	StreamMaxBytes    int

	// NoiseWindow and NoiseMinCount set how noise is learned: per method, a
	// field path is noisy while it differed between the two baseline
	// replies in at least NoiseMinCount of the last NoiseWindow baseline
	// comparisons. A path that differs between the baseline replies of the
	// very call being judged is noise for that call in any case. Defaults
	// 20 and 2.
	NoiseWindow   int
	NoiseMinCount int

	// MismatchLog is the number of recent mismatches and shadow errors kept
	// for Mismatches. Default 100.
	MismatchLog int
	// ShowValues makes mismatch records carry the differing values, passed
	// through Redact. Off by default: records name only the field paths.
	ShowValues bool
	// Redact turns each differing value, rendered as text, into what the
	// log keeps. Default: the value cut to 64 bytes.
	Redact func(path, value string) string

	// Metrics receives every comparison and drop. The Interceptor counts them
	// itself as well (see Stats).
	Metrics Metrics
}

// The defaults of Config.
const (
	defaultMaxTimeout        = 10 * time.Second
	defaultMaxConcurrent     = 64
	defaultStreamMaxMessages = 256
	defaultStreamMaxBytes    = 1 << 20
	defaultNoiseWindow       = 20
	defaultNoiseMinCount     = 2
	defaultMismatchLog       = 100
	redactLimit              = 64
)

// settings is a validated Config with its defaults filled in.
type settings struct {
	Config
	methods method.Rule
	ignore  [][]string
	deny    map[string]bool
}

func newSettings(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	checks := []func() error{
		func() error { return validVersion("Candidate", cfg.Candidate) },
		func() error { return validOptionalVersion("Baseline", cfg.Baseline) },
		func() error { return (targets{candidate: cfg.Candidate, baseline: cfg.Baseline}).distinct("Baseline") },
		func() error { return validRate(cfg.Rate) },
		func() error { return validOptionalKey("StickyKey", cfg.StickyKey) },
		s.parseLists,
		s.fillDurations,
		s.fillBounds,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return nil, err
		}
	}
	if s.Redact == nil {
		s.Redact = truncate
	}
	return s, nil
}

// parseLists checks Methods, IgnoreFields and DenyMetadata and keeps them
// in the forms the interceptor looks them up in.
func (s *settings) parseLists() error {
	var err error
	if s.methods, err = method.NewRule(ErrBadConfig, "Methods", s.Methods); err != nil {
		return err
	}
	s.deny = map[string]bool{}
	for i, p := range s.IgnoreFields {
		segs, err := parsePath(p)
		if err != nil {
			return config.Errorf(ErrBadConfig, fmt.Sprintf("IgnoreFields[%d]", i), p, "%v", err)
		}
		s.ignore = append(s.ignore, segs)
	}
	for i, k := range s.DenyMetadata {
		if err := config.Under(ErrBadConfig, fmt.Sprintf("DenyMetadata[%d]", i), names.MetadataKey(k)); err != nil {
			return err
		}
		s.deny[k] = true
	}
	return nil
}

// fillDurations checks the deadlines of the copies and fills in their
// defaults.
func (s *settings) fillDurations() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{"Timeout", &s.Timeout}, {"MaxTimeout", &s.MaxTimeout}} {
		if *d.v < 0 {
			return config.Errorf(ErrBadConfig, d.name, *d.v, "want 0 (the default) or more")
		}
	}
	if s.MaxTimeout == 0 {
		s.MaxTimeout = max(defaultMaxTimeout, s.Timeout)
	}
	if s.Timeout > s.MaxTimeout {
		return config.Errorf(ErrBadConfig, "Timeout", s.Timeout, "above MaxTimeout %v, which caps it", s.MaxTimeout)
	}
	return nil
}

// fillBounds checks the bounds and fills in their defaults.
func (s *settings) fillBounds() error {
	err := config.FillDefaults(ErrBadConfig,
		config.Setting[int]{Field: "MaxConcurrent", V: &s.MaxConcurrent, Default: defaultMaxConcurrent},
		config.Setting[int]{Field: "StreamMaxMessages", V: &s.StreamMaxMessages, Default: defaultStreamMaxMessages},
		config.Setting[int]{Field: "StreamMaxBytes", V: &s.StreamMaxBytes, Default: defaultStreamMaxBytes},
		config.Setting[int]{Field: "NoiseWindow", V: &s.NoiseWindow, Default: defaultNoiseWindow},
		config.Setting[int]{Field: "NoiseMinCount", V: &s.NoiseMinCount, Default: defaultNoiseMinCount},
		config.Setting[int]{Field: "MismatchLog", V: &s.MismatchLog, Default: defaultMismatchLog})
	if err != nil {
		return err
	}
	if s.NoiseMinCount > s.NoiseWindow {
		return config.Errorf(ErrBadConfig, "NoiseMinCount", s.NoiseMinCount, "more than NoiseWindow %d", s.NoiseWindow)
	}
	return nil
}

// validVersion checks the version a field names.
func validVersion(field, v string) error {
	return config.Under(ErrBadConfig, field, names.Version(v))
}

// validOptionalVersion is validVersion where "" turns the feature off.
func validOptionalVersion(field, v string) error {
	if v == "" {
		return nil
	}
	return validVersion(field, v)
}

// validOptionalKey checks a metadata key where "" turns the feature off.
func validOptionalKey(field, k string) error {
	if k == "" {
		return nil
	}
	return config.Under(ErrBadConfig, field, names.MetadataKey(k))
}

func validRate(r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return config.Errorf(ErrBadConfig, "Rate", r, "want a number in [0, 1]")
	}
	return nil
}

// parsePath splits "item.tags" into its field names.
func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("the path is empty")
	}
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if !isIdent(s) {
			return nil, fmt.Errorf("%q is not a field name", s)
		}
	}
	return segs, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// truncate is the default Redact: the value cut to 64 bytes on a rune
// boundary.
func truncate(_, v string) string {
	if len(v) <= redactLimit {
		return v
	}
	cut := redactLimit
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}
