package sentinel

import (
	"testing"

	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/stretchr/testify/assert"
)

func TestStepWeightReadsStepLabels(t *testing.T) {
	for _, bp := range []int{0, 1, 50, 100, 225, 2500, 9999, 10000} {
		w, ok := stepWeight(plan.Label(bp))
		assert.True(t, ok, plan.Label(bp))
		assert.Equal(t, bp, w, plan.Label(bp))
	}
	for _, name := range []string{"", "%", "warmup", "cutover", "5", "5.0%", "05%", "1.234%", "-1%", "101%", "NaN%", "1e2%", " 5%"} {
		_, ok := stepWeight(name)
		assert.False(t, ok, "%q", name)
	}
}
