package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ninelives-go/ninelives/internal/clock"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/telemetry"
)

// ErrBadOption is returned, wrapped, for every argument or option a
// constructor of this package rejects.
var ErrBadOption = errors.New("ninelives: bad fleet option")

// ErrNotLeader is returned, wrapped, by a Leader's Tick when it does not
// lead (any more): it has not won the election, or its lease expired, or
// another sentinel took over.
var ErrNotLeader = errors.New("ninelives: not the fleet's leader")

// ErrBadState is returned, wrapped, for a rollout state, report or
// checkpoint in etcd that is malformed or out of order.
var ErrBadState = errors.New("ninelives: bad fleet state")

// Option configures a Reporter, a Follower, a Source or a Leader. Each
// takes the options that concern it and ignores the others.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(c *options) { f(c) }

type options struct {
	ttl       time.Duration
	interval  time.Duration
	timeout   time.Duration
	retention int
	cursorAge time.Duration
	compact   time.Duration
	clock     sentinel.Clock
	logger    *slog.Logger
	// Leader only.
	baseline, candidate string
	sentinel            []sentinel.Option
	builds              release.BuildSource
	release             []release.Option
	source              telemetry.MetricSource
	// Controller only.
	commandWait time.Duration
}

func newOptions(opts []Option) (options, error) {
	c := options{
		ttl:         10 * time.Second,
		interval:    time.Second,
		timeout:     2 * time.Second,
		retention:   64,
		cursorAge:   time.Hour,
		compact:     time.Minute,
		commandWait: 10 * time.Second,
		clock:       clock.Wall{},
		logger:      slog.Default(),
	}
	for _, o := range opts {
		o.apply(&c)
	}
	switch {
	case c.ttl < time.Second || c.ttl%time.Second != 0:
		return c, config.Errorf(ErrBadOption, "WithTTL", c.ttl, "want whole seconds, at least 1s (etcd leases count in seconds)")
	case c.interval <= 0:
		return c, config.Errorf(ErrBadOption, "WithInterval", c.interval, "want a positive duration")
	case c.timeout <= 0:
		return c, config.Errorf(ErrBadOption, "WithTimeout", c.timeout, "want a positive duration")
	case c.retention < 2:
		return c, config.Errorf(ErrBadOption, "WithRetention", c.retention, "want at least 2 reports")
	case c.compact < 0:
		return c, config.Errorf(ErrBadOption, "WithCompaction", c.compact, "want a positive duration, or 0 for none")
	case c.commandWait <= 0:
		return c, config.Errorf(ErrBadOption, "WithCommandWait", c.commandWait, "want a positive duration")
	case c.cursorAge <= 0:
		return c, config.Errorf(ErrBadOption, "WithCursorRetention", c.cursorAge, "want a positive duration")
	case c.clock == nil:
		return c, config.Errorf(ErrBadOption, "WithClock", nil, "the clock is nil")
	case c.logger == nil:
		return c, config.Errorf(ErrBadOption, "WithLogger", nil, "the logger is nil")
	}
	return c, nil
}

// setup checks what every constructor of this package takes: the etcd
// client, the rollout's prefix and the options.
func setup(client *clientv3.Client, prefix string, opts []Option) (keys, options, error) {
	if client == nil {
		return keys{}, options{}, config.Errorf(ErrBadOption, "client", nil, "the etcd client is nil")
	}
	k, err := newKeys(prefix)
	if err != nil {
		return keys{}, options{}, err
	}
	cfg, err := newOptions(opts)
	return k, cfg, err
}

// WithTTL sets the TTL of the etcd leases that bind a replica's reports and
// a sentinel's leadership (default 10 s, whole seconds). A replica or a
// leader that stops renewing is gone this long after.
func WithTTL(d time.Duration) Option { return optionFunc(func(c *options) { c.ttl = d }) }

// WithInterval sets the time between reports and between the leader's
// ticks when they Run (default 1 s).
func WithInterval(d time.Duration) Option { return optionFunc(func(c *options) { c.interval = d }) }

// WithTimeout bounds each etcd request (default 2 s). A request that runs
// out counts as etcd being unreachable.
func WithTimeout(d time.Duration) Option { return optionFunc(func(c *options) { c.timeout = d }) }

// WithRetention sets how many of its last reports a replica keeps in etcd
// (default 64). Reports that no leader has read by then are dropped, so it
// should span the leader's tick and a failover: retention × interval well
// above the TTL.
func WithRetention(reports int) Option { return optionFunc(func(c *options) { c.retention = reports }) }

// WithCursorRetention sets how long the leader remembers the last report it
// read from a replica that has gone quiet (default 1 h); a replica that
// comes back within it is never counted twice.
func WithCursorRetention(d time.Duration) Option {
	return optionFunc(func(c *options) { c.cursorAge = d })
}

// WithCompaction sets how often the leader compacts etcd's history
// (default every minute; 0: never). Every report is a new revision, which
// etcd keeps until it is compacted: about 0.7 kB a replica a second, so a
// fleet of 1,000 replicas would fill etcd's default 2 GiB quota in under an
// hour, after which etcd refuses every write. Each period the leader
// compacts to the revision it saw one period before, so a watch that lags
// by less than a period still resumes. Compaction applies to the whole
// keyspace: with an etcd shared by other programs and compacted by its
// operator (--auto-compaction-mode, --auto-compaction-retention), pass 0.
func WithCompaction(every time.Duration) Option {
	return optionFunc(func(c *options) { c.compact = every })
}

// WithClock replaces the wall clock (the leader's sentinel uses it too).
// When the clock also has a method After(d time.Duration) <-chan
// time.Time, as sentineltest.Clock does, the pauses between retries wait on
// it too.
func WithClock(clk sentinel.Clock) Option { return optionFunc(func(c *options) { c.clock = clk }) }

// after waits d on the clock when it can wait, else on the wall clock.
func (c *options) after(d time.Duration) <-chan time.Time {
	if w, ok := c.clock.(interface {
		After(time.Duration) <-chan time.Time
	}); ok {
		return w.After(d)
	}
	return time.After(d)
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *options) { c.logger = l }) }

// WithVersions names the baseline and the candidate for a Leader; by default
// they are its initial weights' first and second versions.
func WithVersions(baseline, candidate string) Option {
	return optionFunc(func(c *options) { c.baseline, c.candidate = baseline, candidate })
}

// WithSentinelOptions passes options to the leader's sentinel: the judge,
// alerters, a decision recorder, a dry run. The clock, the logger and the
// versions come from this package's options.
func WithSentinelOptions(opts ...sentinel.Option) Option {
	return optionFunc(func(c *options) { c.sentinel = append(c.sentinel, opts...) })
}

// WithRelease makes a Leader run release after release (package release):
// builds tells which build each version serves, and a new build behind the
// candidate begins the next rollout on the same replicas. Without it the
// Leader runs one rollout. opts configure the lifecycle (WithAutoStart);
// its clock, logger and interval are this package's.
func WithRelease(builds release.BuildSource, opts ...release.Option) Option {
	return optionFunc(func(c *options) { c.builds, c.release = builds, append(c.release, opts...) })
}

// WithSource makes a Leader judge the windows of src, such as a
// promsource.Source reading every replica's metrics from Prometheus,
// instead of the replicas' reports in etcd: beyond the fleet size one etcd
// carries (see the fleet recipe's README), the replicas run a Follower
// only and etcd carries the rollout state, commands and checkpoints. The
// leader then commits a checkpoint every tick.
func WithSource(src telemetry.MetricSource) Option {
	return optionFunc(func(c *options) { c.source = src })
}

// WithCommandWait bounds how long a Controller waits for the leader to
// apply a command (default 10 s) before it withdraws it.
func WithCommandWait(d time.Duration) Option {
	return optionFunc(func(c *options) { c.commandWait = d })
}

// newSession grants a lease of ttl (whole seconds) and keeps it alive until
// the session is closed or orphaned; holder names its holder in errors
// ("sentinel", "replica").
func newSession(ctx context.Context, client *clientv3.Client, ttl time.Duration, holder string) (*concurrency.Session, error) {
	g, err := client.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("ninelives: granting the %s's lease: %w", holder, err)
	}
	s, err := concurrency.NewSession(client, concurrency.WithLease(g.ID), concurrency.WithTTL(int(ttl/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("ninelives: keeping the %s's lease alive: %w", holder, err)
	}
	return s, nil
}

// keepOrGrant returns a session for the holder whose session expired on
// the client's side (nil: it had none): on expired's lease if etcd still
// has it, as after an absence longer than the TTL (a restarted etcd renews
// every lease it had), so that what is bound to the lease stays; on a new
// lease otherwise.
func keepOrGrant(ctx context.Context, client *clientv3.Client, expired *concurrency.Session, cfg options, holder string) (*concurrency.Session, error) {
	if expired == nil {
		return newSession(ctx, client, cfg.ttl, holder)
	}
	id := expired.Lease()
	_, err := client.KeepAliveOnce(ctx, id)
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		cfg.logger.Warn("ninelives: the lease expired; taking a new one", "holder", holder, "lease", int64(id))
		return newSession(ctx, client, cfg.ttl, holder)
	case err != nil:
		return nil, fmt.Errorf("ninelives: renewing the %s's lease: %w", holder, err)
	}
	s, err := concurrency.NewSession(client, concurrency.WithLease(id), concurrency.WithTTL(int(cfg.ttl/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("ninelives: keeping the %s's lease alive: %w", holder, err)
	}
	cfg.logger.Info("ninelives: the lease outlived etcd's absence; keeping it", "holder", holder, "lease", int64(id))
	return s, nil
}

// keys is the layout of one rollout in etcd, under its prefix (see the
// package documentation).
type keys struct {
	prefix string
}

func newKeys(prefix string) (keys, error) {
	switch {
	case prefix == "":
		return keys{}, config.Errorf(ErrBadOption, "prefix", prefix, "want a key prefix such as /ninelives/orders")
	case strings.HasSuffix(prefix, "/"):
		return keys{}, config.Errorf(ErrBadOption, "prefix", prefix, "ends with /, want it without")
	case strings.ContainsAny(prefix, "\x00\n"):
		return keys{}, config.Errorf(ErrBadOption, "prefix", prefix, "holds a control character")
	}
	return keys{prefix: prefix}, nil
}

func (k keys) state() string      { return k.prefix + "/state" }
func (k keys) checkpoint() string { return k.prefix + "/checkpoint" }
func (k keys) election() string   { return k.prefix + "/election" }
func (k keys) reports() string    { return k.prefix + "/reports/" }
func (k keys) commands() string   { return k.prefix + "/commands/" }
func (k keys) history() string    { return k.prefix + "/history/" }
func (k keys) status() string     { return k.prefix + "/status" }

func (k keys) command(id string) string { return k.commands() + id }
func (k keys) historyAt(n uint64) string {
	return fmt.Sprintf("%s%016x", k.history(), n)
}

func (k keys) epoch(replica, epoch string) string { return k.reports() + replica + "/" + epoch + "/" }

func (k keys) report(replica, epoch string, seq uint64) string {
	return fmt.Sprintf("%s%016x", k.epoch(replica, epoch), seq)
}

// parseReport splits a report key into its replica, epoch and sequence
// number.
func (k keys) parseReport(key string) (replica, epoch string, seq uint64, err error) {
	rest, ok := strings.CutPrefix(key, k.reports())
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || checkName("", parts[0]) != nil || checkName("", parts[1]) != nil || len(parts[2]) != 16 {
		return "", "", 0, fmt.Errorf("%w: report key %q, want %s<replica>/<epoch>/<16 hex digits>", ErrBadState, key, k.reports())
	}
	seq, err = strconv.ParseUint(parts[2], 16, 64)
	if err != nil || seq == 0 {
		return "", "", 0, fmt.Errorf("%w: report key %q: sequence %q, want 16 hex digits above 0", ErrBadState, key, parts[2])
	}
	return parts[0], parts[1], seq, nil
}

// checkName checks a replica's, an epoch's or a sentinel's name, given as
// field: 1 to 64 letters, digits, '.', '_' or '-'.
func checkName(field, name string) error {
	if name == "" || len(name) > 64 {
		return config.Errorf(ErrBadOption, field, name, "want 1 to 64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return config.Errorf(ErrBadOption, field, name, "%q is not a letter, digit, '.', '_' or '-'", r)
		}
	}
	return nil
}
