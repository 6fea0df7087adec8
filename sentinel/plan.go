package sentinel

// Planner is a Strategy that can name its steps in order, for status pages
// and the command line; the canary is one.
type Planner interface {
	Plan() []string
}

// Plan names the canary's steps: "1%", "5%", …, "100%".
func (c *canary) Plan() []string {
	out := make([]string, len(c.cfg.Steps))
	for i, w := range c.cfg.Steps {
		out[i] = StepLabel(w)
	}
	return out
}

// planOf is st's plan, looking through wrappers with Unwrap() Strategy;
// nil when it has none.
func planOf(st Strategy) []string {
	for st != nil {
		if p, ok := st.(Planner); ok {
			return p.Plan()
		}
		u, ok := st.(interface{ Unwrap() Strategy })
		if !ok {
			return nil
		}
		st = u.Unwrap()
	}
	return nil
}
