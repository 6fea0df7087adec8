package names

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestVersion(t *testing.T) {
	for _, ok := range []string{"stable", "canary", "v1.2.3", "blue_green-2", strings.Repeat("a", 64)} {
		assert.NoError(t, Version(ok), ok)
	}
	for in, want := range map[string]string{
		"":                      "empty",
		strings.Repeat("a", 65): "longer than 64",
		"a=b":                   `holds '='`,
		"a;b":                   `holds ';'`,
		"a/b":                   `holds '/'`,
		"a b":                   `holds ' '`,
		"a#b":                   `holds '#'`,
		"a?b":                   `holds '?'`,
		"é":                     `holds 'é'`,
	} {
		err := Version(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

func TestMetadataKey(t *testing.T) {
	for _, ok := range []string{"x-user-id", "x-ninelives-version", "tenant.id", "a_b"} {
		assert.NoError(t, MetadataKey(ok), ok)
	}
	for in, want := range map[string]string{
		"":            "empty",
		"grpc-status": "reserved",
		"x-token-bin": "binary",
		":authority":  "pseudo-headers",
		"X-User-Id":   `holds 'X'`,
		"x user":      `holds ' '`,
	} {
		err := MetadataKey(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}
