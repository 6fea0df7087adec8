package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Leader is one of the fleet's sentinels. Any number may run; they campaign
// through etcd's election API and one leads. The leader ticks a sentinel
// whose metric source is the replicas' reports (a Source) and whose Router
// holds the fleet's weights: after each tick that read a report or changed
// anything (every tick, with WithSource), it writes, in one transaction
// fenced by its election key, its checkpoint (the sentinel's checkpoint and
// how far it has read each replica) and, when the tick's decision changed
// where the rollout stands (the phase, the step or the weights), the next
// rollout state, which every replica's Follower applies.
//
// A sentinel that wins the election resumes from the stored checkpoint:
// same phase, step, step start, weights and judge statistics, so the
// rollout neither restarts nor jumps, and every report is judged once over
// all terms. A leader whose lease expired, or whose fenced write fails
// because another took over, steps down (Tick returns ErrNotLeader).
type Leader struct {
	client  *clientv3.Client
	keys    keys
	name    string
	cfg     options
	initial []balancer.Weight
	sen     *sentinel.Sentinel // the leader's for its life; Restore carries each term on
	life    *release.Lifecycle // drives sen, rollout after rollout with WithRelease
	src     *Source

	closeCtx    context.Context
	closeCancel context.CancelFunc

	// run is the run lock (a channel of one, so that Close can stop
	// waiting for a tick stuck in a strategy): it serialises Campaign's
	// loading, Tick, Resign and Close's resignation; taken before mu, and
	// never held while the sentinel shuts down.
	run chan struct{}

	mu          sync.Mutex // guards everything below
	unsure      *unsureCommit
	session     *concurrency.Session
	election    *concurrency.Election
	campaigning bool
	leading     bool
	loaded      bool
	term        int64
	state       *RolloutState // the last state committed (nil: none yet)
	cpRev       int64         // the checkpoint's mod revision this leader expects
	tick        uint64
	republish   bool
	electedAt   time.Time
	terms       int64
	publishes   int64
	writes      int64
	lastErr     string
	last        sentinel.Event
	closed      bool
	compactions int64
	// compactRev is the revision the next compaction goes to, seen at
	// compactAt; the compaction is due a period after.
	compactRev int64
	compactAt  time.Time
	hist       uint64 // the lifecycle's events written to the history
	writeBytes int64
	// beforeCommit, when set (by tests), runs before each commit.
	beforeCommit func()
	dropOld      []string // answered commands past the retention, for the next commit to delete
}

// LeaderStatus is a snapshot of a Leader.
type LeaderStatus struct {
	Name    string `json:"name"`
	Leading bool   `json:"leading"`
	// Term is the election revision of the current (or last) leadership.
	Term      int64     `json:"term"`
	ElectedAt time.Time `json:"electedAt,omitzero"`
	// Terms counts the times this sentinel won the election.
	Terms int64 `json:"terms"`
	// Tick is the number of ticks committed to etcd, over all leaders.
	Tick uint64 `json:"tick"`
	// State is the last rollout state committed.
	State *RolloutState `json:"state,omitempty"`
	// Writes counts this sentinel's transactions, Publishes those that
	// carried a new state.
	Writes    int64 `json:"writes"`
	Publishes int64 `json:"publishes"`
	// WriteBytes is the size of the keys and values of its transactions.
	WriteBytes int64 `json:"writeBytes"`
	// Compactions counts the compactions of etcd's history this sentinel
	// made (WithCompaction).
	Compactions int64 `json:"compactions"`
	// Error is the last failure (etcd, a malformed stored state).
	Error string `json:"error,omitempty"`
	// LastDecision is the sentinel's last decision as leader.
	LastDecision *sentinel.Event `json:"lastDecision,omitempty"`
	Source       SourceStats     `json:"source"`
	// Sentinel is the leading sentinel's status (nil when not leading),
	// with the events of every rollout; Release is where the release
	// lifecycle stands (WithRelease).
	Sentinel *sentinel.Status `json:"sentinel,omitempty"`
	Release  *release.Status  `json:"release,omitempty"`
}

// unsureCommit is a commit whose outcome is unknown (etcd did not answer
// in time): the next Tick looks whether it landed.
type unsureCommit struct {
	tick  uint64
	state *RolloutState
	hist  uint64
}

// NewLeader makes the sentinel name (letters, digits, '.', '_', '-') of the
// rollout under prefix. initial are the weights before the rollout starts;
// strategy decides each tick, as in sentinel.New. It campaigns on Campaign
// or Run. The sentinel's options are checked here, not at the first
// election.
func NewLeader(client *clientv3.Client, prefix, name string, initial []balancer.Weight, strategy sentinel.Strategy, opts ...Option) (*Leader, error) {
	if client == nil {
		return nil, config.Errorf(ErrBadOption, "client", nil, "the etcd client is nil")
	}
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	cfg, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	router, err := newWeights(initial)
	if err != nil {
		return nil, err
	}
	if cfg.baseline == "" && cfg.candidate == "" && len(initial) >= 2 {
		cfg.baseline, cfg.candidate = initial[0].Version, initial[1].Version
	}
	src, err := NewSource(client, prefix, WithTimeout(cfg.timeout), WithClock(cfg.clock),
		WithLogger(cfg.logger), WithCursorRetention(cfg.cursorAge))
	if err != nil {
		return nil, err
	}
	var windows telemetry.MetricSource = src
	if cfg.source != nil {
		windows = cfg.source
	}
	sen, err := sentinel.New(router, windows, strategy, sentinelOptions(cfg)...)
	if err != nil {
		return nil, config.Under(ErrBadOption, "", err)
	}
	life, err := release.New(sen, cfg.builds, append([]release.Option{release.WithClock(cfg.clock), release.WithLogger(cfg.logger),
		release.WithInterval(cfg.interval)}, cfg.release...)...)
	if err != nil {
		return nil, config.Under(ErrBadOption, "WithRelease", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Leader{client: client, keys: src.keys, name: name, cfg: cfg, initial: slices.Clone(initial), sen: sen, life: life, src: src,
		closeCtx: ctx, closeCancel: cancel, run: make(chan struct{}, 1)}, nil
}

func sentinelOptions(cfg options) []sentinel.Option {
	return append([]sentinel.Option{sentinel.WithVersions(cfg.baseline, cfg.candidate), sentinel.WithClock(cfg.clock),
		sentinel.WithLogger(cfg.logger)}, cfg.sentinel...)
}

// Campaign blocks until this sentinel leads the rollout, then loads the
// stored state and checkpoint. It returns nil at once if it leads already,
// and ctx's error if ctx ends first. A stored state that is malformed does
// not stop the campaign; the first Tick reports it.
func (l *Leader) Campaign(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.closeCtx, cancel)
	defer stop()

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return fmt.Errorf("%w: the leader is closed", ErrBadOption)
	case l.leading:
		l.mu.Unlock()
		return nil
	case l.campaigning:
		l.mu.Unlock()
		return fmt.Errorf("%w: Campaign is already running", ErrBadOption)
	}
	l.campaigning = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.campaigning = false
		l.mu.Unlock()
	}()

	session, err := l.freshSession(ctx)
	if err != nil {
		return err
	}
	e := concurrency.NewElection(session, l.keys.election())
	if err := e.Campaign(ctx, l.name); err != nil {
		return fmt.Errorf("ninelives: campaigning for the rollout under %s: %w", l.keys.prefix, err)
	}
	// Campaign also returns when the keys before ours are gone; make sure
	// ours is still there (our lease may have expired while we waited).
	gctx, gcancel := context.WithTimeout(ctx, l.cfg.timeout)
	resp, err := l.client.Get(gctx, e.Key())
	gcancel()
	if err != nil {
		return fmt.Errorf("ninelives: checking the election key: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.Rev() {
		return fmt.Errorf("%w: the election key %s expired while campaigning", ErrNotLeader, e.Key())
	}

	l.lockRun()
	defer l.unlockRun()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return fmt.Errorf("%w: the leader is closed", ErrBadOption)
	}
	l.election, l.term, l.leading, l.loaded = e, e.Rev(), true, false
	l.electedAt = l.cfg.clock.Now()
	l.terms++
	l.mu.Unlock()
	l.cfg.logger.Info("ninelives: leading the fleet's rollout", "sentinel", l.name, "term", e.Rev(), "prefix", l.keys.prefix)
	lctx, lcancel := context.WithTimeout(ctx, l.cfg.timeout)
	defer lcancel()
	if err := l.loadLocked(lctx); err != nil {
		l.fail(err)
	}
	return nil
}

// freshSession returns the sentinel's session, granting a new lease if it
// has none or the last one expired. A lease that expired only on the
// client's side, etcd having been away longer than the TTL and renewed it
// when it restarted, is kept: so is the election key bound to it, and the
// sentinel leads again at once, as nobody else can have.
func (l *Leader) freshSession(ctx context.Context) (*concurrency.Session, error) {
	l.mu.Lock()
	s := l.session
	l.mu.Unlock()
	if s != nil {
		select {
		case <-s.Done():
		default:
			return s, nil
		}
	}
	gctx, cancel := context.WithTimeout(ctx, l.cfg.timeout)
	s, err := keepOrGrant(gctx, l.client, s, l.cfg, "sentinel")
	cancel()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.session = s
	l.mu.Unlock()
	return s, nil
}

// loadLocked reads the stored state and checkpoint and carries the
// rollout on from them.
func (l *Leader) loadLocked(ctx context.Context) error {
	st, doc, cpRev, err := l.readStored(ctx)
	if err != nil {
		return err
	}
	tick, republish, err := l.resumeLocked(st, doc)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.unsure = nil
	l.state, l.cpRev, l.tick, l.loaded, l.republish = st, cpRev, tick, true, republish
	l.hist = l.life.Record().Events
	if republish {
		l.state = &RolloutState{Seq: doc.StateSeq, Term: doc.Term}
	}
	l.mu.Unlock()
	cp := l.sen.Status()
	l.cfg.logger.Info("ninelives: rollout loaded", "sentinel", l.name, "phase", cp.Phase, "step", cp.Step,
		"stepName", cp.StepName, "weights", cp.Weights, "tick", tick)
	return nil
}

// readStored reads the stored rollout state and the checkpoint that goes
// with it (nil when there is none, or it is unusable or of another state).
func (l *Leader) readStored(ctx context.Context) (st *RolloutState, doc *checkpoint, cpRev int64, err error) {
	resp, err := l.client.Txn(ctx).Then(clientv3.OpGet(l.keys.state()), clientv3.OpGet(l.keys.checkpoint())).Commit()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ninelives: reading the stored rollout: %w", err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		if st, err = DecodeState(kvs[0].Value); err != nil {
			return nil, nil, 0, fmt.Errorf("%w (key %s): the sentinel holds until it is fixed or deleted", err, l.keys.state())
		}
		if st.Baseline != l.cfg.baseline || st.Candidate != l.cfg.candidate {
			return nil, nil, 0, fmt.Errorf("%w: the stored rollout state is for baseline %q and candidate %q, this sentinel's are %q and %q",
				ErrBadState, st.Baseline, st.Candidate, l.cfg.baseline, l.cfg.candidate)
		}
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return st, nil, 0, nil
	}
	cpRev = kvs[0].ModRevision
	doc, err = decodeCheckpoint(kvs[0].Value)
	var stSeq uint64
	if st != nil {
		stSeq = st.Seq
	}
	switch {
	case err != nil:
		l.cfg.logger.Warn("ninelives: the stored checkpoint is unusable; resuming from the rollout state with a fresh judge", "error", err)
	case st != nil && doc.StateSeq != stSeq:
		l.cfg.logger.Warn("ninelives: the stored checkpoint does not go with the rollout state; resuming from the state with a fresh judge",
			"checkpointSeq", doc.StateSeq, "stateSeq", stSeq)
		doc = nil
	}
	return st, doc, cpRev, nil
}

// resumeLocked restores the leader's sentinel and source from the stored
// checkpoint, else from the stored state with a fresh judge, else to a
// rollout not started yet. republish is set when the checkpoint's state
// was never stored.
func (l *Leader) resumeLocked(st *RolloutState, doc *checkpoint) (tick uint64, republish bool, err error) {
	if doc != nil {
		l.src.reset(doc.ReadRev, doc.Cursors)
		err := l.sen.Restore(doc.Sentinel)
		if err == nil {
			l.life.Restore(doc.Release)
			return doc.Tick, st == nil && doc.StateSeq > 0, nil
		}
		l.cfg.logger.Warn("ninelives: the stored checkpoint does not fit this sentinel; resuming from the rollout state with a fresh judge", "error", err)
	}
	l.src.reset(0, nil)
	l.life.Restore(release.Record{})
	if st != nil {
		l.cfg.logger.Warn("ninelives: no usable checkpoint: the judge starts afresh, so α is spent again from here",
			"seq", st.Seq, "step", st.Step)
		cp := sentinel.Checkpoint{Position: st.Position}
		if cp.Started.IsZero() {
			cp.Started = cp.StepStart
		}
		if err := l.sen.Restore(cp); err != nil {
			return 0, false, fmt.Errorf("%w: the stored rollout state does not fit this sentinel: %v", ErrBadState, err)
		}
		return 0, false, nil
	}
	now := l.cfg.clock.Now()
	return 0, false, l.sen.Restore(sentinel.Checkpoint{Position: sentinel.Position{Baseline: l.cfg.baseline, Candidate: l.cfg.candidate,
		Phase: sentinel.PhasePending, StepStart: now, Started: now, Weights: l.initial}})
}

// Tick runs one round as the leader: it reads the reports, lets the
// sentinel judge and decide, and commits the checkpoint, with the new
// rollout state if it changed, in one fenced transaction. It returns the
// sentinel's decision, and ErrNotLeader if this sentinel does not lead.
// When etcd cannot be reached the rollout holds and the error is returned;
// the next Tick starts again from what etcd holds.
func (l *Leader) Tick(ctx context.Context) (sentinel.Event, error) {
	l.lockRun()
	defer l.unlockRun()
	l.mu.Lock()
	leading, loaded, session := l.leading, l.loaded, l.session
	l.mu.Unlock()
	if !leading {
		return sentinel.Event{}, fmt.Errorf("%w: campaign first", ErrNotLeader)
	}
	select {
	case <-session.Done():
		l.stepDownLocked("its lease expired")
		return sentinel.Event{}, fmt.Errorf("%w: the sentinel's lease expired", ErrNotLeader)
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.timeout)
	defer cancel()
	stop := context.AfterFunc(l.closeCtx, cancel) // Close cuts the tick short
	defer stop()
	load := l.settleLocked
	if !loaded {
		load = l.loadLocked
	}
	if err := load(ctx); err != nil {
		l.fail(err)
		return sentinel.Event{}, err
	}
	return l.tickLocked(ctx)
}

// tickLocked applies the commands waiting in etcd, ticks the lifecycle on
// the reports made under the last state, and commits what the round
// changed: the next state if the rollout moved, the commands' answers, the
// new events for the history, and the checkpoint and status when anything
// was read or done.
func (l *Leader) tickLocked(ctx context.Context) (sentinel.Event, error) {
	l.mu.Lock()
	prev := l.state
	l.mu.Unlock()
	var seq uint64
	if prev != nil {
		seq = prev.Seq
	}
	l.src.onlyState(seq)
	before := l.src.Stats().Reports
	cmds, err := l.commandsLocked(ctx)
	if err != nil {
		l.fail(err)
		return sentinel.Event{}, err
	}
	ev := l.life.Tick(ctx)
	next := l.nextState(prev, ev.Position)
	l.mu.Lock()
	l.last = ev
	l.mu.Unlock()
	events := l.life.EventsSince(l.hist)
	if next == nil && ev.Action == sentinel.ActionSourceFail && len(cmds) == 0 {
		// Nothing was read, nothing changed: the rollout holds.
		err := fmt.Errorf("ninelives: %s", ev.Reason)
		l.fail(err)
		return ev, err
	}
	if next == nil && l.cfg.source == nil && l.src.Stats().Reports == before && len(cmds) == 0 && len(events) == 0 {
		return ev, nil // no report read, no new state: nothing to write
	}
	return ev, l.commitLocked(ctx, l.sen.Checkpoint(), next, cmds)
}

// settleLocked finds out whether a commit whose outcome was unknown landed:
// if it did, the leader goes on; if not, it reloads from what etcd holds,
// so the reports of that tick are read and judged again.
func (l *Leader) settleLocked(ctx context.Context) error {
	l.mu.Lock()
	u, term := l.unsure, l.term
	l.mu.Unlock()
	if u == nil {
		return nil
	}
	resp, err := l.client.Txn(ctx).Then(clientv3.OpGet(l.keys.state()), clientv3.OpGet(l.keys.checkpoint())).Commit()
	if err != nil {
		return fmt.Errorf("ninelives: reading the stored rollout: %w", err)
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		doc, derr := decodeCheckpoint(kvs[0].Value)
		if derr == nil && doc.Term == term && doc.Tick == u.tick {
			l.mu.Lock()
			l.cpRev, l.tick, l.unsure = kvs[0].ModRevision, u.tick, nil
			if u.state != nil {
				l.state, l.republish = u.state, false
				l.publishes++
			}
			l.hist = u.hist
			l.writes++
			l.mu.Unlock()
			l.cfg.logger.Info("ninelives: the last commit landed after all", "tick", u.tick)
			return nil
		}
	}
	l.cfg.logger.Info("ninelives: the last commit did not land; reloading the rollout from etcd", "tick", u.tick)
	return l.loadLocked(ctx)
}

// nextState returns the state to publish where a tick left the rollout,
// or nil when its phase, step and weights are those of the last state.
func (l *Leader) nextState(prev *RolloutState, pos sentinel.Position) *RolloutState {
	l.mu.Lock()
	republish := l.republish
	l.mu.Unlock()
	if prev != nil && !republish && prev.Phase == pos.Phase && prev.Step == pos.Step && prev.StepName == pos.StepName && sameSet(prev.Weights, pos.Weights) {
		return nil
	}
	if prev == nil && pos.Phase == sentinel.PhasePending && sameSet(pos.Weights, l.initial) {
		return nil
	}
	var seq uint64
	if prev != nil {
		seq = prev.Seq
	}
	return &RolloutState{Format: StateFormat, Term: l.term, Seq: seq + 1, Leader: l.name, Position: pos, Time: l.cfg.clock.Now()}
}

// compactLocked compacts etcd's history when a period has passed since
// the last compaction point: to the revision seen then, so that a period
// of history always remains for watches that lag. rev is the revision now.
func (l *Leader) compactLocked(ctx context.Context, rev int64) {
	every := l.cfg.compact
	if every <= 0 {
		return
	}
	now := l.cfg.clock.Now()
	if l.compactRev > 0 && now.Sub(l.compactAt) < every {
		return
	}
	if to := l.compactRev; to > 0 {
		_, err := l.client.Compact(ctx, to)
		switch {
		case err == nil:
			l.mu.Lock()
			l.compactions++
			l.mu.Unlock()
		case errors.Is(err, rpctypes.ErrCompacted):
			// compacted past it already (by etcd or another program)
		default:
			l.cfg.logger.Warn("ninelives: compacting etcd's history failed; trying again next period", "revision", to, "error", err)
		}
	}
	l.compactRev, l.compactAt = rev, now
}

func (l *Leader) fail(err error) {
	l.mu.Lock()
	l.lastErr = err.Error()
	l.mu.Unlock()
	l.cfg.logger.Warn("ninelives: the fleet's sentinel holds", "sentinel", l.name, "error", err)
}

// stepDownLocked stops leading: the next term loads the rollout afresh;
// the session is left to expire or be closed.
func (l *Leader) stepDownLocked(why string) {
	l.mu.Lock()
	was := l.leading
	l.leading, l.loaded, l.election, l.unsure = false, false, nil, nil
	l.mu.Unlock()
	l.src.close()
	if was {
		l.cfg.logger.Warn("ninelives: no longer leading the fleet's rollout", "sentinel", l.name, "why", why)
	}
}

// IsLeader reports whether this sentinel leads.
func (l *Leader) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading
}

// Run campaigns and, while leading, ticks every interval, until ctx ends,
// the leader is closed or the rollout reaches a final phase (it returns nil
// then). When it loses the leadership it campaigns again.
func (l *Leader) Run(ctx context.Context) error {
	for {
		if err := l.Campaign(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if l.closeCtx.Err() != nil {
				return fmt.Errorf("%w: the leader is closed", ErrBadOption)
			}
			l.fail(err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.cfg.after(l.cfg.interval):
			}
			continue
		}
		if done, err := l.lead(ctx); done || err != nil {
			return err
		}
	}
}

// lead ticks while leading; done is set when the rollout is over.
func (l *Leader) lead(ctx context.Context) (done bool, err error) {
	c, stop := l.cfg.clock.Ticker(l.cfg.interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c:
			ev, err := l.Tick(ctx)
			switch {
			case errors.Is(err, ErrNotLeader):
				return false, nil
			case err == nil && ev.Phase.Final() && !l.life.Continuous():
				return true, nil
			}
		}
	}
}

// Resign gives the leadership up, so another sentinel takes over at once.
func (l *Leader) Resign(ctx context.Context) error {
	l.lockRun()
	defer l.unlockRun()
	return l.resignLocked(ctx)
}

func (l *Leader) resignLocked(ctx context.Context) error {
	l.mu.Lock()
	e := l.election
	l.mu.Unlock()
	l.stepDownLocked("it resigned")
	if e == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.timeout)
	defer cancel()
	return e.Resign(ctx)
}

// lockRun takes the run lock; unlockRun gives it back.
func (l *Leader) lockRun()   { l.run <- struct{}{} }
func (l *Leader) unlockRun() { <-l.run }

// Status returns a snapshot of the sentinel.
func (l *Leader) Status() LeaderStatus {
	l.mu.Lock()
	st := LeaderStatus{Name: l.name, Leading: l.leading, Term: l.term, ElectedAt: l.electedAt, Terms: l.terms,
		Tick: l.tick, Writes: l.writes, Publishes: l.publishes, Compactions: l.compactions, WriteBytes: l.writeBytes, Error: l.lastErr}
	if l.state != nil {
		s := *l.state
		st.State = &s
	}
	if l.last.Seq > 0 {
		e := l.last
		st.LastDecision = &e
	}
	l.mu.Unlock()
	st.Source = l.src.Stats()
	if st.Leading {
		s, r := l.life.Snapshot() // one moment: a tick between two reads would tear them
		st.Sentinel = &s
		if l.life.Continuous() {
			st.Release = &r
		}
	}
	return st
}

// Close resigns if leading, stops campaigning, revokes the sentinel's lease
// and shuts the sentinel down, and with it the strategy if it holds
// resources. It cuts a tick under way short and takes at most twice
// WithTimeout for its part in etcd (the tick, then the resignation and the
// lease), then the sentinel's close timeout (sentinel.WithCloseTimeout
// through WithSentinelOptions, default 5 s) to deliver the alerts still
// queued; those it could not deliver come back in a
// *sentinel.ShutdownError. It lets go of the leader before the sentinel
// shuts down, so a slow alert receiver delays no Tick, Campaign or Resign.
func (l *Leader) Close() error {
	l.closeCancel()
	err := l.leave()
	if serr := l.sen.Close(); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// leave ends the leader's part in etcd: it waits, within WithTimeout, for
// a tick under way, then resigns and revokes the lease. A tick still
// running by then (stuck in a strategy that ignores its context) is left
// to end on its own: its commit, fenced by the election key, cannot land.
func (l *Leader) leave() error {
	var stuck error
	if l.lockRunWithin(l.cfg.timeout) {
		defer l.unlockRun()
	} else {
		stuck = fmt.Errorf("ninelives: closing the fleet's sentinel: a tick still running after %v is left to end on its own", l.cfg.timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.timeout)
	defer cancel()
	err := l.resignLocked(ctx)
	if l.client.Ctx().Err() != nil {
		err = nil // the client is closed: the lease expires on its own
	}
	l.mu.Lock()
	s := l.session
	l.session, l.closed = nil, true
	l.mu.Unlock()
	if s != nil {
		s.Orphan()
		if _, rerr := l.client.Revoke(ctx, s.Lease()); rerr != nil && err == nil && l.client.Ctx().Err() == nil {
			err = fmt.Errorf("ninelives: revoking the sentinel's lease: %w", rerr)
		}
	}
	l.src.close()
	return errors.Join(stuck, err)
}

// lockRunWithin takes the run lock unless it stays taken for d.
func (l *Leader) lockRunWithin(d time.Duration) bool {
	select {
	case l.run <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l.run <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}
