package names

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// The limits of the operator's name and the reason a manual control
// records, wherever it comes from (the status page's API, a fleet's
// command, the command line).
const (
	MaxWhoLen    = 64
	MaxReasonLen = 512
)

// Text checks a person's text that a control records (who made it, why):
// valid UTF-8, printable, at most max characters.
func Text(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%d characters, want at most %d", n, max)
	}
	for i, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("character %U at byte %d is not printable", c, i)
		}
	}
	return nil
}
