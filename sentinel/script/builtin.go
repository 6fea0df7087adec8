package script

import (
	"embed"
	"io/fs"
	"slices"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
)

// builtins are the built-in strategies written as scripts.
//
//go:embed builtin/*.star
var builtins embed.FS

// Builtin returns the source of a built-in script ("canary.star"), to read
// or to start a new script from.
func Builtin(name string) (string, error) {
	b, err := builtins.ReadFile("builtin/" + name)
	if err != nil {
		names, _ := fs.Glob(builtins, "builtin/*.star")
		for i := range names {
			names[i] = names[i][len("builtin/"):]
		}
		slices.Sort(names)
		return "", config.Errorf(ErrBadOption, "name", name, "no such built-in script (there are %q)", names)
	}
	return string(b), nil
}

// Canary returns the canary strategy as a script (builtin/canary.star): it
// makes the same decisions as sentinel.NewCanary(cfg) on the same input.
// cfg is checked and its defaults filled (cfg.WithDefaults); the script gets
// them as params.steps, params.min_step_seconds and params.min_step_calls,
// which take precedence over params of the same name in opts, and its plan
// (cfg.Plan) as WithPlan.
func Canary(cfg sentinel.CanaryConfig, opts ...Option) (*Script, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	src, err := Builtin("canary.star")
	if err != nil {
		return nil, err
	}
	opts = append(slices.Clip(opts), WithPlan(cfg.Plan()...), WithParams(map[string]any{
		"steps":            cfg.Steps,
		"min_step_seconds": cfg.MinStepDuration,
		"min_step_calls":   cfg.MinStepCalls,
	}))
	return New("canary.star", src, opts...)
}

// BlueGreen returns the blue/green strategy as a script
// (builtin/bluegreen.star): it makes the same decisions as
// sentinel.NewBlueGreen(cfg) on the same input. cfg is checked and its
// defaults filled (cfg.WithDefaults); the script gets cfg.Warmup (and
// cfg.Shadow, if set) as its host's warm-up and shadow switch, and the rest
// as params (durations in seconds), which take precedence over params of
// the same name in opts, and its plan (cfg.Plan) as WithPlan. Like the Go
// strategy, the Script drives one rollout; Close it (the sentinel's Close does) to stop a running warm-up
// and the shadow. Unlike it, the Script keeps its stage and figures in
// state.memory, which a checkpoint does not hold: the sentinel's Restore
// rejects a checkpoint of its rollout past the warm-up.
func BlueGreen(cfg sentinel.BlueGreenConfig, opts ...Option) (*Script, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	bg, err := sentinel.NewBlueGreen(cfg)
	if err != nil {
		return nil, err
	}
	src, err := Builtin("bluegreen.star")
	if err != nil {
		return nil, err
	}
	// The Go strategy says what a rollout without its state may carry on
	// from: the script holds its state in memory, which is not saved.
	resumable := optionFunc(func(c *options) { c.restoreCheck = bg.(sentinel.StatefulStrategy).RestoreStrategyState })
	opts = append(slices.Clip(opts), WithWarmup(cfg.Warmup, cfg.WarmupTimeout), resumable, WithPlan(cfg.Plan()...), WithParams(map[string]any{
		"shadow":                 cfg.Shadow != nil,
		"shadow_rate":            cfg.ShadowRate,
		"shadow_grace":           cfg.ShadowGrace,
		"shadow_min_comparisons": cfg.ShadowMinComparisons,
		"mismatch_tolerance":     cfg.MismatchTolerance,
		"blue_share":             cfg.BlueShare,
		"compare_with_past":      cfg.CompareWithPast,
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
		opts = append(opts, WithShadow(cfg.Shadow))
	}
	return New("bluegreen.star", src, opts...)
}
