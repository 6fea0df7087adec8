package balancer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/serviceconfig"
)

// ErrBadConfig is returned, wrapped, for every service config that
// ParseConfig rejects.
var ErrBadConfig = errors.New("ninelives: bad ninelives_split config")

// Config is the ninelives_split load-balancing config, as it appears in a
// service config:
//
//	{"loadBalancingConfig": [{"ninelives_split": {
//	  "versions": [{"name": "stable", "weight": 9000}, {"name": "canary", "weight": 1000}],
//	  "defaultVersion": "stable",
//	  "stickyKey": "x-user-id",
//	  "overrideKey": "x-ninelives-version",
//	  "fallback": true
//	}}]}
type Config struct {
	serviceconfig.LoadBalancingConfig `json:"-"`

	// Versions are the versions in their fixed order, with starting weights
	// in basis points summing to 10000.
	Versions []ConfigVersion `json:"versions"`
	// DefaultVersion owns the endpoints that carry no version label. It
	// defaults to the first version.
	DefaultVersion string `json:"defaultVersion,omitempty"`
	// StickyKey names an outgoing metadata key; calls carrying it keep to one
	// version for a given value and weights.
	StickyKey string `json:"stickyKey,omitempty"`
	// OverrideKey names an outgoing metadata key whose value forces the call
	// to the version it names.
	OverrideKey string `json:"overrideKey,omitempty"`
	// Fallback sends a version's share to the versions that can serve while
	// it has no READY endpoint. It defaults to true; with false such calls
	// fail with Unavailable.
	Fallback *bool `json:"fallback,omitempty"`
	// SplitRef ties the config to a Split made in Go; WithSplit sets it.
	// When it names a live Split, that Split's weights take over.
	SplitRef string `json:"splitRef,omitempty"`
	// Invalid carries an error of WithSplit's options into grpc.NewClient,
	// which then fails with it. Never set it by hand.
	Invalid string `json:"invalid,omitempty"`

	split *Split // the Split the config steers with, resolved by ParseConfig
}

// ConfigVersion is one entry of Config.Versions.
type ConfigVersion struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// FallbackEnabled reports the effective fallback setting.
func (c *Config) FallbackEnabled() bool { return c.Fallback == nil || *c.Fallback }

// Split returns the Split the config steers with.
func (c *Config) Split() *Split { return c.split }

// ParseConfig parses and validates a ninelives_split config, fills its
// defaults and resolves its Split. Every error wraps ErrBadConfig and names
// the field and the value; a field it does not know (a misspelt "fallbak",
// a "sticky_key") and anything after the config's closing brace are errors,
// not silently ignored. So a config written for a later release, with a
// field this one does not know, is refused, and grpc then refuses the whole
// service config: roll out the clients before the config.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := new(Config)
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	// Decode reads one value; whatever follows it, but white space, is an
	// error too.
	if rest := bytes.TrimLeft(js[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		off := len(js) - len(rest)
		if len(rest) > 40 {
			rest = append(rest[:40:40], "…"...)
		}
		return nil, fmt.Errorf("%w: trailing data after the config at offset %d: %q", ErrBadConfig, off, rest)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if c.Invalid != "" {
		// WithSplit's error is, almost always, already a config error.
		if msg, ok := strings.CutPrefix(c.Invalid, ErrBadConfig.Error()); ok {
			return fmt.Errorf("%w%s", ErrBadConfig, msg)
		}
		return bad("%s", c.Invalid)
	}
	if len(c.Versions) == 0 {
		return bad("versions is empty; list at least one {\"name\", \"weight\"}")
	}
	seen := map[string]bool{}
	sum := 0
	weights := make([]Weight, 0, len(c.Versions))
	for i, v := range c.Versions {
		if err := validVersionName(v.Name); err != nil {
			return bad("versions[%d].name: %v", i, err)
		}
		if seen[v.Name] {
			return bad("versions[%d].name: version %q appears twice", i, v.Name)
		}
		seen[v.Name] = true
		if v.Weight < 0 || v.Weight > TotalWeight {
			return bad("versions[%d].weight: %d for %q is outside 0..%d", i, v.Weight, v.Name, TotalWeight)
		}
		sum += v.Weight
		weights = append(weights, Weight{Version: v.Name, Weight: v.Weight})
	}
	if sum != TotalWeight {
		return bad("versions: weights sum to %d, want %d (basis points)", sum, TotalWeight)
	}
	if c.DefaultVersion == "" {
		c.DefaultVersion = c.Versions[0].Name
	} else if !seen[c.DefaultVersion] {
		return bad("defaultVersion: %q is not one of the versions", c.DefaultVersion)
	}
	if err := validMetadataKey(c.StickyKey); err != nil {
		return bad("stickyKey: %v", err)
	}
	if err := validMetadataKey(c.OverrideKey); err != nil {
		return bad("overrideKey: %v", err)
	}
	if c.StickyKey != "" && c.StickyKey == c.OverrideKey {
		return bad("stickyKey and overrideKey are both %q", c.StickyKey)
	}
	if c.SplitRef != "" {
		s := lookupSplit(c.SplitRef)
		if s == nil {
			return bad("splitRef: %q names no live Split", c.SplitRef)
		}
		for _, v := range c.Versions {
			if !s.Has(v.Name) {
				return bad("versions: %q is not a version of split %s (it has %s)", v.Name, c.SplitRef, strings.Join(s.versions, ", "))
			}
		}
		if len(s.versions) != len(c.Versions) {
			return bad("versions: %d versions, but split %s has %d", len(c.Versions), c.SplitRef, len(s.versions))
		}
		c.split = s
		return nil
	}
	s, err := NewSplit(weights...)
	if err != nil {
		return bad("versions: %v", err)
	}
	c.split = s
	return nil
}

// validMetadataKey accepts "" (the feature is off) or a valid, lower-case,
// non-binary gRPC metadata key that gRPC does not reserve.
func validMetadataKey(k string) error {
	if k == "" {
		return nil
	}
	if strings.HasPrefix(k, "grpc-") {
		return fmt.Errorf("%q: keys starting with grpc- are reserved", k)
	}
	if strings.HasSuffix(k, "-bin") {
		return fmt.Errorf("%q: binary (-bin) keys cannot carry a version or a sticky key", k)
	}
	if k[0] == ':' {
		return fmt.Errorf("%q: pseudo-headers cannot be used", k)
	}
	for _, r := range k {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%q: metadata keys hold only a-z, 0-9, '-', '_' and '.' (character %q)", k, r)
		}
	}
	return nil
}
