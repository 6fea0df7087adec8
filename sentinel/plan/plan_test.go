package plan_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/sentinel/plan"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLabelNamesABasisPointWeightAsAPercentage(t *testing.T) {
	for bp, want := range map[int]string{0: "0%", 1: "0.01%", 50: "0.5%", 100: "1%", 250: "2.5%", 500: "5%", 10000: "100%"} {
		assert.Equal(t, want, plan.Label(bp), "%d bp", bp)
	}
}

func ExampleLabel() {
	for _, bp := range []int{100, 500, 2500, 5000, 10000} {
		fmt.Print(plan.Label(bp), " ")
	}
	fmt.Println()
	// Output: 1% 5% 25% 50% 100%
}
