package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Source is a telemetry.MetricSource that sums the live replicas' reports in
// etcd: each Collect reads the reports written since the previous one (from
// a watch on the reports, or one ranged read filtered by revision when the
// watch is not open) and adds up those it has not counted yet. It remembers, per replica and epoch, the number of the last report it
// counted, so a report written twice is counted once, and a report that
// never arrived shows up as lost. A replica whose lease expired takes its
// unread reports with it: a dead replica's figures stop counting.
//
// The leader's Source counts only the figures made under the rollout state
// it judges; the others are consumed and counted as left out.
type Source struct {
	client *clientv3.Client
	keys   keys
	cfg    options

	mu      sync.Mutex // serialises Collect; guards everything below
	cursors map[string]cursor
	readRev int64
	only    uint64
	onlySet bool
	stats   SourceStats
	watch   *reportWatch      // open while the source reads; nil before and after
	scratch report            // each report is decoded into it
	failing map[string]string // replica epoch → its metric source's failure
	// rangeOnly reads with a ranged read every time, as before the watch:
	// the tick benchmark's baseline.
	rangeOnly bool
}

// SourceStats counts what a Source has read.
type SourceStats struct {
	// Reads counts the Collects that read etcd; Reports the reports
	// counted; Replicas the replicas (with their epochs) the last read saw.
	Reads    int64 `json:"reads"`
	Reports  int64 `json:"reports"`
	Replicas int   `json:"replicas"`
	// Segments counts the report segments added to windows; LeftOut those
	// made under another rollout state than the judged one.
	Segments int64 `json:"segments"`
	LeftOut  int64 `json:"leftOut"`
	// Lost counts reports that were dropped before they were read (a gap
	// in a replica's numbers); Rejected counts malformed reports.
	Lost int64 `json:"lost"`
	// Failing counts the replicas whose last report read says their metric
	// source failed; LastSourceError is one of them, with its error.
	Failing         int    `json:"failing"`
	LastSourceError string `json:"lastSourceError,omitempty"`
	Rejected        int64  `json:"rejected"`
	LastBad         string `json:"lastBad,omitempty"`
}

var _ telemetry.MetricSource = (*Source)(nil)

// NewSource makes the source of the rollout's reports under prefix.
func NewSource(client *clientv3.Client, prefix string, opts ...Option) (*Source, error) {
	k, cfg, err := setup(client, prefix, opts)
	if err != nil {
		return nil, err
	}
	return &Source{client: client, keys: k, cfg: cfg, cursors: map[string]cursor{}, failing: map[string]string{}}, nil
}

// onlyState makes Collect count only the figures made under the rollout state
// seq (0: before any state); figures made under other states, or across
// several, are consumed and counted as left out. The leader sets it to the
// state it published, so a look never mixes two candidate shares.
func (s *Source) onlyState(seq uint64) {
	s.mu.Lock()
	s.only, s.onlySet = seq, true
	s.mu.Unlock()
}

// Collect reads the reports written since the last Collect and returns the
// sum of their figures not counted yet.
func (s *Source) Collect(ctx context.Context) (*telemetry.Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	kvs, rev, err := s.readNewLocked(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.clock.Now()
	s.stats.Reads++
	win := &telemetry.Window{}
	seen := map[string]bool{}
	for _, kv := range kvs {
		if id, ok := s.countLocked(win, kv, now); ok {
			seen[id] = true
		}
	}
	s.readRev = rev
	s.stats.Replicas = len(seen)
	for id, c := range s.cursors {
		if now.Sub(c.Seen) > s.cfg.cursorAge {
			delete(s.cursors, id)
			delete(s.failing, id)
		}
	}
	if win.Start.IsZero() {
		win.Start, win.End = now, now
	}
	return win, s.failingLocked(seen, win)
}

// failingLocked updates the figures of the replicas whose metric source
// fails, and returns an error when every replica read this time fails and
// none has sent a call: the sums would be of nothing.
func (s *Source) failingLocked(seen map[string]bool, win *telemetry.Window) error {
	s.stats.Failing, s.stats.LastSourceError = len(s.failing), ""
	if len(s.failing) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(s.failing))
	s.stats.LastSourceError = s.failing[ids[0]]
	now := 0
	for id := range seen {
		if _, ok := s.failing[id]; ok {
			now++
		}
	}
	if now == 0 || now < len(seen) || primaryCalls(win) > 0 {
		return nil
	}
	return fmt.Errorf("ninelives: %d of %d replicas cannot collect their figures (%s)", now, len(seen), s.stats.LastSourceError)
}

// primaryCalls counts a window's primary calls.
func primaryCalls(w *telemetry.Window) int64 {
	var n int64
	for _, v := range w.Versions {
		if r := v.Roles[balancer.RolePrimary]; r != nil {
			n += r.Calls
		}
	}
	return n
}

// countLocked adds one report's figures to win, unless it was counted
// already, and returns the replica epoch it is of.
func (s *Source) countLocked(win *telemetry.Window, kv *mvccpb.KeyValue, now time.Time) (string, bool) {
	replica, epoch, seq, err := s.keys.parseReport(string(kv.Key))
	if err != nil {
		s.reject(err)
		return "", false
	}
	id := replica + "/" + epoch
	c, known := s.cursors[id]
	if known && seq <= c.Seq {
		return id, false // counted already: a report written again
	}
	rep, err := decodeReport(kv.Value, replica, epoch, seq, &s.scratch)
	if err != nil {
		s.reject(err)
		return "", false
	}
	if known && seq > c.Seq+1 {
		s.stats.Lost += int64(seq - c.Seq - 1)
		s.cfg.logger.Warn("ninelives: reports dropped before they were read", "replica", replica, "epoch", epoch,
			"from", c.Seq+1, "to", seq-1)
	}
	for _, seg := range rep.Segments {
		if seg.Mixed || (s.onlySet && seg.State != s.only) {
			s.stats.LeftOut++
			continue
		}
		if err := win.Merge(seg.Window); err != nil {
			s.reject(fmt.Errorf("%w: report %s: %v", ErrBadState, id, err))
			continue
		}
		s.stats.Segments++
	}
	s.stats.Reports++
	s.cursors[id] = cursor{Seq: seq, Seen: now}
	if rep.SourceError != "" {
		s.failing[id] = replica + ": " + rep.SourceError
	} else {
		delete(s.failing, id)
	}
	return id, true
}

// readNewLocked returns the reports written since readRev and the revision
// read up to. It reads them from the watch on the reports when one is
// open: the events since the last read, which etcd sent as they were
// written. Otherwise, or when the watch failed (etcd compacted the
// revisions it needed, or lost its leader), it reads them with one ranged
// read filtered by revision, which scans every report held (each replica
// keeps its last WithRetention), and opens the watch from there.
func (s *Source) readNewLocked(ctx context.Context) ([]*mvccpb.KeyValue, int64, error) {
	if s.watch != nil {
		kvs, rev, err := s.watch.drain(ctx)
		if err == nil {
			return kvs, rev, nil
		}
		s.closeWatchLocked()
		s.cfg.logger.Info("ninelives: the watch on the reports ended; reading them again", "error", err)
	}
	resp, err := s.client.Get(ctx, s.keys.reports(), clientv3.WithPrefix(), clientv3.WithMinModRev(s.readRev+1))
	if err != nil {
		return nil, 0, fmt.Errorf("ninelives: reading the replicas' reports: %w", err)
	}
	if !s.rangeOnly {
		s.watch = openReportWatch(s.client, s.keys.reports(), resp.Header.Revision+1)
	}
	return resp.Kvs, resp.Header.Revision, nil
}

func (s *Source) closeWatchLocked() {
	if s.watch != nil {
		s.watch.close()
		s.watch = nil
	}
}

// close stops the watch on the reports: a leader that steps down or closes
// reads nothing more.
func (s *Source) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeWatchLocked()
}

func (s *Source) reject(err error) {
	s.stats.Rejected++
	s.stats.LastBad = err.Error()
	s.cfg.logger.Warn("ninelives: report rejected", "error", err)
}

// Stats returns what the source has read.
func (s *Source) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// position returns how far the source has read, for the checkpoint.
func (s *Source) position() (readRev int64, cursors map[string]cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readRev, maps.Clone(s.cursors)
}

// reset starts the source afresh at how far a checkpoint says it has read:
// a new leader's term reads on from there.
func (s *Source) reset(readRev int64, cursors map[string]cursor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeWatchLocked()
	s.readRev = readRev
	s.cursors = maps.Clone(cursors)
	if s.cursors == nil {
		s.cursors = map[string]cursor{}
	}
	s.only, s.onlySet, s.stats = 0, false, SourceStats{}
	clear(s.failing)
}
