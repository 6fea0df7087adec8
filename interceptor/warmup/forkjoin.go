package warmup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/internal/config"
)

// ErrBadConfig is the kind of every bad argument or setting of ForkJoin,
// Endpoints and Version: errors.Is(err, ErrBadConfig) holds, and errors.As
// finds a *balancer.ConfigError naming the field and the value.
var ErrBadConfig = errors.New("ninelives: bad warmup config")

// ErrJoinFailed is returned, wrapped, when a fork-join's policy is not met.
var ErrJoinFailed = errors.New("ninelives: fork-join failed")

// CallFunc makes one call on cc with ctx. ForkJoin and the warm-ups give it a
// context forced to one endpoint; it must return when ctx ends.
type CallFunc func(ctx context.Context, cc *grpc.ClientConn) error

type joinKind uint8

const (
	joinAll joinKind = iota
	joinQuorum
)

// Join is the policy that decides when a fork-join is done and whether it
// succeeded.
type Join struct {
	kind joinKind
	n    int
}

// JoinAll waits for every endpoint and succeeds if every call succeeded.
func JoinAll() Join { return Join{kind: joinAll} }

// JoinQuorum succeeds as soon as n calls have succeeded and fails as soon as
// that can no longer happen; the calls still running are then cancelled.
func JoinQuorum(n int) Join { return Join{kind: joinQuorum, n: n} }

// JoinFirst succeeds as soon as one call has succeeded, cancelling the
// others; it is JoinQuorum(1).
func JoinFirst() Join { return Join{kind: joinQuorum, n: 1} }

func (j Join) String() string {
	switch {
	case j.kind == joinAll:
		return "all"
	case j.n == 1:
		return "first"
	default:
		return "quorum(" + strconv.Itoa(j.n) + ")"
	}
}

// ForkJoinOption configures one ForkJoin.
type ForkJoinOption interface{ applyForkJoin(*forkJoinConfig) }

type forkJoinConfig struct {
	join        Join
	concurrency int
	role        balancer.Role
}

type forkJoinOptionFunc func(*forkJoinConfig)

func (f forkJoinOptionFunc) applyForkJoin(c *forkJoinConfig) { f(c) }

// WithJoin sets the join policy; the default is JoinAll.
func WithJoin(j Join) ForkJoinOption {
	return forkJoinOptionFunc(func(c *forkJoinConfig) { c.join = j })
}

// WithConcurrency bounds the calls running at once; the default, 0, runs
// them all at once.
func WithConcurrency(n int) ForkJoinOption {
	return forkJoinOptionFunc(func(c *forkJoinConfig) { c.concurrency = n })
}

// WithRole sets the role the calls carry; the default is
// balancer.RoleWarmup, which keeps them apart from the service's traffic.
func WithRole(r balancer.Role) ForkJoinOption {
	return forkJoinOptionFunc(func(c *forkJoinConfig) { c.role = r })
}

// EndpointResult is the outcome of one endpoint's call.
type EndpointResult struct {
	Addr string `json:"addr"`
	// Err is the call's error, nil on success.
	Err error `json:"-"`
	// Error is Err as text, for JSON.
	Error string `json:"error,omitempty"`
	// Latency is the call's duration; 0 if it never started.
	Latency time.Duration `json:"latency_ns"`
	// Started is false for a call the join decided before it could start.
	Started bool `json:"started"`
	// Canceled is true for a call cut short by the join's end (its
	// decision, or the caller's cancel or deadline), or never started
	// because of it.
	Canceled bool `json:"canceled,omitempty"`
}

// ForkJoinResult is the outcome of a fork-join, one result per target in
// the order given.
type ForkJoinResult struct {
	Join    string           `json:"join"`
	Results []EndpointResult `json:"results"`
	// Succeeded and Failed count the calls that succeeded and failed on
	// their own; the calls the join cancelled are neither.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// ForkJoin makes fn's call once against each target endpoint (addresses as the
// resolver gave them, such as "127.0.0.1:7001") concurrently, each with a
// context forced to its endpoint (as balancer.ForceEndpoint forces it) and
// the warm-up role, and joins them by the policy. Cancelling ctx cancels every call.
// Every call has returned when ForkJoin returns.
//
// The error is nil when the policy is met; otherwise it wraps ErrJoinFailed
// (or ctx's error) and the result still holds every endpoint's outcome. Bad
// arguments give an error wrapping ErrBadConfig and no result.
func ForkJoin(ctx context.Context, cc *grpc.ClientConn, targets []string, fn CallFunc, opts ...ForkJoinOption) (*ForkJoinResult, error) {
	cfg := forkJoinConfig{join: JoinAll(), role: balancer.RoleWarmup}
	for _, o := range opts {
		o.applyForkJoin(&cfg)
	}
	if err := validForkJoin(cc, targets, fn, cfg); err != nil {
		return nil, err
	}
	j := newForkJoin(ctx, cc, targets, fn, cfg)
	defer j.cancel()
	j.run()
	return j.outcome()
}

// forkJoin is the state of one ForkJoin; only its own goroutine touches
// it, the calls report on ch.
type forkJoin struct {
	ctx     context.Context    // the caller's
	fctx    context.Context    // the calls', ended once the join is decided
	cancel  context.CancelFunc // ends fctx
	cc      *grpc.ClientConn
	targets []string
	fn      CallFunc
	cfg     forkJoinConfig
	conc    int // calls running at once at most
	need    int // successes that meet the policy
	res     *ForkJoinResult
	ch      chan finished
	next    int // the next target to start
	running int
	decided bool
}

// finished is one call's end, as its goroutine reports it.
type finished struct {
	i   int
	err error
	lat time.Duration
	cut bool // cut short by the join's context ending
}

func newForkJoin(ctx context.Context, cc *grpc.ClientConn, targets []string, fn CallFunc, cfg forkJoinConfig) *forkJoin {
	j := &forkJoin{ctx: ctx, cc: cc, targets: targets, fn: fn, cfg: cfg, conc: cfg.concurrency, need: len(targets),
		res: &ForkJoinResult{Join: cfg.join.String(), Results: make([]EndpointResult, len(targets))},
		ch:  make(chan finished, len(targets))}
	if j.conc == 0 || j.conc > len(targets) {
		j.conc = len(targets)
	}
	if cfg.join.kind == joinQuorum {
		j.need = cfg.join.n
	}
	j.fctx, j.cancel = context.WithCancel(ctx)
	return j
}

// run starts the calls, at most conc at a time, and collects them until
// every one has returned; once the join is decided it starts no more.
func (j *forkJoin) run() {
	for j.next < len(j.targets) || j.running > 0 {
		if !j.decided && j.ctx.Err() != nil {
			j.decided = true
		}
		switch {
		case !j.decided && j.next < len(j.targets) && j.running < j.conc:
			j.start()
		case j.decided && j.next < len(j.targets):
			j.skipRest()
		default:
			j.collect(<-j.ch)
		}
	}
}

// start makes the next target's call on a goroutine of its own.
func (j *forkJoin) start() {
	i, addr := j.next, j.targets[j.next]
	j.next++
	j.running++
	j.res.Results[i] = EndpointResult{Addr: addr, Started: true}
	cctx := call.WithRole(call.ForceEndpoint(j.fctx, addr), j.cfg.role)
	go func() {
		start := time.Now()
		err := j.fn(cctx, j.cc)
		lat := time.Since(start)
		j.ch <- finished{i: i, err: err, lat: lat, cut: cutShort(cctx, err)}
	}()
}

// skipRest marks the targets not started as cancelled by the join's end.
func (j *forkJoin) skipRest() {
	for ; j.next < len(j.targets); j.next++ {
		err := j.fctx.Err()
		if err == nil {
			err = context.Canceled
		}
		j.res.Results[j.next] = EndpointResult{Addr: j.targets[j.next], Err: err, Error: err.Error(), Canceled: true}
	}
}

// collect records one call's end and decides a quorum that is met or can
// no longer be met, cancelling the calls still running.
func (j *forkJoin) collect(f finished) {
	j.running--
	r := &j.res.Results[f.i]
	r.Err, r.Latency = f.err, f.lat
	if f.err != nil {
		r.Error = f.err.Error()
		// A call that failed on its own still failed, even if it returns
		// after the join's end; only one cut short by that end is
		// cancelled.
		r.Canceled = f.cut
		if !r.Canceled {
			j.res.Failed++
		}
	} else {
		j.res.Succeeded++
	}
	res := j.res
	if !j.decided && j.cfg.join.kind == joinQuorum && (res.Succeeded >= j.need || res.Failed > len(j.targets)-j.need) {
		j.decided = true
		j.cancel()
	}
}

// outcome is ForkJoin's result and error once every call has returned.
func (j *forkJoin) outcome() (*ForkJoinResult, error) {
	res := j.res
	if res.Succeeded >= j.need {
		return res, nil
	}
	if err := contextEnd(j.ctx); err != nil {
		return res, fmt.Errorf("ninelives: fork-join %s: %w", res.Join, err)
	}
	return res, fmt.Errorf("%w: join %s: %d of %d endpoints succeeded, %d needed%s",
		ErrJoinFailed, res.Join, res.Succeeded, len(j.targets), j.need, firstErrors(res.Results))
}

// cutShort reports whether err is the end of ctx, the call's context, as
// the call returned: the same kind of end (cancel or deadline) as ctx's,
// plain or as a gRPC status. A call that failed otherwise, or by a deadline
// of its own before ctx ended, is not cut short, however late it returns.
func cutShort(ctx context.Context, err error) bool {
	cause := contextEnd(ctx)
	if err == nil || cause == nil {
		return false
	}
	return errors.Is(err, cause) || status.Code(err) == status.FromContextError(cause).Code()
}

// contextEnd is ctx.Err(), or DeadlineExceeded once ctx's deadline has
// passed: a server holding the deadline grpc sent it may answer a moment
// before the client's own timer ends ctx.
func contextEnd(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func validForkJoin(cc *grpc.ClientConn, targets []string, fn CallFunc, cfg forkJoinConfig) error {
	switch {
	case cc == nil:
		return config.Errorf(ErrBadConfig, "cc", nil, "is nil")
	case fn == nil:
		return config.Errorf(ErrBadConfig, "call", nil, "is nil")
	case len(targets) == 0:
		return config.Errorf(ErrBadConfig, "targets", nil, "is empty")
	case cfg.concurrency < 0:
		return config.Errorf(ErrBadConfig, "WithConcurrency", cfg.concurrency, "want 0 (all at once) or more")
	case cfg.join.kind == joinQuorum && (cfg.join.n < 1 || cfg.join.n > len(targets)):
		return config.Errorf(ErrBadConfig, "JoinQuorum", cfg.join.n, "want 1..%d (the number of targets)", len(targets))
	case cfg.role == "":
		return config.Errorf(ErrBadConfig, "WithRole", string(cfg.role), "is empty")
	}
	seen := make(map[string]int, len(targets))
	for i, t := range targets {
		field := fmt.Sprintf("targets[%d]", i)
		if t == "" {
			return config.Errorf(ErrBadConfig, field, nil, "is empty")
		}
		if j, dup := seen[t]; dup {
			return config.Errorf(ErrBadConfig, field, t, "repeats targets[%d]", j)
		}
		seen[t] = i
	}
	return nil
}

// firstErrors renders the errors of the failed calls that were not
// cancelled, at most three.
func firstErrors(rs []EndpointResult) string {
	var b strings.Builder
	n := 0
	for _, r := range rs {
		if r.Err == nil || r.Canceled {
			continue
		}
		if n == 3 {
			b.WriteString("; …")
			break
		}
		fmt.Fprintf(&b, "; %s: %v", r.Addr, r.Err)
		n++
	}
	return b.String()
}
