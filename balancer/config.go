package balancer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/serviceconfig"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
	"github.com/ninelives-go/ninelives/internal/strictjson"
)

// ErrBadConfig is the kind of every service config that ParseConfig
// rejects: errors.Is(err, ErrBadConfig) holds for them.
var ErrBadConfig = errors.New("ninelives: bad ninelives_split config")

// ConfigError is the error a bad setting gets, from ParseConfig, NewSplit,
// ServiceConfig or grpc.NewClient with WithSplit: it names the field (as
// written in the service config, "versions[1].weight"), the value and what
// was wanted, and wraps ErrBadConfig or ErrBadWeights. Use errors.As to
// read its parts.
type ConfigError = config.Error

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

	split *Split // the Split the config steers with, resolved by ParseConfig
}

// ConfigVersion is one entry of Config.Versions.
type ConfigVersion struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// fallbackOn reports the effective fallback setting.
func (c *Config) fallbackOn() bool { return c.Fallback == nil || *c.Fallback }

// ParseConfig parses and validates a ninelives_split config, fills its
// defaults and resolves its Split. Every error wraps ErrBadConfig and names
// the field and the value; a field it does not know (a misspelt "fallbak",
// a "sticky_key") and anything after the config's closing brace are errors,
// not silently ignored. So a config written for a later release, with a
// field this one does not know, is refused, and grpc then refuses the whole
// service config: roll out the clients before the config. Keys are matched
// exactly, as written above: a key given twice in one object, or spelt in
// another case ("Versions"), is an error naming it.
func ParseConfig(js json.RawMessage) (*Config, error) {
	cfg := new(Config)
	if err := strictjson.Decode(js, cfg); err != nil {
		var te *strictjson.TrailingError
		if errors.As(err, &te) {
			return nil, config.Errorf(ErrBadConfig, "", nil, "trailing data after the config at offset %d: %q", te.Offset, te.Rest)
		}
		return nil, config.Under(ErrBadConfig, "", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) validate() error {
	if c.SplitRef == nilSplitRef {
		return config.Errorf(ErrBadConfig, "splitRef", c.SplitRef, "WithSplit was given a nil *Split; make one with NewSplit")
	}
	weights, seen, err := c.validVersions()
	if err != nil {
		return err
	}
	if c.DefaultVersion == "" {
		c.DefaultVersion = c.Versions[0].Name
	} else if !seen[c.DefaultVersion] {
		return config.Errorf(ErrBadConfig, "defaultVersion", c.DefaultVersion, "is not one of the versions")
	}
	if err := c.validKeys(); err != nil {
		return err
	}
	if c.SplitRef != "" {
		return c.attach()
	}
	s, err := NewSplit(weights...)
	if err != nil {
		return config.Under(ErrBadConfig, "versions", err)
	}
	c.split = s
	return nil
}

// validVersions checks the versions and their weights and returns them as
// weights, with the set of names.
func (c *Config) validVersions() ([]Weight, map[string]bool, error) {
	if len(c.Versions) == 0 {
		return nil, nil, config.Errorf(ErrBadConfig, "versions", nil, `empty; list at least one {"name", "weight"}`)
	}
	seen := map[string]bool{}
	sum := 0
	weights := make([]Weight, 0, len(c.Versions))
	for i, v := range c.Versions {
		field := fmt.Sprintf("versions[%d]", i)
		if err := config.Under(ErrBadConfig, field+".name", names.Version(v.Name)); err != nil {
			return nil, nil, err
		}
		if seen[v.Name] {
			return nil, nil, config.Errorf(ErrBadConfig, field+".name", v.Name, "is given twice")
		}
		seen[v.Name] = true
		if v.Weight < 0 || v.Weight > TotalWeight {
			return nil, nil, config.Errorf(ErrBadConfig, field+".weight", v.Weight, "is outside 0..%d (basis points)", TotalWeight)
		}
		sum += v.Weight
		weights = append(weights, Weight{Version: v.Name, Weight: v.Weight})
	}
	if sum != TotalWeight {
		return nil, nil, config.Errorf(ErrBadConfig, "versions", nil, "%s", sumReason(weights, sum))
	}
	return weights, seen, nil
}

// validKeys checks the metadata keys; "" turns a key's feature off.
func (c *Config) validKeys() error {
	for _, k := range []struct{ field, key string }{{"stickyKey", c.StickyKey}, {"overrideKey", c.OverrideKey}} {
		if k.key == "" {
			continue
		}
		if err := config.Under(ErrBadConfig, k.field, names.MetadataKey(k.key)); err != nil {
			return err
		}
	}
	if c.StickyKey != "" && c.StickyKey == c.OverrideKey {
		return config.Errorf(ErrBadConfig, "overrideKey", c.OverrideKey, "is the stickyKey too; they must differ")
	}
	return nil
}

// attach resolves SplitRef to the live Split it names, which must have
// exactly the config's versions.
func (c *Config) attach() error {
	s := lookupSplit(c.SplitRef)
	if s == nil {
		return config.Errorf(ErrBadConfig, "splitRef", c.SplitRef, "names no live Split; WithSplit sets it")
	}
	for i, v := range c.Versions {
		if !s.Has(v.Name) {
			return config.Errorf(ErrBadConfig, fmt.Sprintf("versions[%d].name", i), v.Name,
				"is not a version of split %s (it has %s)", c.SplitRef, strings.Join(s.versions, ", "))
		}
	}
	if len(s.versions) != len(c.Versions) {
		return config.Errorf(ErrBadConfig, "versions", nil, "%d versions, but split %s has %d", len(c.Versions), c.SplitRef, len(s.versions))
	}
	c.split = s
	return nil
}
