package fleet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
)

// Follower makes one replica's Split follow the rollout state the leader
// publishes: it reads the state once, then watches its key (one watch per
// replica) and applies each new state. A state that is malformed, names
// versions the Split lacks, or comes out of order (a Seq not above the
// last applied one, a Term below it) is rejected with an error in the log
// and the status, and the weights stay as they were. While etcd is out of
// reach the Split keeps its last weights; the watch resumes where it
// stopped when etcd returns.
type Follower struct {
	client *clientv3.Client
	keys   keys
	split  *balancer.Split
	cfg    options

	// applyMu serialises applying states; it is taken before mu, and
	// before a Reporter's lock (the reporter cuts its figures under it).
	applyMu sync.Mutex
	cut     func(prev uint64) // the reporter's hook, before a new state applies

	mu          sync.Mutex // guards everything below
	applied     *RolloutState
	appliedRev  int64 // the etcd revision of the applied state
	seenRev     int64 // the newest revision of the state key seen
	appliedAt   time.Time
	events      int64
	applies     int64
	rejections  int64
	rejected    string
	reachable   bool
	downSince   time.Time
	downErr     string
	watching    bool
	cancel      context.CancelFunc
	done        chan struct{}
	startCalled bool
}

// FollowerStatus is a snapshot of a Follower.
type FollowerStatus struct {
	// Applied is the state the Split follows (nil: none yet); Weights are
	// the Split's.
	Applied   *RolloutState     `json:"applied,omitempty"`
	AppliedAt time.Time         `json:"appliedAt"`
	Weights   []balancer.Weight `json:"weights"`
	// Reachable is false while etcd is out of reach; the Split then keeps
	// its last weights. Since and Error say since when and why.
	Reachable bool      `json:"reachable"`
	Since     time.Time `json:"since,omitzero"`
	Error     string    `json:"error,omitempty"`
	// Rejected is the last state rejected, with the reason.
	Rejected string `json:"rejected,omitempty"`
	// Events counts the watch events received, Applies the states applied,
	// Rejections the states rejected.
	Events     int64 `json:"events"`
	Applies    int64 `json:"applies"`
	Rejections int64 `json:"rejections"`
	// Watches is the number of etcd watches open: 1 while following.
	Watches int `json:"watches"`
}

// NewFollower makes the follower of the rollout under prefix for split.
// Nothing moves before Start.
func NewFollower(client *clientv3.Client, prefix string, split *balancer.Split, opts ...Option) (*Follower, error) {
	if split == nil && client != nil {
		return nil, config.Errorf(ErrBadOption, "split", nil, "the split is nil")
	}
	k, cfg, err := setup(client, prefix, opts)
	if err != nil {
		return nil, err
	}
	return &Follower{client: client, keys: k, split: split, cfg: cfg, reachable: true}, nil
}

// Start reads the state, applies it, and starts watching for the next
// ones until Close. When etcd cannot be reached, the Split keeps its
// weights, Start returns the error, and the watch catches up later.
func (f *Follower) Start(ctx context.Context) error {
	f.mu.Lock()
	if f.startCalled {
		f.mu.Unlock()
		return fmt.Errorf("%w: Start called twice", ErrBadOption)
	}
	f.startCalled = true
	wctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	f.mu.Unlock()

	err := f.sync(ctx)
	go f.watch(wctx)
	return err
}

// sync reads the state now and applies it if it is newer than the applied
// one: the catch-up after etcd was out of reach.
func (f *Follower) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.timeout)
	defer cancel()
	resp, err := f.client.Get(ctx, f.keys.state())
	if err != nil {
		f.setReachable(err)
		return fmt.Errorf("ninelives: reading the rollout state: %w", err)
	}
	f.setReachable(nil)
	if len(resp.Kvs) == 0 {
		f.bumpSeen(resp.Header.Revision)
		return nil
	}
	kv := resp.Kvs[0]
	f.apply(kv.Value, kv.ModRevision, "read")
	f.bumpSeen(resp.Header.Revision)
	return nil
}

func (f *Follower) bumpSeen(rev int64) {
	f.mu.Lock()
	f.seenRev = max(f.seenRev, rev)
	f.mu.Unlock()
}

// watch follows the state key until ctx ends. When a watch ends (a
// compacted revision, a member without a leader), it reads the state again
// and watches from there, after a pause that grows to the interval.
func (f *Follower) watch(ctx context.Context) {
	defer close(f.done)
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		f.mu.Lock()
		from := f.seenRev + 1
		f.watching = true
		f.mu.Unlock()
		wch := f.client.Watch(clientv3.WithRequireLeader(ctx), f.keys.state(), clientv3.WithRev(from))
		var werr error
		for resp := range wch {
			if werr = resp.Err(); werr != nil {
				break
			}
			pause = 50 * time.Millisecond
			for _, ev := range resp.Events {
				switch ev.Type {
				case clientv3.EventTypePut:
					f.apply(ev.Kv.Value, ev.Kv.ModRevision, "watch")
				case clientv3.EventTypeDelete:
					f.cfg.logger.Warn("ninelives: the rollout state was deleted from etcd; keeping the last weights",
						"key", f.keys.state(), "weights", f.split.String())
				}
				f.mu.Lock()
				f.events++ // counted once handled, so a count seen means the event was applied or rejected
				f.seenRev = max(f.seenRev, ev.Kv.ModRevision)
				f.mu.Unlock()
			}
		}
		f.mu.Lock()
		f.watching = false
		f.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if f.client.Ctx().Err() != nil {
			return // the client is closed
		}
		if werr != nil {
			f.cfg.logger.Info("ninelives: rollout state watch ended; reading the state again", "error", werr)
		}
		_ = f.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-f.cfg.after(pause):
		}
		pause = min(2*pause, f.cfg.interval)
	}
}

// apply checks a state read from etcd and, if it is good and newer, moves
// the Split to its weights.
func (f *Follower) apply(value []byte, rev int64, via string) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	st, err := DecodeState(value)
	f.mu.Lock()
	prev, prevRev := f.applied, f.appliedRev
	f.mu.Unlock()
	if err == nil && prev != nil {
		switch {
		case rev == prevRev:
			return // the same write, seen by the read and the watch
		case st.Seq <= prev.Seq:
			err = fmt.Errorf("%w: rollout state seq %d (term %d) is not after the applied seq %d (term %d): out of order",
				ErrBadState, st.Seq, st.Term, prev.Seq, prev.Term)
		case st.Term < prev.Term:
			err = fmt.Errorf("%w: rollout state seq %d has term %d, below the applied term %d: written by a deposed leader",
				ErrBadState, st.Seq, st.Term, prev.Term)
		}
	}
	if err == nil {
		for _, v := range []string{st.Baseline, st.Candidate} {
			if !f.split.Has(v) {
				err = fmt.Errorf("%w: rollout state names version %q, which the split does not have (it has %v)", ErrBadState, v, f.split.Versions())
			}
		}
	}
	if err == nil {
		var prevSeq uint64
		if prev != nil {
			prevSeq = prev.Seq
		}
		if f.cut != nil {
			f.cut(prevSeq)
		}
		if !sameSet(st.Weights, f.split.Weights()) {
			if serr := f.split.SetWeights(st.Weights...); serr != nil {
				err = fmt.Errorf("%w: rollout state seq %d: %v", ErrBadState, st.Seq, serr)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.rejections++
		f.rejected = err.Error()
		weights := f.split.String()
		f.cfg.logger.Error("ninelives: rollout state rejected; keeping the last weights", "error", err, "via", via, "weights", weights)
		return
	}
	f.applied, f.appliedRev, f.appliedAt = st, rev, f.cfg.clock.Now()
	f.applies++
	f.cfg.logger.Info("ninelives: rollout state applied", "seq", st.Seq, "term", st.Term, "phase", st.Phase,
		"step", st.Step, "weights", f.split.String(), "via", via)
}

// sameSet reports whether two weight lists give every version the same
// weight, in any order.
func sameSet(a, b []balancer.Weight) bool {
	if len(a) != len(b) {
		return false
	}
	for _, w := range a {
		if !slices.Contains(b, w) {
			return false
		}
	}
	return true
}

// withApplied runs fn with the applied state's Seq, holding off any new
// state until it returns.
func (f *Follower) withApplied(fn func(seq uint64)) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	f.mu.Lock()
	var seq uint64
	if f.applied != nil {
		seq = f.applied.Seq
	}
	f.mu.Unlock()
	fn(seq)
}

// setReachable records whether etcd answered: nil for an answer, the
// error of a request that got none. The Reporter calls it after each write.
// The change is logged once each way.
func (f *Follower) setReachable(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil && !f.reachable:
		f.reachable = true
		f.cfg.logger.Info("ninelives: etcd is reachable again; following the rollout state",
			"down", f.cfg.clock.Now().Sub(f.downSince), "weights", f.split.String())
		f.downErr = ""
	case err != nil && f.reachable:
		f.reachable = false
		f.downSince = f.cfg.clock.Now()
		f.downErr = err.Error()
		var seq uint64
		if f.applied != nil {
			seq = f.applied.Seq
		}
		f.cfg.logger.Warn("ninelives: etcd is out of reach; keeping the last weights", "error", err,
			"seq", seq, "weights", f.split.String())
	case err != nil:
		f.downErr = err.Error()
	}
}

// Applied returns the state the Split follows, if any.
func (f *Follower) Applied() (RolloutState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		return RolloutState{}, false
	}
	return *f.applied, true
}

// Status returns a snapshot of the follower.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FollowerStatus{
		AppliedAt:  f.appliedAt,
		Weights:    f.split.Weights(),
		Reachable:  f.reachable,
		Rejected:   f.rejected,
		Events:     f.events,
		Applies:    f.applies,
		Rejections: f.rejections,
	}
	if f.applied != nil {
		a := *f.applied
		st.Applied = &a
	}
	if !f.reachable {
		st.Since, st.Error = f.downSince, f.downErr
	}
	if f.watching {
		st.Watches = 1
	}
	return st
}

// Close stops the watch. The Split keeps its weights.
func (f *Follower) Close() error {
	f.mu.Lock()
	cancel, done := f.cancel, f.done
	f.cancel = nil
	f.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}
