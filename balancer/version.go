package balancer

import (
	"google.golang.org/grpc/resolver"
)

// versionKey is the unexported attribute key of an endpoint's version label.
type versionKey struct{}

// versionAttr is the attribute value; a string type keeps it comparable, which
// grpc's attributes require.
type versionAttr string

// SetVersion returns ep labelled with version, for a resolver of its own
// that feeds the ninelives_split policy (the composite resolver labels its
// endpoints itself). Endpoints the balancer receives without a label belong
// to the configured default version.
func SetVersion(ep resolver.Endpoint, version string) resolver.Endpoint {
	ep.Attributes = ep.Attributes.WithValue(versionKey{}, versionAttr(version))
	return ep
}

// VersionFromEndpoint returns the version label of ep and whether it has one.
func VersionFromEndpoint(ep resolver.Endpoint) (string, bool) {
	v, ok := ep.Attributes.Value(versionKey{}).(versionAttr)
	return string(v), ok
}

// versionOf is the version of an endpoint: its label, else def.
func versionOf(ep resolver.Endpoint, def string) string {
	if v, ok := VersionFromEndpoint(ep); ok {
		return v
	}
	return def
}
