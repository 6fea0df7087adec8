package judge_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// The verdict of a candidate that does not serve fails no statistic: it is
// Inconclusive, names the availability test and keeps the reason, and it
// travels in JSON as any other verdict does.
func TestUnavailableIsAnInconclusiveAvailabilityVerdict(t *testing.T) {
	v := judge.Unavailable("canary has no ready endpoints; 0 calls in the last 5s")
	assert.Equal(t, judge.Inconclusive, v.Outcome)
	assert.Equal(t, judge.TestAvailability, v.Test)
	assert.Equal(t, "canary has no ready endpoints; 0 calls in the last 5s", v.Reason)
	assert.Nil(t, v.Evidence, "no statistic behind it")
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var back judge.Verdict
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, v, back)
}
