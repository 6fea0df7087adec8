package errcodes

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSet(t *testing.T) {
	errBad := errors.New("ninelives: bad test config")
	s, err := New(errBad, "WithErrorCodes", []codes.Code{codes.Unavailable, codes.Internal})
	require.NoError(t, err)
	assert.True(t, s.Has(codes.Unavailable))
	assert.True(t, s.Has(codes.Internal))
	assert.False(t, s.Has(codes.NotFound))
	assert.False(t, s.Has(codes.Code(99)))
	assert.False(t, Set{}.Has(codes.OK), "the zero set is empty")

	_, err = New(errBad, "WithErrorCodes", []codes.Code{codes.OK, codes.Code(42)})
	assert.EqualError(t, err, "ninelives: bad test config: WithErrorCodes[1] = 42: not a gRPC status code (0..16)")
	assert.ErrorIs(t, err, errBad)
}
