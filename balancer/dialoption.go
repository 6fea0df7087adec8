package balancer

import (
	"encoding/json"
	"fmt"

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
// ninelives_split policy steered by s, with the given settings. It is
// checked as ParseConfig would check it.
func ServiceConfig(s *Split, opts ...Option) (string, error) {
	cfg := Config{SplitRef: s.ref}
	for _, w := range s.Weights() {
		cfg.Versions = append(cfg.Versions, ConfigVersion{Name: w.Version, Weight: w.Weight})
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("ninelives: encoding the service config: %w", err)
	}
	if _, err := ParseConfig(js); err != nil {
		return "", err
	}
	return `{"loadBalancingConfig":[{"` + Name + `":` + string(js) + `}]}`, nil
}

// WithSplit is the dial option that makes a client split its calls between
// versions by the weights of s, from the very next pick after each change.
// One Split may steer many clients. The setting lives in the channel's
// default service config, so it survives re-resolution and idleness, and a
// service config from the resolver, if any, takes precedence.
//
// Bad settings are not silently dropped: the returned option then makes
// grpc.NewClient fail with the error that names them.
func WithSplit(s *Split, opts ...Option) grpc.DialOption {
	sc, err := ServiceConfig(s, opts...)
	if err != nil {
		js, _ := json.Marshal(Config{Invalid: err.Error()})
		return grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"` + Name + `":` + string(js) + `}]}`)
	}
	return grpc.WithDefaultServiceConfig(sc)
}
