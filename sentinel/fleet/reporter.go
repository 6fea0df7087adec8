package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry"
)

// maxSegments bounds the segments a report holds; older ones are merged
// into one marked mixed, which the leader leaves out.
const maxSegments = 8

// Reporter writes one replica's figures to etcd: each Report collects the
// replica's telemetry window and writes it as one report, under a key of
// its own bound to the replica's lease, in one transaction (one write per
// replica per tick) that also drops its reports older than the retention.
//
// Reports are numbered, and a number's content never changes once it has
// been written, even when the write's outcome is unknown (a timeout): the
// same report is written again until it is known to be in etcd, while the
// new figures wait in memory. So a retry never counts twice, and figures
// made while etcd is away are not lost: they go out, in one report, when it
// returns. The figures are cut at every rollout state the replica's
// Follower applies, so the leader can judge only the calls made under the
// weights it published.
type Reporter struct {
	client   *clientv3.Client
	keys     keys
	name     string
	epoch    string
	source   telemetry.MetricSource
	follower *Follower
	cfg      options

	reportMu sync.Mutex // serialises Report; taken before the follower's applyMu

	mu        sync.Mutex // guards everything below; taken after the follower's applyMu
	session   *concurrency.Session
	next      uint64    // the number the next sealed report gets
	acc       []segment // figures not yet sealed into a report
	pending   *report   // sealed, not yet known to be in etcd
	written   uint64    // the last report known to be in etcd
	writes    int64
	failures  int64
	lastErr   string
	lastBytes int
	bytes     int64
	sourceErr string // the metric source's failure, while it fails
	down      bool
	closed    bool
}

// ReporterStatus is a snapshot of a Reporter.
type ReporterStatus struct {
	Replica string `json:"replica"`
	Epoch   string `json:"epoch"`
	// Written is the number of the last report known to be in etcd;
	// Pending is set while a report waits to be written again.
	Written uint64 `json:"written"`
	Pending bool   `json:"pending"`
	// Writes counts the successful writes (one per Report while etcd
	// answers), Failures the others.
	Writes    int64  `json:"writes"`
	Failures  int64  `json:"failures"`
	LastError string `json:"lastError,omitempty"`
	// SourceError is set while the replica's metric source fails: its
	// reports carry it, so the leader shows it.
	SourceError string `json:"sourceError,omitempty"`
	// LastBytes is the size of the last report written, Bytes the size of
	// all of them (keys and values).
	LastBytes int   `json:"lastBytes"`
	Bytes     int64 `json:"bytes"`
	// Lease is the etcd lease the reports are bound to (0: none yet).
	Lease int64 `json:"lease"`
}

// NewReporter makes the reporter of the replica name (letters, digits, '.',
// '_', '-'; unique in the fleet) for the rollout under prefix. source is the
// replica's telemetry Source; follower is the replica's Follower, whose
// applied states cut the figures.
func NewReporter(client *clientv3.Client, prefix, name string, source telemetry.MetricSource, follower *Follower, opts ...Option) (*Reporter, error) {
	switch {
	case client == nil:
		return nil, config.Errorf(ErrBadOption, "client", nil, "the etcd client is nil")
	case source == nil:
		return nil, config.Errorf(ErrBadOption, "source", nil, "the metric source is nil")
	case follower == nil:
		return nil, config.Errorf(ErrBadOption, "follower", nil, "the follower is nil")
	}
	if err := checkName("replica", name); err != nil {
		return nil, err
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	if k != follower.keys {
		return nil, config.Errorf(ErrBadOption, "follower", follower.keys.prefix, "it follows another prefix than %q", prefix)
	}
	cfg, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ninelives: making the reporter's epoch: %w", err)
	}
	r := &Reporter{client: client, keys: k, name: name, epoch: hex.EncodeToString(b[:]), source: source, follower: follower, cfg: cfg, next: 1}
	follower.applyMu.Lock()
	defer follower.applyMu.Unlock()
	if follower.cut != nil {
		return nil, fmt.Errorf("%w: the follower already has a reporter", ErrBadOption)
	}
	follower.cut = r.cut
	return r, nil
}

// cut closes the figures made under the state prev, before the follower
// applies the next one.
func (r *Reporter) cut(prev uint64) {
	if err := r.collect(context.Background(), prev); err != nil {
		r.cfg.logger.Warn("ninelives: collecting the figures before a new rollout state", "error", err)
	}
}

// collect adds what the source recorded since the last collect to the
// figures under state seq.
func (r *Reporter) collect(ctx context.Context, seq uint64) error {
	w, err := r.source.Collect(ctx)
	if err != nil {
		return fmt.Errorf("ninelives: collecting the replica's figures: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.acc); n > 0 && r.acc[n-1].State == seq && !r.acc[n-1].Mixed {
		return r.acc[n-1].Window.Merge(w)
	}
	r.acc = append(r.acc, segment{State: seq, Window: w})
	if len(r.acc) > maxSegments {
		first := r.acc[0]
		first.Mixed = true
		if err := first.Window.Merge(r.acc[1].Window); err != nil {
			return err
		}
		r.acc = append([]segment{first}, r.acc[2:]...)
	}
	return nil
}

// Report collects the replica's figures and writes them to etcd in one
// transaction. When etcd does not answer in time, the figures stay in
// memory for the next Report, the Follower is told that etcd is out of
// reach, and the error is returned. When the metric source fails, the
// report still goes out, carrying the failure (and the figures collected
// before it), so the leader shows which replicas cannot count; the error
// is returned too, and logged once per streak of failures.
func (r *Reporter) Report(ctx context.Context) error {
	r.reportMu.Lock()
	defer r.reportMu.Unlock()
	var cerr error
	r.follower.withApplied(func(seq uint64) { cerr = r.collect(ctx, seq) })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("%w: the reporter is closed", ErrBadOption)
	}
	r.noteSourceLocked(cerr)
	if r.pending == nil {
		r.pending = &report{Format: StateFormat, Replica: r.name, Epoch: r.epoch, Seq: r.next, Segments: r.acc, SourceError: r.sourceErr}
		r.next++
		r.acc = nil
	}
	rep := r.pending
	r.mu.Unlock()

	val := encodeReport(rep)
	wctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	err := r.write(wctx, rep.Seq, val)
	r.mu.Lock()
	if err != nil {
		r.failures++
		r.lastErr = err.Error()
		r.down = true
		r.mu.Unlock()
		r.follower.setReachable(err)
		return errors.Join(cerr, err)
	}
	r.pending = nil
	r.written = rep.Seq
	r.writes++
	r.lastBytes = len(val)
	r.bytes += int64(len(val) + len(r.keys.report(r.name, r.epoch, rep.Seq)))
	wasDown := r.down
	r.down = false
	r.mu.Unlock()
	r.follower.setReachable(nil)
	if wasDown {
		// Catch up at once rather than wait for the watch to resume.
		_ = r.follower.sync(ctx)
	}
	return cerr
}

// noteSourceLocked records how the metric source's collection went,
// logging the start and the end of a streak of failures.
func (r *Reporter) noteSourceLocked(err error) {
	switch {
	case err != nil:
		r.failures++
		r.lastErr = err.Error()
		if r.sourceErr == "" {
			r.cfg.logger.Warn("ninelives: the replica's metric source fails; its reports say so until it recovers",
				"replica", r.name, "error", err)
		}
		r.sourceErr = err.Error()
	case r.sourceErr != "":
		r.cfg.logger.Info("ninelives: the replica's metric source recovered", "replica", r.name, "after", r.sourceErr)
		r.sourceErr = ""
	}
}

func (r *Reporter) write(ctx context.Context, seq uint64, val []byte) error {
	lease, err := r.lease(ctx)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(r.keys.report(r.name, r.epoch, seq), string(val), clientv3.WithLease(lease))}
	if keep := uint64(r.cfg.retention); seq > keep {
		ops = append(ops, clientv3.OpDelete(r.keys.report(r.name, r.epoch, 1), clientv3.WithRange(r.keys.report(r.name, r.epoch, seq-keep+1))))
	}
	if _, err := r.client.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("ninelives: writing report %d of replica %s: %w", seq, r.name, err)
	}
	return nil
}

// lease returns the replica's lease, granting a new one when there is none
// or the last one expired. After etcd was away longer than the TTL the
// lease has expired only on the client's side if etcd, restarted, renewed
// it, as it does every lease it had: then the replica keeps it, and with
// it the reports the leader has not read yet.
func (r *Reporter) lease(ctx context.Context) (clientv3.LeaseID, error) {
	r.mu.Lock()
	s := r.session
	r.mu.Unlock()
	if s != nil {
		select {
		case <-s.Done():
		default:
			return s.Lease(), nil
		}
	}
	s, err := keepOrGrant(ctx, r.client, s, r.cfg, "replica")
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.session = s
	r.mu.Unlock()
	return s.Lease(), nil
}

// Run reports every interval until ctx ends; it returns ctx's error.
// Failed writes are logged at debug level: the Follower logs etcd going
// away and coming back, and Report logs a failing metric source.
func (r *Reporter) Run(ctx context.Context) error {
	c, stop := r.cfg.clock.Ticker(r.cfg.interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c:
			if err := r.Report(ctx); err != nil {
				r.cfg.logger.Debug("ninelives: report failed", "replica", r.name, "error", err)
			}
		}
	}
}

// Status returns a snapshot of the reporter.
func (r *Reporter) Status() ReporterStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ReporterStatus{Replica: r.name, Epoch: r.epoch, Written: r.written, Pending: r.pending != nil,
		Writes: r.writes, Failures: r.failures, LastError: r.lastErr, SourceError: r.sourceErr, LastBytes: r.lastBytes, Bytes: r.bytes}
	if r.session != nil {
		st.Lease = int64(r.session.Lease())
	}
	return st
}

// Close stops renewing the replica's lease; its reports leave etcd when the
// lease expires, a TTL later, so the leader can still read the last ones.
// The reporter must not Report after Close.
func (r *Reporter) Close() error {
	r.mu.Lock()
	s := r.session
	r.session, r.closed = nil, true
	r.mu.Unlock()
	if s != nil {
		s.Orphan()
	}
	return nil
}
