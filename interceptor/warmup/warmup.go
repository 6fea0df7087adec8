package warmup

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
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
)

// Config configures a warm-up. Calls is required.
type Config struct {
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

// The defaults of Config.
const (
	defaultSuccessesInRow = 3
	defaultMaxAttempts    = 100
	defaultTimeout        = 30 * time.Second
	defaultCallTimeout    = 10 * time.Second
)

// EndpointReport is one endpoint's part of a Report.
type EndpointReport struct {
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

// Report is the outcome of a warm-up: the gate of a blue/green cut-over.
// It is ready for JSON.
type Report struct {
	// Version is the version warmed, when Version made the report.
	Version   string           `json:"version,omitempty"`
	Passed    bool             `json:"passed"`
	Reason    string           `json:"reason"`
	Endpoints []EndpointReport `json:"endpoints"`
	Elapsed   time.Duration    `json:"elapsed_ns"`
}

// Func warms a version up and reports whether it is ready for traffic, as
// a blue/green strategy's gate (sentinel.BlueGreenConfig.Warmup). It must
// return when ctx ends.
type Func func(ctx context.Context, version string) (*Report, error)

// For returns the Func that runs Version on cc: it warms every READY
// endpoint of the version, as the clients steered by split see them, with
// the calls and thresholds of cfg.
func For(cc *grpc.ClientConn, split *balancer.Split, cfg Config) Func {
	return func(ctx context.Context, version string) (*Report, error) {
		return Version(ctx, cc, split, version, cfg)
	}
}

// Version warms every READY endpoint of version, as the clients steered
// by split see them: the gate of a blue/green cut-over. A version without a
// READY endpoint gives a report that did not pass, not an error; the error
// is only for bad arguments.
func Version(ctx context.Context, cc *grpc.ClientConn, split *balancer.Split, version string, cfg Config) (*Report, error) {
	if err := validWarmup(&cfg); err != nil {
		return nil, err
	}
	if split == nil {
		return nil, config.Errorf(ErrBadConfig, "split", nil, "is nil")
	}
	if err := config.Under(ErrBadConfig, "version", names.Version(version)); err != nil {
		return nil, err
	}
	targets := split.ReadyEndpoints(version)
	if len(targets) == 0 {
		return &Report{Version: version, Reason: fmt.Sprintf("version %q has no READY endpoint", version)}, nil
	}
	rep, err := Endpoints(ctx, cc, targets, cfg)
	if rep != nil {
		rep.Version = version
	}
	return rep, err
}

// Endpoints repeats the warm-up calls against each target endpoint
// (addresses as the resolver gave them) until it has SuccessesInRow good
// calls in a row, or MaxAttempts calls, or the deadline passes. The calls
// carry the warm-up role and are forced to their endpoint. The report
// passes when every endpoint passed. The error is only for bad arguments.
func Endpoints(ctx context.Context, cc *grpc.ClientConn, targets []string, cfg Config) (*Report, error) {
	if err := validWarmup(&cfg); err != nil {
		return nil, err
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	eps := make([]EndpointReport, len(targets))
	index := make(map[string]int, len(targets))
	for i, t := range targets {
		eps[i].Addr = t
		index[t] = i
	}
	warm := func(ctx context.Context, cc *grpc.ClientConn) error {
		addr, _ := call.ForcedEndpoint(ctx)
		return warmEndpoint(ctx, cc, &eps[index[addr]], &cfg)
	}
	_, err := ForkJoin(wctx, cc, targets, warm, WithConcurrency(cfg.Concurrency))
	if err != nil && errors.Is(err, ErrBadConfig) {
		return nil, err
	}
	return report(eps, &cfg, time.Since(start), wctx.Err() != nil), nil
}

// report sums up the endpoints' warm-ups; late is set when the deadline
// passed.
func report(eps []EndpointReport, cfg *Config, elapsed time.Duration, late bool) *Report {
	rep := &Report{Endpoints: eps, Elapsed: elapsed, Passed: true}
	var bad []string
	for _, e := range eps {
		if !e.Passed {
			rep.Passed = false
			bad = append(bad, describeWarmup(e))
		}
	}
	if rep.Passed {
		rep.Reason = fmt.Sprintf("all %d endpoints had %d good calls in a row%s", len(eps), cfg.SuccessesInRow, ceilingText(cfg))
		return rep
	}
	why := ""
	if late {
		why = " before the deadline"
	}
	rep.Reason = fmt.Sprintf("%d of %d endpoints did not have %d good calls in a row%s%s: %s",
		len(bad), len(eps), cfg.SuccessesInRow, ceilingText(cfg), why, strings.Join(bad, "; "))
	return rep
}

func ceilingText(cfg *Config) string {
	if cfg.LatencyCeiling == 0 {
		return ""
	}
	return " under " + cfg.LatencyCeiling.String()
}

func describeWarmup(e EndpointReport) string {
	s := fmt.Sprintf("%s: %d in a row after %d attempts, worst %v", e.Addr, e.SuccessesInRow, e.Attempts, e.WorstLatency.Round(time.Microsecond))
	if e.LastError != "" {
		s += ", last error: " + e.LastError
	}
	return s
}

// warmEndpoint runs the calls against one endpoint and fills in e; it
// returns an error when the endpoint did not pass.
func warmEndpoint(ctx context.Context, cc *grpc.ClientConn, e *EndpointReport, cfg *Config) error {
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
		return fmt.Errorf("warm-up of %s did not pass", e.Addr)
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

func validWarmup(cfg *Config) error {
	if len(cfg.Calls) == 0 {
		return config.Errorf(ErrBadConfig, "Calls", nil, "is empty; give at least one CallFunc")
	}
	for i, c := range cfg.Calls {
		if c == nil {
			return config.Errorf(ErrBadConfig, fmt.Sprintf("Calls[%d]", i), nil, "is nil")
		}
	}
	for _, c := range []struct {
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
	} {
		if c.bad {
			return config.Errorf(ErrBadConfig, c.name, c.val, "want 0 (the default) or more")
		}
	}
	return fillDefaults(cfg)
}

// fillDefaults fills in the settings left at 0.
func fillDefaults(cfg *Config) error {
	if cfg.SuccessesInRow == 0 {
		cfg.SuccessesInRow = defaultSuccessesInRow
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.MaxAttempts < cfg.SuccessesInRow {
		return config.Errorf(ErrBadConfig, "MaxAttempts", cfg.MaxAttempts, "less than SuccessesInRow %d, so no endpoint could pass", cfg.SuccessesInRow)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = defaultCallTimeout
		if cfg.LatencyCeiling > 0 {
			cfg.CallTimeout = 2 * cfg.LatencyCeiling
		}
	}
	return nil
}
