// Package names holds the one rule for each name a user gives ninelives: a
// version's name and a gRPC metadata key. Every package checks these with
// the functions here, so a name one package accepts is never refused by
// another.
package names

import (
	"errors"
	"fmt"
	"strings"
)

// MaxVersionLen is the longest version name.
const MaxVersionLen = 64

// Version checks a version name: 1 to 64 letters, digits, '-', '_' and '.'.
// The characters a composite target and a service config give a meaning
// (= ; ? # / and spaces) are among those refused.
func Version(v string) error {
	if v == "" {
		return errors.New("a version name is empty")
	}
	if len(v) > MaxVersionLen {
		return fmt.Errorf("version name %q is longer than %d characters", v, MaxVersionLen)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("version name %q holds %q; use letters, digits, '-', '_' and '.'", v, r)
		}
	}
	return nil
}

// MetadataKey checks an outgoing gRPC metadata key that carries one of our
// values (a sticky key, a forced version) or that a user lists: lower-case
// a-z, 0-9, '-', '_' and '.', not reserved by gRPC (grpc-…, pseudo-headers)
// and not binary (…-bin). gRPC lower-cases keys on the wire, so an upper-case
// key would never match what a server or the picker reads.
func MetadataKey(k string) error {
	switch {
	case k == "":
		return errors.New("a metadata key is empty")
	case strings.HasPrefix(k, "grpc-"):
		return fmt.Errorf("metadata key %q: keys starting with grpc- are reserved", k)
	case strings.HasSuffix(k, "-bin"):
		return fmt.Errorf("metadata key %q: binary (-bin) keys cannot carry a text value", k)
	case k[0] == ':':
		return fmt.Errorf("metadata key %q: pseudo-headers cannot be used", k)
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("metadata key %q holds %q; metadata keys hold only a-z, 0-9, '-', '_' and '.'", k, r)
		}
	}
	return nil
}
