package sentinel_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

func TestStatusNamesTheCanarysPlan(t *testing.T) {
	c, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{50, 1000, 5000}, MinStepDuration: time.Second})
	require.NoError(t, err)
	r := newRig(t, c)
	assert.Equal(t, []string{"0.5%", "10%", "50%", "100%"}, planNames(r.s.Status().Plan))
}

func planNames(plan []plan.Step) []string {
	out := make([]string, len(plan))
	for i, p := range plan {
		out[i] = p.Name
	}
	return out
}
