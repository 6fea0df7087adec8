package script

import (
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	ihost "github.com/ninelives-go/ninelives/sentinel/internal/host"
)

// WithWarmup lets the script warm the candidate up: warmup_start() runs
// warm on a goroutine of the Script's (once; later calls do nothing),
// bounded by timeout (0: 2 minutes), and warmup_status() reports on it.
// Close stops a running warm-up.
func WithWarmup(warm warmup.Func, timeout time.Duration) Option {
	return optionFunc(func(c *options) {
		c.warmup, c.warmupTimeout, c.warmupSet = warm, timeout, true
	})
}

// WithShadow lets the script turn shadow traffic to the candidate on and
// off with shadow_on(rate) and shadow_off(). Close turns it off.
func WithShadow(sh sentinel.ShadowControl) Option {
	return optionFunc(func(c *options) { c.shadow, c.shadowSet = sh, true })
}

func (c *options) checkHost() error {
	switch {
	case c.warmupSet && c.warmup == nil:
		return config.Errorf(ErrBadOption, "WithWarmup", nil, "the warm-up is nil")
	case c.warmupTimeout < 0:
		return config.Errorf(ErrBadOption, "WithWarmup", c.warmupTimeout, "want a positive timeout, or 0 for 2 minutes")
	case c.shadowSet && c.shadow == nil:
		return config.Errorf(ErrBadOption, "WithShadow", nil, "the shadow control is nil")
	}
	if c.warmupTimeout == 0 {
		c.warmupTimeout = 2 * time.Minute
	}
	return nil
}

// host is what a script may do beyond deciding: a warm-up and the shadow
// switch. Guarded by Script.hostMu.
type host struct {
	closed   bool
	warm     ihost.Warmup
	report   *warmup.Report
	warmErr  error
	shadowSw ihost.Switch
}

// WarmupDone returns a channel closed when the warm-up the script started
// has finished, or nil before it starts.
func (s *Script) WarmupDone() <-chan struct{} {
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	return s.host.warm.Done()
}

// Close stops a running warm-up and waits for it, and turns the shadow
// traffic off if the script turned it on. It implements Closer; a closed
// Script holds every rollout.
func (s *Script) Close() error {
	s.hostMu.Lock()
	s.host.closed = true
	warm := s.host.warm
	err := s.setShadowLocked("", false, 0)
	s.hostMu.Unlock()
	return errors.Join(err, warm.Stop(ihost.StopWait))
}

func (s *Script) closed() bool {
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	return s.host.closed
}

// setShadowLocked turns the shadow copies to candidate on at rate, or off.
func (s *Script) setShadowLocked(candidate string, on bool, rate float64) error {
	return s.host.shadowSw.Set(s.cfg.shadow, candidate, on, rate)
}

// hostBuiltins are the builtins of the Script's host facilities.
var hostBuiltins = map[string]builtinFn{
	"warmup_start":  warmupStartBuiltin,
	"warmup_status": warmupStatusBuiltin,
	"shadow_on":     shadowOnBuiltin,
	"shadow_off":    shadowOffBuiltin,
}

func warmupStartBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "warmup_start")
	if err != nil {
		return nil, err
	}
	if err := starlark.UnpackArgs("warmup_start", args, kw); err != nil {
		return nil, err
	}
	s := t.script
	if s.cfg.warmup == nil {
		return nil, fmt.Errorf("warmup_start: the script's host gives it no warm-up")
	}
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	if s.host.warm.Done() != nil || s.host.closed {
		return starlark.None, nil
	}
	s.host.warm.Start(t.ctx, s.cfg.warmupTimeout, t.st.Candidate, s.cfg.warmup, func(rep *warmup.Report, err error) {
		s.hostMu.Lock()
		s.host.report, s.host.warmErr = rep, err
		s.hostMu.Unlock()
	})
	return starlark.None, nil
}

func warmupStatusBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "warmup_status")
	if err != nil {
		return nil, err
	}
	if err := starlark.UnpackArgs("warmup_status", args, kw); err != nil {
		return nil, err
	}
	s := t.script
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	h := &s.host
	finished := h.warm.Finished()
	d := starlark.StringDict{
		"started":    starlark.Bool(h.warm.Done() != nil),
		"done":       starlark.Bool(finished),
		"has_report": starlark.False,
		"passed":     starlark.False,
		"reason":     starlark.String(""),
		"error":      starlark.String(""),
	}
	if finished {
		if h.report != nil {
			d["has_report"], d["passed"], d["reason"] = starlark.True, starlark.Bool(h.report.Passed), starlark.String(h.report.Reason)
		}
		if h.warmErr != nil {
			d["error"] = starlark.String(h.warmErr.Error())
		}
	}
	return structOf("warmup", d), nil
}

func shadowOnBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "shadow_on")
	if err != nil {
		return nil, err
	}
	var rateArg realNumber
	if err := starlark.UnpackArgs("shadow_on", args, kw, "rate", &rateArg); err != nil {
		return nil, err
	}
	rate := float64(rateArg)
	s := t.script
	if s.cfg.shadow == nil {
		return nil, fmt.Errorf("shadow_on: the script's host gives it no shadow control")
	}
	if !(rate > 0 && rate <= 1) {
		return nil, fmt.Errorf("shadow_on: rate = %v, want a share in (0, 1]", rate)
	}
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	if err := s.setShadowLocked(t.st.Candidate, true, rate); err != nil {
		return starlark.String(err.Error()), nil
	}
	return starlark.None, nil
}

func shadowOffBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	t, err := tickOf(th, "shadow_off")
	if err != nil {
		return nil, err
	}
	if err := starlark.UnpackArgs("shadow_off", args, kw); err != nil {
		return nil, err
	}
	s := t.script
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	if err := s.setShadowLocked("", false, 0); err != nil {
		return starlark.String(err.Error()), nil
	}
	return starlark.None, nil
}
