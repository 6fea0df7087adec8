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

// BlueGreenScript returns the blue/green strategy as a script
// (scripts/bluegreen.star): it makes the same decisions as
// NewBlueGreen(cfg) on the same input. cfg is checked and its defaults
// filled as NewBlueGreen does; the script gets cfg.Warmup (and cfg.Shadow,
// if set) as its host's warm-up and shadow switch, and the rest as params
// (durations in seconds), which take precedence over params of the same
// name in opts. Like a BlueGreen, the Script drives one rollout; Close it
// (the sentinel's Close does) to stop a running warm-up and the shadow.
// Unlike a BlueGreen, it keeps its stage and figures in state.memory, which
// a Checkpoint does not hold: Restore rejects a checkpoint of its rollout
// past the warm-up.
func BlueGreenScript(cfg BlueGreenConfig, opts ...ScriptOption) (*Script, error) {
	bg, err := NewBlueGreen(cfg)
	if err != nil {
		return nil, err
	}
	cfg = bg.Config()
	src, err := BuiltinScript("bluegreen.star")
	if err != nil {
		return nil, err
	}
	opts = append(slices.Clip(opts), WithScriptWarmup(cfg.Warmup, cfg.WarmupTimeout),
		scriptOptionFunc(func(c *scriptConfig) { c.restoreCheck = blueGreenResumable }), WithScriptParams(map[string]any{
			"shadow":                 cfg.Shadow != nil,
			"shadow_rate":            cfg.ShadowRate,
			"shadow_grace":           cfg.ShadowGrace,
			"shadow_min_comparisons": cfg.ShadowMinComparisons,
			"mismatch_tolerance":     cfg.MismatchTolerance,
			"baseline_span":          cfg.BaselineSpan,
			"min_baseline_calls":     cfg.MinBaselineCalls,
			"rollback_window":        cfg.RollbackWindow,
			"rollback_min_calls":     cfg.RollbackMinCalls,
			"error_factor":           cfg.ErrorFactor,
			"error_floor":            cfg.ErrorFloor,
			"latency":                !cfg.DisableLatency,
			"latency_quantile":       cfg.LatencyQuantile,
			"latency_factor":         cfg.LatencyFactor,
			"latency_margin":         cfg.LatencyMargin,
			"alpha":                  cfg.Alpha,
		}))
	if cfg.Shadow != nil {
		opts = append(opts, WithScriptShadow(cfg.Shadow))
	}
	return NewScript("bluegreen.star", src, opts...)
}
