// Package cli holds what the project's programs share at their edges: flag
// parsing whose errors are printed once, and the exit status.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Parse parses a program's arguments. An error it returns has already been
// printed by the flag set, with the usage; ExitCode does not print it again.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError{err}
	}
	return nil
}

// flagError is an error the flag set has printed.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// ExitCode is a program's exit status for the error its run returned: 0
// for none or -h, else 1, with the error written to stderr unless the flag
// set wrote it already.
func ExitCode(err error, stderr io.Writer) int {
	var fe flagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case !errors.As(err, &fe):
		fmt.Fprintln(stderr, err)
	}
	return 1
}
