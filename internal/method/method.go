package method

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ninelives-go/ninelives/internal/config"
)

// Rule decides which methods are safe to repeat. The zero Rule goes by the
// registry alone. A Rule is immutable and safe for concurrent use.
type Rule struct{ listed map[string]bool }

// NewRule returns the rule that also counts the methods of listed as safe.
// A name that is not a full method name is a config error of kind for
// field, such as "Methods", indexed by its place in listed.
func NewRule(kind error, field string, listed []string) (Rule, error) {
	r := Rule{listed: make(map[string]bool, len(listed))}
	for i, m := range listed {
		if err := Valid(m); err != nil {
			return Rule{}, config.Errorf(kind, fmt.Sprintf("%s[%d]", field, i), m, "%v", err)
		}
		r.listed[m] = true
	}
	return r, nil
}

// Decide reports whether the full method name is safe to repeat, with its
// descriptor from the global registry (nil when the registry does not know
// it). Callers cache the answer per method: it looks the registry up.
func (r Rule) Decide(name string) (safe bool, md protoreflect.MethodDescriptor) {
	md = Lookup(name)
	return r.listed[name] || SafeToRepeat(md), md
}

// SafeToRepeat reports whether md declares idempotency_level
// NO_SIDE_EFFECTS or IDEMPOTENT. A nil md is not safe.
func SafeToRepeat(md protoreflect.MethodDescriptor) bool {
	if md == nil {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
		return true
	}
	return false
}

// Lookup finds "/package.Service/Method" in the global registry, or nil.
func Lookup(name string) protoreflect.MethodDescriptor {
	svc, m, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if !ok {
		return nil
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc + "." + m))
	if err != nil {
		return nil
	}
	md, _ := d.(protoreflect.MethodDescriptor)
	return md
}

// Valid checks a full method name, "/package.Service/Method".
func Valid(name string) error {
	svc, m, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if !strings.HasPrefix(name, "/") || !ok || svc == "" || m == "" || strings.Contains(m, "/") {
		return errors.New(`want a full method name such as "/package.Service/Method"`)
	}
	return nil
}
