package fleet_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/fleet"
)

// A state with a key given twice, or in another case, is refused rather
// than read with the last one winning.
func TestDecodeStateRejectsDuplicateAndCaseFoldedKeys(t *testing.T) {
	good := `{"format":1,"term":42,"seq":3,"leader":"sentinel-a","baseline":"stable","candidate":"canary",` +
		`"phase":"progressing","step":2,"weights":[{"version":"stable","weight":5000},{"version":"canary","weight":5000}]}`
	_, err := fleet.DecodeState([]byte(good))
	require.NoError(t, err)
	for edit, want := range map[string]string{
		`"phase":"progressing"`: `"phase":"progressing","phase":"promoted"`,
		`"seq":3`:               `"Seq":3`,
		`"weight":5000}]`:       `"weight":5000,"weight":10000}]`,
	} {
		_, err := fleet.DecodeState([]byte(strings.Replace(good, edit, want, 1)))
		require.Error(t, err, want)
		assert.ErrorIs(t, err, fleet.ErrBadState)
		assert.Regexp(t, `(duplicate key|keys are case-sensitive)`, err.Error())
	}
}
