package method

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1" // registers the demo service
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const demo = "/ninelives.demo.v1.DemoService/"

var errBad = errors.New("ninelives: bad test config")

func TestDecide(t *testing.T) {
	rule, err := NewRule(errBad, "Methods", []string{demo + "PutItem", "/other.Service/Get"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name           string
		safe, inRegist bool
	}{
		{demo + "GetItem", true, true},      // NO_SIDE_EFFECTS
		{demo + "ListItems", true, true},    // NO_SIDE_EFFECTS, a stream
		{demo + "PutItem", true, true},      // no level, but listed
		{"/other.Service/Get", true, false}, // listed, unknown to the registry
		{"/other.Service/Put", false, false},
		{"not a method", false, false},
	} {
		safe, md := rule.Decide(tc.name)
		assert.Equal(t, tc.safe, safe, tc.name)
		assert.Equal(t, tc.inRegist, md != nil, tc.name)
	}
	safe, _ := Rule{}.Decide(demo + "PutItem")
	assert.False(t, safe, "the zero rule goes by the registry alone")
}

func TestSafeToRepeatReadsTheIdempotencyLevel(t *testing.T) {
	levels := map[descriptorpb.MethodOptions_IdempotencyLevel]bool{
		descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN: false,
		descriptorpb.MethodOptions_NO_SIDE_EFFECTS:     true,
		descriptorpb.MethodOptions_IDEMPOTENT:          true,
	}
	for level, want := range levels {
		fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
			Name:        proto.String("t.proto"),
			Package:     proto.String("t"),
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
			Service: []*descriptorpb.ServiceDescriptorProto{{
				Name: proto.String("S"),
				Method: []*descriptorpb.MethodDescriptorProto{{
					Name: proto.String("Do"), InputType: proto.String(".t.M"), OutputType: proto.String(".t.M"),
					Options: &descriptorpb.MethodOptions{IdempotencyLevel: level.Enum()},
				}},
			}},
		}, nil)
		require.NoError(t, err)
		assert.Equal(t, want, SafeToRepeat(fd.Services().Get(0).Methods().Get(0)), level.String())
	}
	assert.False(t, SafeToRepeat(nil))
}

func TestNewRuleNamesTheBadEntry(t *testing.T) {
	for _, bad := range []string{"", "GetItem", "/pkg.Service", "/pkg.Service/", "//Get", "/a/b/c"} {
		_, err := NewRule(errBad, "Methods", []string{demo + "GetItem", bad})
		require.Error(t, err, "%q", bad)
		assert.ErrorIs(t, err, errBad)
		assert.Contains(t, err.Error(), "ninelives: bad test config: Methods[1] = ")
		assert.Contains(t, err.Error(), `want a full method name such as "/package.Service/Method"`)
	}
}
