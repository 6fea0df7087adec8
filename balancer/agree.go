package balancer

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	"github.com/ninelives-go/ninelives/internal/config"
)

// The names must agree (contract 7): a version in the target that the
// config does not name, or one the config names with no target, is an
// error, never a silent reroute. grpc.NewClient shows the policy only the
// config and the resolver only the target, so the policy checks them when
// the endpoints arrive; the composite resolver tells it which versions its
// target names.

// targetInfo is what the composite resolver tells the policy, as an
// attribute of its state: the versions its target names and, on the first
// state, whether the channel's policy is ninelives_split.
type targetInfo struct {
	versions []string // each once, in the target's order
	answered atomic.Bool
}

type (
	targetKey struct{} // attribute key of a state's *targetInfo
	probeKey  struct{} // attribute key of the probe's *targetInfo
)

// probeState is the composite resolver's first state: one endpoint with no
// address, which ninelives_split answers and drops. Another policy finds
// nothing to connect to and fails with the error the resolver then reports.
func probeState(info *targetInfo) resolver.State {
	return resolver.State{Endpoints: []resolver.Endpoint{{}}, Attributes: attributes.New(probeKey{}, info)}
}

// askPolicy tells the channel's policy the versions of the target in a
// probe state, before any endpoint goes out, and returns them. A policy
// that does not answer is not ninelives_split: the error says so, and the
// channel must fail rather than send every call to one version.
func askPolicy(t resolver.Target, cc resolver.ClientConn, pairs []VersionTarget) (*targetInfo, error) {
	info := &targetInfo{}
	for _, p := range pairs {
		if !slices.Contains(info.versions, p.Version) {
			info.versions = append(info.versions, p.Version)
		}
	}
	_ = cc.UpdateState(probeState(info))
	if !info.answered.Load() {
		return nil, config.Errorf(ErrBadTarget, "target", t.String(),
			"needs the %s load-balancing policy, and the channel uses another (pick_first when no service config names one); "+
				"dial with balancer.WithSplit(split), or a service config such as {\"loadBalancingConfig\": [{\"%s\": {\"versions\": […]}}]}", Name, Name)
	}
	return info, nil
}

// answerProbe answers the composite resolver's probe, and reports whether s
// was one.
func answerProbe(s resolver.State) bool {
	info, ok := s.Attributes.Value(probeKey{}).(*targetInfo)
	if ok {
		info.answered.Store(true)
	}
	return ok
}

// checkVersions checks that the versions of the endpoints are the
// config's: for a composite target, the very versions it names; for any
// other resolver, the labels it gives (an endpoint without one belongs to
// the default version).
func checkVersions(cfg *Config, s resolver.State) error {
	if info, ok := s.Attributes.Value(targetKey{}).(*targetInfo); ok {
		return targetMismatch(cfg, info.versions)
	}
	return labelMismatch(cfg, s.Endpoints)
}

// targetMismatch names the versions of a composite target and of the
// config when they differ.
func targetMismatch(cfg *Config, target []string) error {
	var wrong []string
	for _, v := range target {
		if !cfg.split.Has(v) {
			wrong = append(wrong, fmt.Sprintf("%q is not in the %s", v, cfg.source()))
		}
	}
	for _, v := range cfg.split.versions {
		if !slices.Contains(target, v) {
			wrong = append(wrong, fmt.Sprintf("%q has no VERSION=TARGET pair in the target", v))
		}
	}
	if len(wrong) == 0 {
		return nil
	}
	return config.Errorf(ErrBadConfig, "versions", nil, "the target names %s but the %s names %s: %s; name the same versions in both",
		strings.Join(target, ", "), cfg.source(), strings.Join(cfg.split.versions, ", "), strings.Join(wrong, "; "))
}

// labelMismatch names the labels a resolver gives that are not versions of
// the config, with an endpoint of each.
func labelMismatch(cfg *Config, eps []resolver.Endpoint) error {
	var labels, wrong []string
	for _, ep := range eps {
		v, ok := VersionFromEndpoint(ep)
		if !ok || slices.Contains(labels, v) {
			continue
		}
		labels = append(labels, v)
		if !cfg.split.Has(v) {
			wrong = append(wrong, fmt.Sprintf("%q (endpoint %s) is not in the %s", v, firstAddr(ep), cfg.source()))
		}
	}
	if len(wrong) == 0 {
		return nil
	}
	return config.Errorf(ErrBadConfig, "versions", nil, "the resolver labels endpoints %s but the %s names %s: %s; label endpoints only with the %s's versions (an endpoint without a label belongs to %q, the default version)",
		strings.Join(labels, ", "), cfg.source(), strings.Join(cfg.split.versions, ", "), strings.Join(wrong, "; "), cfg.source(), cfg.DefaultVersion)
}

// source names where the config's versions come from, for messages: the
// Split given to WithSplit, or a service config.
func (c *Config) source() string {
	if c.SplitRef != "" {
		return "Split"
	}
	return "config"
}
