package interceptor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
)

// WarmupConfig configures a warm-up. Calls is required.
type WarmupConfig struct {
	// Calls are the warm-up calls; each endpoint makes them in turn, over
	// and over, one at a time.
	Calls []CallFunc
	// SuccessesInRow is the number of consecutive good calls an endpoint
	// needs to pass. A good call succeeds within LatencyCeiling. Default 3.
	SuccessesInRow int
	// LatencyCeiling is the slowest a good call may be; 0 means no ceiling.
	LatencyCeiling time.Duration
	// CallTimeout bounds each call. Default: twice the ceiling, or 10s
	// without one.
	CallTimeout time.Duration
	// MaxAttempts bounds the calls per endpoint. Default 100.
	MaxAttempts int
	// Pause is the wait between two calls to one endpoint. Default 0.
	Pause time.Duration
	// Timeout is the warm-up's deadline; ctx's deadline, if sooner, wins.
	// Default 30s.
	Timeout time.Duration
	// Concurrency bounds the endpoints warmed at once; 0 warms them all at
	// once.
	Concurrency int
}

// The defaults of WarmupConfig.
const (
	DefaultSuccessesInRow = 3
	DefaultWarmupAttempts = 100
	DefaultWarmupTimeout  = 30 * time.Second
	defaultCallTimeout    = 10 * time.Second
)

// EndpointWarmup is one endpoint's part of a WarmupReport.
type EndpointWarmup struct {
	Addr string `json:"addr"`
	// Attempts is the number of calls made.
	Attempts int `json:"attempts"`
	// Failures counts the calls that failed or were over the ceiling.
	Failures int `json:"failures"`
	// SuccessesInRow is the final run of good calls.
	SuccessesInRow int `json:"successes_in_row"`
	// LastLatency and WorstLatency are over all its calls.
	LastLatency  time.Duration `json:"last_latency_ns"`
	WorstLatency time.Duration `json:"worst_latency_ns"`
	// LastError says why the last bad call was bad.
	LastError string `json:"last_error,omitempty"`
	Passed    bool   `json:"passed"`
}

// WarmupReport is the outcome of a warm-up: the gate of a blue/green
// cut-over. It is ready for JSON.
type WarmupReport struct {
	// Version is the version warmed, when Warmup was given one.
	Version   string           `json:"version,omitempty"`
	Passed    bool             `json:"passed"`
	Reason    string           `json:"reason"`
	Endpoints []EndpointWarmup `json:"endpoints"`
	Elapsed   time.Duration    `json:"elapsed_ns"`
}

// WarmupVersion warms every READY endpoint of version, as the clients
// steered by split see them. A version without a READY endpoint gives a
// report that did not pass, not an error.
func WarmupVersion(ctx context.Context, cc *grpc.ClientConn, split *balancer.Split, version string, cfg WarmupConfig) (*WarmupReport, error) {
	if err := validWarmup(&cfg); err != nil {
		return nil, err
	}
	targets, err := ReadyTargets(split, version)
	if errors.Is(err, ErrNoReadyEndpoint) {
		return &WarmupReport{Version: version, Reason: fmt.Sprintf("version %q has no READY endpoint", version)}, nil
	}
	if err != nil {
		return nil, err
	}
	rep, err := Warmup(ctx, cc, targets, cfg)
	if rep != nil {
		rep.Version = version
	}
	return rep, err
}

// Warmup repeats the warm-up calls against each target endpoint until it
// has SuccessesInRow good calls in a row, or MaxAttempts calls, or the
// deadline passes. The calls carry the warm-up role and are forced to their
// endpoint. The report passes when every endpoint passed. The error is only
// for bad arguments.
func Warmup(ctx context.Context, cc *grpc.ClientConn, targets []string, cfg WarmupConfig) (*WarmupReport, error) {
	if err := validWarmup(&cfg); err != nil {
		return nil, err
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	eps := make([]EndpointWarmup, len(targets))
	index := make(map[string]int, len(targets))
	for i, t := range targets {
		eps[i].Addr = t
		index[t] = i
	}
	warm := func(ctx context.Context, cc *grpc.ClientConn) error {
		addr, _ := balancer.ForcedEndpoint(ctx)
		return warmEndpoint(ctx, cc, &eps[index[addr]], &cfg)
	}
	_, err := ForkJoin(wctx, cc, targets, warm, WithConcurrency(cfg.Concurrency))
	if err != nil && errors.Is(err, ErrBadConfig) {
		return nil, err
	}
	rep := &WarmupReport{Endpoints: eps, Elapsed: time.Since(start), Passed: true}
	var bad []string
	for _, e := range eps {
		if !e.Passed {
			rep.Passed = false
			bad = append(bad, describeWarmup(e))
		}
	}
	switch {
	case rep.Passed:
		rep.Reason = fmt.Sprintf("all %d endpoints had %d good calls in a row%s", len(eps), cfg.SuccessesInRow, ceilingText(&cfg))
	default:
		why := ""
		if wctx.Err() != nil {
			why = " before the deadline"
		}
		rep.Reason = fmt.Sprintf("%d of %d endpoints did not have %d good calls in a row%s%s: %s",
			len(bad), len(eps), cfg.SuccessesInRow, ceilingText(&cfg), why, strings.Join(bad, "; "))
	}
	return rep, nil
}

func ceilingText(cfg *WarmupConfig) string {
	if cfg.LatencyCeiling == 0 {
		return ""
	}
	return " under " + cfg.LatencyCeiling.String()
}

func describeWarmup(e EndpointWarmup) string {
	s := fmt.Sprintf("%s: %d in a row after %d attempts, worst %v", e.Addr, e.SuccessesInRow, e.Attempts, e.WorstLatency.Round(time.Microsecond))
	if e.LastError != "" {
		s += ", last error: " + e.LastError
	}
	return s
}

// warmEndpoint runs the calls against one endpoint and fills in e; it
// returns an error when the endpoint did not pass.
func warmEndpoint(ctx context.Context, cc *grpc.ClientConn, e *EndpointWarmup, cfg *WarmupConfig) error {
	var pause *time.Timer
	for e.Attempts < cfg.MaxAttempts && e.SuccessesInRow < cfg.SuccessesInRow {
		if ctx.Err() != nil {
			break
		}
		if e.Attempts > 0 && cfg.Pause > 0 {
			if pause == nil {
				pause = time.NewTimer(cfg.Pause)
				defer pause.Stop()
			} else {
				pause.Reset(cfg.Pause)
			}
			select {
			case <-pause.C:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		call := cfg.Calls[e.Attempts%len(cfg.Calls)]
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		start := time.Now()
		err := call(cctx, cc)
		lat := time.Since(start)
		cancel()
		if err != nil && cutByWarmup(ctx, err, start, cfg.CallTimeout) {
			break // cut short by the warm-up's own end: not the endpoint's doing
		}
		e.Attempts++
		e.LastLatency = lat
		e.WorstLatency = max(e.WorstLatency, lat)
		switch {
		case err != nil:
			e.Failures++
			e.SuccessesInRow = 0
			e.LastError = err.Error()
		case cfg.LatencyCeiling > 0 && lat > cfg.LatencyCeiling:
			e.Failures++
			e.SuccessesInRow = 0
			e.LastError = fmt.Sprintf("latency %v over the ceiling %v", lat.Round(time.Microsecond), cfg.LatencyCeiling)
		default:
			e.SuccessesInRow++
		}
	}
	e.Passed = e.SuccessesInRow >= cfg.SuccessesInRow
	if !e.Passed {
		return fmt.Errorf("ninelives: warm-up of %s did not pass", e.Addr)
	}
	return nil
}

// cutByWarmup reports whether a failed call ended because the warm-up's
// deadline passed (on either side of the wire) rather than through the
// endpoint's own fault or its call timeout.
func cutByWarmup(ctx context.Context, err error, start time.Time, callTimeout time.Duration) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && dl.Before(start.Add(callTimeout)) && status.Code(err) == codes.DeadlineExceeded
}

func validWarmup(cfg *WarmupConfig) error {
	if len(cfg.Calls) == 0 {
		return fmt.Errorf("%w: warm-up: Calls is empty", ErrBadConfig)
	}
	for i, c := range cfg.Calls {
		if c == nil {
			return fmt.Errorf("%w: warm-up: Calls[%d] is nil", ErrBadConfig, i)
		}
	}
	checks := []struct {
		name string
		bad  bool
		val  any
	}{
		{"SuccessesInRow", cfg.SuccessesInRow < 0, cfg.SuccessesInRow},
		{"LatencyCeiling", cfg.LatencyCeiling < 0, cfg.LatencyCeiling},
		{"CallTimeout", cfg.CallTimeout < 0, cfg.CallTimeout},
		{"MaxAttempts", cfg.MaxAttempts < 0, cfg.MaxAttempts},
		{"Pause", cfg.Pause < 0, cfg.Pause},
		{"Timeout", cfg.Timeout < 0, cfg.Timeout},
		{"Concurrency", cfg.Concurrency < 0, cfg.Concurrency},
	}
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%w: warm-up: %s is %v, want 0 (the default) or more", ErrBadConfig, c.name, c.val)
		}
	}
	if cfg.SuccessesInRow == 0 {
		cfg.SuccessesInRow = DefaultSuccessesInRow
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultWarmupAttempts
	}
	if cfg.MaxAttempts < cfg.SuccessesInRow {
		return fmt.Errorf("%w: warm-up: MaxAttempts %d is less than SuccessesInRow %d, so no endpoint could pass", ErrBadConfig, cfg.MaxAttempts, cfg.SuccessesInRow)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultWarmupTimeout
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = defaultCallTimeout
		if cfg.LatencyCeiling > 0 {
			cfg.CallTimeout = 2 * cfg.LatencyCeiling
		}
	}
	return nil
}
