package sentinel

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

// builtinScripts are the built-in strategies written as scripts.
//
//go:embed scripts/*.star
var builtinScripts embed.FS

// BuiltinScript returns the source of a built-in script ("canary.star"), to
// read or to start a new script from.
func BuiltinScript(name string) (string, error) {
	b, err := builtinScripts.ReadFile("scripts/" + name)
	if err != nil {
		names, _ := fs.Glob(builtinScripts, "scripts/*.star")
		for i := range names {
			names[i] = names[i][len("scripts/"):]
		}
		slices.Sort(names)
		return "", fmt.Errorf("ninelives: no built-in script %q (there are %q)", name, names)
	}
	return string(b), nil
}

// CanaryScript returns the canary strategy as a script (scripts/canary.star):
// it makes the same decisions as NewCanary(cfg) on the same input. cfg is
// checked and its defaults filled as NewCanary does; the script gets them as
// params.steps, params.min_step_seconds and params.min_step_calls, which
// take precedence over params of the same name in opts.
func CanaryScript(cfg CanaryConfig, opts ...ScriptOption) (*Script, error) {
	c, err := NewCanary(cfg)
	if err != nil {
		return nil, err
	}
	cfg = c.Config()
	src, err := BuiltinScript("canary.star")
	if err != nil {
		return nil, err
	}
	opts = append(slices.Clip(opts), WithScriptParams(map[string]any{
		"steps":            cfg.Steps,
		"min_step_seconds": cfg.MinStepDuration,
		"min_step_calls":   cfg.MinStepCalls,
	}))
	return NewScript("canary.star", src, opts...)
}
