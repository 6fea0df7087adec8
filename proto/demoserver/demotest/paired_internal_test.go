package demotest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every order is a permutation of the sides; across the orders each side
// holds each place equally often and follows each other side equally
// often. Turning the sides round fails the second part for three sides.
func TestBalancedOrdersLetEverySideFollowEveryOtherEquallyOften(t *testing.T) {
	for k := 2; k <= 7; k++ {
		orders := balancedOrders(k)
		want := k
		if k%2 == 1 {
			want = 2 * k
		}
		assert.Len(t, orders, want, "k = %d", k)
		var all []int
		for i := range k {
			all = append(all, i)
		}
		places := map[[2]int]int{}
		follows := map[[2]int]int{}
		for _, o := range orders {
			assert.Equal(t, all, slices.Sorted(slices.Values(o)), "k = %d: %v is not a permutation", k, o)
			for j, side := range o {
				places[[2]int{side, j}]++
				if j > 0 {
					follows[[2]int{o[j-1], side}]++
				}
			}
		}
		for a := range k {
			for b := range k {
				assert.Equal(t, len(orders)/k, places[[2]int{a, b}], "k = %d: side %d in place %d", k, a, b)
				if a != b {
					assert.Equal(t, len(orders)/k, follows[[2]int{a, b}], "k = %d: side %d after side %d", k, b, a)
				}
			}
		}
	}
}

// A careless argument fails the benchmark at once, with no call made: a
// round of 0 calls used to take its turns forever, a rate of 0 calls/s to
// divide by zero.
func TestPairedRefusesCountsBelowOne(t *testing.T) {
	var calls atomic.Int64
	side := func(name string) Side {
		return Side{Name: name, Call: func(context.Context) error { calls.Add(1); return nil }}
	}
	for name, bench := range map[string]func(*testing.B){
		"Paired round 0":         func(b *testing.B) { Paired(b, 0, 4, [2]Side{side("a"), side("b")}) },
		"Paired callers 0":       func(b *testing.B) { Paired(b, 10, 0, [2]Side{side("a"), side("b")}) },
		"PairedLatency rate 0":   func(b *testing.B) { PairedLatency(b, 0, 10, side("a"), side("b")) },
		"PairedLatency round -1": func(b *testing.B) { PairedLatency(b, 100, -1, side("a"), side("b")) },
	} {
		res := testing.Benchmark(bench)
		assert.Zero(t, res.N, "%s: the benchmark did not fail", name)
	}
	assert.Zero(t, calls.Load(), "no call is made before the arguments are checked")
}
