package interceptor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// ErrBadConfig is returned, wrapped, for every configuration this package
// rejects; the message names the field and the value.
var ErrBadConfig = errors.New("ninelives: bad interceptor config")

// ShadowHeader is the metadata key every shadow copy carries, so servers can
// tell copies apart from real traffic. Its value is "candidate" on copies to
// the candidate version and "baseline" on the noise copies to the baseline.
const ShadowHeader = "x-ninelives-shadow"

// The values of ShadowHeader.
const (
	MarkerCandidate = "candidate"
	MarkerBaseline  = "baseline"
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

// ShadowMetrics receives the outcome of every copy. The telemetry package's
// *Metrics implements it; any other sink may too. Methods are called from
// the copies' goroutines, concurrently, and must not block.
type ShadowMetrics interface {
	// RecordShadowComparison counts one comparison: version is the
	// candidate, method the full method name, result one of the Result
	// constants.
	RecordShadowComparison(ctx context.Context, version, method, result string)
	// RecordShadowDropped counts one copy that was not made or not
	// compared; reason is one of the Drop constants.
	RecordShadowDropped(ctx context.Context, reason string)
}

// CompareFunc compares a primary reply with a copy's reply, both with the
// ignored fields already cleared, and returns the paths of the fields that
// differ ("item.price_cents"); nil or empty means equal. Paths it returns
// take part in noise learning like those of the built-in comparison. It is
// called from the copies' goroutines, concurrently.
type CompareFunc func(method string, primary, shadow proto.Message) []string

// RedactFunc turns a differing value, rendered as text, into what the
// mismatch log keeps.
type RedactFunc func(path, value string) string

// ShadowConfig configures a Shadow. Candidate is required; every other field
// has a default.
type ShadowConfig struct {
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
	// (such as "authorization"). All others are forwarded.
	DenyMetadata []string
	// Compare replaces the built-in comparison (protobuf equality reported
	// as field paths).
	Compare CompareFunc

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
	// Redact turns each recorded value into what the log keeps. Default:
	// the value cut to 64 bytes.
	Redact RedactFunc

	// Metrics receives every comparison and drop. The Shadow counts them
	// itself as well (see Stats).
	Metrics ShadowMetrics
}

// The defaults of ShadowConfig.
const (
	DefaultMaxTimeout        = 10 * time.Second
	DefaultMaxConcurrent     = 64
	DefaultStreamMaxMessages = 256
	DefaultStreamMaxBytes    = 1 << 20
	DefaultNoiseWindow       = 20
	DefaultNoiseMinCount     = 2
	DefaultMismatchLog       = 100
	redactLimit              = 64
)

// settings is a validated ShadowConfig with its defaults filled in.
type settings struct {
	ShadowConfig
	methods map[string]bool
	ignore  [][]string
	deny    map[string]bool
}

func newSettings(cfg ShadowConfig) (*settings, error) {
	s := &settings{ShadowConfig: cfg, methods: map[string]bool{}, deny: map[string]bool{}}
	if err := validVersion("Candidate", cfg.Candidate, false); err != nil {
		return nil, err
	}
	if err := validVersion("Baseline", cfg.Baseline, true); err != nil {
		return nil, err
	}
	if err := (targets{candidate: cfg.Candidate, baseline: cfg.Baseline}).distinct("Baseline"); err != nil {
		return nil, err
	}
	if err := validRate(cfg.Rate); err != nil {
		return nil, err
	}
	if cfg.StickyKey != "" {
		if err := validMetadataKey(cfg.StickyKey); err != nil {
			return nil, fmt.Errorf("%w: StickyKey %q: %v", ErrBadConfig, cfg.StickyKey, err)
		}
	}
	for i, m := range cfg.Methods {
		if err := validMethod(m); err != nil {
			return nil, fmt.Errorf("%w: Methods[%d] %q: %v", ErrBadConfig, i, m, err)
		}
		s.methods[m] = true
	}
	for i, p := range cfg.IgnoreFields {
		segs, err := parsePath(p)
		if err != nil {
			return nil, fmt.Errorf("%w: IgnoreFields[%d] %q: %v", ErrBadConfig, i, p, err)
		}
		s.ignore = append(s.ignore, segs)
	}
	for i, k := range cfg.DenyMetadata {
		if err := validMetadataKey(k); err != nil {
			return nil, fmt.Errorf("%w: DenyMetadata[%d] %q: %v", ErrBadConfig, i, k, err)
		}
		s.deny[strings.ToLower(k)] = true
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &s.Timeout, 0},
		{"MaxTimeout", &s.MaxTimeout, max(DefaultMaxTimeout, cfg.Timeout)},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: %s is %v, want 0 (the default) or more", ErrBadConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if s.Timeout > s.MaxTimeout {
		return nil, fmt.Errorf("%w: Timeout %v is above MaxTimeout %v, which caps it", ErrBadConfig, s.Timeout, s.MaxTimeout)
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConcurrent", &s.MaxConcurrent, DefaultMaxConcurrent},
		{"StreamMaxMessages", &s.StreamMaxMessages, DefaultStreamMaxMessages},
		{"StreamMaxBytes", &s.StreamMaxBytes, DefaultStreamMaxBytes},
		{"NoiseWindow", &s.NoiseWindow, DefaultNoiseWindow},
		{"NoiseMinCount", &s.NoiseMinCount, DefaultNoiseMinCount},
		{"MismatchLog", &s.MismatchLog, DefaultMismatchLog},
	}
	for _, n := range ints {
		if *n.v < 0 {
			return nil, fmt.Errorf("%w: %s is %d, want 0 (the default) or more", ErrBadConfig, n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if s.NoiseMinCount > s.NoiseWindow {
		return nil, fmt.Errorf("%w: NoiseMinCount is %d, more than NoiseWindow %d", ErrBadConfig, s.NoiseMinCount, s.NoiseWindow)
	}
	if s.Redact == nil {
		s.Redact = truncate
	}
	return s, nil
}

func validVersion(field, v string, optional bool) error {
	switch {
	case v == "" && optional:
		return nil
	case v == "":
		return fmt.Errorf("%w: %s is empty; name the version copies go to", ErrBadConfig, field)
	case strings.ContainsAny(v, "=;?#/ \t\r\n"):
		return fmt.Errorf("%w: %s %q holds one of = ; ? # / or a space", ErrBadConfig, field, v)
	}
	return nil
}

func validRate(r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return fmt.Errorf("%w: Rate is %v, want a number in [0, 1]", ErrBadConfig, r)
	}
	return nil
}

// validMethod accepts "/package.Service/Method".
func validMethod(m string) error {
	if !strings.HasPrefix(m, "/") {
		return errors.New(`want a full method name such as "/package.Service/Method"`)
	}
	svc, name, ok := strings.Cut(m[1:], "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return errors.New(`want a full method name such as "/package.Service/Method"`)
	}
	return nil
}

// validMetadataKey accepts the keys grpc accepts: lower-case letters,
// digits, '-', '_' and '.', once lower-cased.
func validMetadataKey(k string) error {
	if k == "" {
		return errors.New("the key is empty")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("character %q is not allowed in a metadata key", c)
		}
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

// truncate is the default RedactFunc: the value cut to 64 bytes on a rune
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
