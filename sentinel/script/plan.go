package script

import (
	"fmt"
	"slices"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// WithPlan names the script's steps in order with their gates, for status
// pages and the command line: the Script is then a plan.Planner. Each
// step's Name is the step name the script gives its set_weight or
// set_weights (step = …); names must be unique, and minimums not negative.
func WithPlan(steps ...plan.Step) Option {
	return optionFunc(func(c *options) { c.plan = slices.Clone(steps) })
}

// checkPlan checks the steps WithPlan gave.
func checkPlan(steps []plan.Step) error {
	seen := map[string]bool{}
	for i, st := range steps {
		field := fmt.Sprintf("WithPlan[%d]", i)
		switch {
		case st.Name == "":
			return config.Errorf(ErrBadOption, field+".Name", st.Name, "want the step's name")
		case seen[st.Name]:
			return config.Errorf(ErrBadOption, field+".Name", st.Name, "a step of that name comes before it")
		case st.MinDuration < 0:
			return config.Errorf(ErrBadOption, field+".MinDuration", st.MinDuration, "want ≥ 0")
		case st.MinCalls < 0:
			return config.Errorf(ErrBadOption, field+".MinCalls", st.MinCalls, "want ≥ 0")
		}
		seen[st.Name] = true
	}
	return nil
}

// Plan implements plan.Planner: the steps WithPlan gave, nil without.
func (s *Script) Plan() []plan.Step { return slices.Clone(s.cfg.plan) }
