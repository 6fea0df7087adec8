package config

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	errOuter = errors.New("ninelives: bad checkpoint")
	errInner = errors.New("ninelives: bad judge config")
)

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want string
	}{
		{"all parts", Errorf(errInner, "JudgeConfig.Alpha", 2.0, "want a probability strictly between 0 and 1"),
			"ninelives: bad judge config: JudgeConfig.Alpha = 2: want a probability strictly between 0 and 1"},
		{"string quoted", Errorf(errInner, "Version", "a b", "holds a space"), `ninelives: bad judge config: Version = "a b": holds a space`},
		{"no value", &Error{Kind: errInner, Field: "Warmup", Reason: "is nil"}, "ninelives: bad judge config: Warmup: is nil"},
		{"cause as reason", &Error{Kind: errInner, Field: "Steps", Err: io.EOF}, "ninelives: bad judge config: Steps: EOF"},
		{"no kind", &Error{Field: "x", Value: 1, Reason: "want 2"}, "x = 1: want 2"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.err.Error()) })
	}
}

func TestUnderKeepsFieldsAndKindsOnce(t *testing.T) {
	inner := Errorf(errInner, "Alpha", 2.0, "want a probability")
	err := Under(errOuter, "Checkpoint.Judge.Config", inner)
	assert.Equal(t, "ninelives: bad checkpoint: Checkpoint.Judge.Config.Alpha = 2: want a probability", err.Error())
	assert.ErrorIs(t, err, errOuter)
	assert.ErrorIs(t, err, errInner, "the inner kind stays visible")
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Checkpoint.Judge.Config.Alpha", ce.Field)

	twice := Under(errors.New("ninelives: bad state"), "fleet", err)
	assert.Equal(t, "ninelives: bad state: fleet.Checkpoint.Judge.Config.Alpha = 2: want a probability", twice.Error())
	assert.ErrorIs(t, twice, errInner)
	assert.ErrorIs(t, twice, errOuter)

	idx := Under(errOuter, "Steps", Errorf(errInner, "[2]", 10, "want more"))
	assert.Equal(t, "ninelives: bad checkpoint: Steps[2] = 10: want more", idx.Error())
}

func TestUnderPlainError(t *testing.T) {
	err := Under(errOuter, "Checkpoint.StepWindow", io.ErrUnexpectedEOF)
	assert.Equal(t, "ninelives: bad checkpoint: Checkpoint.StepWindow: unexpected EOF", err.Error())
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.ErrorIs(t, err, errOuter)
	assert.NoError(t, Under(errOuter, "x", nil))
}

func TestFillDefaults(t *testing.T) {
	errBad := errors.New("ninelives: bad test config")
	n, d := 0, time.Duration(0)
	require.NoError(t, FillDefaults(errBad, Setting[int]{"N", &n, 7}))
	require.NoError(t, FillDefaults(errBad, Setting[time.Duration]{"D", &d, time.Second}))
	assert.Equal(t, 7, n)
	assert.Equal(t, time.Second, d)
	require.NoError(t, FillDefaults(errBad, Setting[int]{"N", &n, 9}))
	assert.Equal(t, 7, n, "a value set is kept")

	m, e := 0, -time.Millisecond
	err := FillDefaults(errBad, Setting[int]{"M", &m, 1}, Setting[int]{"N", new(int), 2})
	require.NoError(t, err)
	err = FillDefaults(errBad, Setting[time.Duration]{"E", &e, time.Second})
	assert.EqualError(t, err, "ninelives: bad test config: E = -1ms: want 0 (the default) or more")
	assert.ErrorIs(t, err, errBad)
}
