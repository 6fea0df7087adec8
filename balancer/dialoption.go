package balancer

import (
	"encoding/json"

	"google.golang.org/grpc"
)

// Option sets one routing setting of WithSplit.
type Option interface{ apply(*Config) }

type optionFunc func(*Config)

func (f optionFunc) apply(c *Config) { f(c) }

// StickyKey names the outgoing metadata key (such as "x-user-id") whose value
// keeps a caller on one version for given weights.
func StickyKey(key string) Option { return optionFunc(func(c *Config) { c.StickyKey = key }) }

// OverrideKey names the outgoing metadata key (such as "x-ninelives-version")
// whose value forces a call to the version it names.
func OverrideKey(key string) Option { return optionFunc(func(c *Config) { c.OverrideKey = key }) }

// DefaultVersion names the version that owns endpoints without a label; by
// default the split's first version.
func DefaultVersion(v string) Option { return optionFunc(func(c *Config) { c.DefaultVersion = v }) }

// Fallback turns fallback on (the default) or off: with it off, a call whose
// chosen version has no READY endpoint fails with Unavailable instead of going
// to another version.
func Fallback(on bool) Option { return optionFunc(func(c *Config) { c.Fallback = &on }) }

// ServiceConfig returns the service config JSON that makes a channel use the
// ninelives_split policy steered by s, with the given settings, for a
// program that writes its own default service config (one with a retry
// policy, say) or hands it to a resolver. It is checked as ParseConfig
// would check it; the error is a *ConfigError.
//
// As WithSplit does, it keeps s alive for a minute for the channel to come.
func ServiceConfig(s *Split, opts ...Option) (string, error) {
	if s != nil {
		s.pin()
	}
	js := lbConfig(s, opts)
	if _, err := ParseConfig(js); err != nil {
		return "", err
	}
	return serviceConfig(js), nil
}

// WithSplit is the dial option that makes a client split its calls between
// versions by the weights of s, from the very next pick after each change.
// One Split may steer many clients. The setting lives in the channel's
// default service config, so it survives re-resolution and idleness, and a
// service config from the resolver, if any, takes precedence.
//
// Bad settings are not silently dropped: grpc.NewClient then fails with the
// error that names them, the one ServiceConfig returns.
//
// The config names s by a reference, which a channel resolves while s is
// alive; WithSplit keeps s alive for pinTime, so that a Split the caller
// keeps no reference to (WithSplit(MustSplit(…)) inline) is still there
// when grpc.NewClient parses the config. A channel keeps its Split alive
// from then on.
func WithSplit(s *Split, opts ...Option) grpc.DialOption {
	if s != nil {
		s.pin()
	}
	return grpc.WithDefaultServiceConfig(serviceConfig(lbConfig(s, opts)))
}

// nilSplitRef is the splitRef of a nil *Split: it names no Split, and
// ParseConfig says that WithSplit was given nil.
const nilSplitRef = "nil"

// lbConfig is the ninelives_split config of s and opts as JSON: the
// settings as given, checked or not, so that ParseConfig finds a bad one
// wherever the config is parsed. The Split is carried by its reference.
func lbConfig(s *Split, opts []Option) json.RawMessage {
	cfg := Config{SplitRef: nilSplitRef}
	if s != nil {
		cfg.SplitRef = s.ref
		for _, w := range s.Weights() {
			cfg.Versions = append(cfg.Versions, ConfigVersion{Name: w.Version, Weight: w.Weight})
		}
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	js, _ := json.Marshal(cfg) // strings, ints and a *bool always encode
	return js
}

// serviceConfig wraps a ninelives_split config in a service config.
func serviceConfig(lb json.RawMessage) string {
	return `{"loadBalancingConfig":[{"` + Name + `":` + string(lb) + `}]}`
}
