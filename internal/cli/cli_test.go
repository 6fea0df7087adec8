package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/internal/cli"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExitCodePrintsABadFlagOnce(t *testing.T) {
	var flagOut, stderr bytes.Buffer
	fs := flag.NewFlagSet("recipe", flag.ContinueOnError)
	fs.SetOutput(&flagOut)
	fs.Int("rate", 1, "calls a second")
	err := cli.Parse(fs, []string{"-nope"})
	assert.Equal(t, 1, cli.ExitCode(err, &stderr))
	assert.Empty(t, stderr.String(), "the flag set printed it already")
	assert.Equal(t, 1, strings.Count(flagOut.String(), "flag provided but not defined: -nope"))

	assert.Equal(t, 0, cli.ExitCode(cli.Parse(fs, []string{"-h"}), &stderr), "-h is no error")
	assert.Empty(t, stderr.String())
	assert.Equal(t, 1, cli.ExitCode(errors.New("ninelives: no etcd"), &stderr))
	assert.Equal(t, "ninelives: no etcd\n", stderr.String())
	assert.Equal(t, 0, cli.ExitCode(nil, &stderr))
}
