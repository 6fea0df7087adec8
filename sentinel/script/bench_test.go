package script_test

import (
	"context"
	"testing"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

// BenchmarkDecide compares a tick of the canary written in Go with the same
// canary as a Starlark script, guarded (as it runs) and plain, on a state
// in the middle of a step; and likewise the ~200-line testdata/policy.star.
func BenchmarkDecide(b *testing.B) {
	w := window(900, 4, 100, 1, 0.02, 0.02)
	j, err := judge.New(judge.Config{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := sentinel.CanaryConfig{MinStepDuration: time.Minute}
	goCanary, err := sentinel.NewCanary(cfg)
	if err != nil {
		b.Fatal(err)
	}
	starCanary, err := script.Canary(cfg)
	if err != nil {
		b.Fatal(err)
	}
	plainCanary, err := script.Canary(cfg, script.Unguarded)
	if err != nil {
		b.Fatal(err)
	}
	plainPolicy, policy := policyPair(b)
	st := progressing(j, w)
	for _, c := range []struct {
		name string
		s    sentinel.Strategy
	}{{"go", goCanary}, {"canary.star", starCanary}, {"canary.star/plain", plainCanary}, {"policy.star", policy}, {"policy.star/plain", plainPolicy}} {
		s := c.s
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decide(context.Background(), st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
