package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// Controller reads a fleet's rollout from etcd and controls it through
// commands the leader applies: the ninelives command line uses one, and a
// status page of the whole fleet serves one (it has the methods of
// statuspage.Rollout). Any process with an etcd client may make one.
type Controller struct {
	client *clientv3.Client
	keys   keys
	cfg    options
	local  *Leader // when made by Leader.Controller: its live status while it leads
}

// NewController makes a controller of the rollout under prefix. Its
// options: WithTimeout (each etcd request), WithCommandWait (how long a
// control waits to be applied), WithClock, WithLogger.
func NewController(client *clientv3.Client, prefix string, opts ...Option) (*Controller, error) {
	k, cfg, err := setup(client, prefix, opts)
	if err != nil {
		return nil, err
	}
	return &Controller{client: client, keys: k, cfg: cfg}, nil
}

// Controller returns a controller of the leader's rollout whose Status is
// the leader's own, with its tick history, while it leads.
func (l *Leader) Controller() *Controller {
	return &Controller{client: l.client, keys: l.keys, cfg: l.cfg, local: l}
}

// Issue writes a command for the leader to apply: its Format, ID (if
// empty) and Issued time are filled in. It returns the command as written,
// or an error naming a bad field; an ID in use is refused.
func (c *Controller) Issue(ctx context.Context, cmd Command) (Command, error) {
	cmd.Format, cmd.Issued, cmd.Result = StateFormat, c.cfg.clock.Now(), nil
	if cmd.ID == "" {
		cmd.ID = newCommandID()
	}
	if err := cmd.check(); err != nil {
		return cmd, err
	}
	val, err := cmd.encode()
	if err != nil {
		return cmd, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	key := c.keys.command(cmd.ID)
	resp, err := c.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, val)).Commit()
	switch {
	case err != nil:
		return cmd, fmt.Errorf("ninelives: writing command %s: %w", cmd.ID, err)
	case !resp.Succeeded:
		return cmd, config.Errorf(ErrBadCommand, "ID", cmd.ID, "a command with this id exists already")
	}
	return cmd, nil
}

// Wait waits until the leader has answered the command id, and returns
// it. It returns ctx's error if ctx ends first, and an error wrapping
// ErrNotApplied if the command is withdrawn.
func (c *Controller) Wait(ctx context.Context, id string) (Command, error) {
	key := c.keys.command(id)
	cmd, rev, err := c.get(ctx, key)
	if err != nil || cmd.Result != nil {
		return cmd, err
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// Watch from just after the read, so that no answer slips between.
	for resp := range c.client.Watch(wctx, key, clientv3.WithRev(rev+1)) {
		if resp.Err() != nil {
			return cmd, fmt.Errorf("ninelives: watching %s: %w", key, resp.Err())
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return cmd, fmt.Errorf("%w: %s was withdrawn", ErrNotApplied, key)
			}
			if err := json.Unmarshal(ev.Kv.Value, &cmd); err != nil {
				return cmd, fmt.Errorf("%w: %s: %v", ErrBadState, key, err)
			}
			if cmd.Result != nil {
				return cmd, nil
			}
		}
	}
	if ctx.Err() != nil {
		return cmd, ctx.Err()
	}
	return cmd, fmt.Errorf("ninelives: the watch on %s ended", key)
}

// get reads one command and the revision it was read at.
func (c *Controller) get(ctx context.Context, key string) (Command, int64, error) {
	gctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.client.Get(gctx, key)
	if err != nil {
		return Command{}, 0, fmt.Errorf("ninelives: reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return Command{}, 0, fmt.Errorf("%w: %s is gone (withdrawn)", ErrNotApplied, key)
	}
	var cmd Command
	if err := json.Unmarshal(resp.Kvs[0].Value, &cmd); err != nil {
		return cmd, 0, fmt.Errorf("%w: %s: %v", ErrBadState, key, err)
	}
	return cmd, resp.Header.Revision, nil
}

// Withdraw deletes the command id if no leader has answered it yet; it
// reports whether it did. A command withdrawn is never applied.
func (c *Controller) Withdraw(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	key := c.keys.command(id)
	resp, err := c.client.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("ninelives: reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	kv := resp.Kvs[0]
	if kv.ModRevision != kv.CreateRevision {
		return false, nil // answered
	}
	tr, err := c.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return false, fmt.Errorf("ninelives: withdrawing %s: %w", key, err)
	}
	return tr.Succeeded, nil
}

// Do issues a command and waits, at most WithCommandWait, for the leader
// to apply it. A command the phase does not allow returns an error
// wrapping sentinel.ErrTransition; one no leader applied in time is
// withdrawn and returns one wrapping ErrNotApplied.
func (c *Controller) Do(ctx context.Context, cmd Command) (Command, error) {
	cmd, err := c.Issue(ctx, cmd)
	if err != nil {
		return cmd, err
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.commandWait)
	defer cancel()
	got, err := c.Wait(wctx, cmd.ID)
	if err == nil {
		return got, got.Err()
	}
	if wctx.Err() == nil {
		return cmd, err
	}
	gone, werr := c.Withdraw(context.WithoutCancel(ctx), cmd.ID)
	if werr == nil && !gone {
		// Answered in the meantime.
		if got, err := c.Wait(context.WithoutCancel(ctx), cmd.ID); err == nil {
			return got, got.Err()
		}
	}
	return cmd, fmt.Errorf("%w: no leader answered %s %s within %v; it was withdrawn (is a sentinel leading the rollout under %s?)",
		ErrNotApplied, cmd.Action, cmd.ID, c.cfg.commandWait, c.keys.prefix)
}

// Read returns the status the leader stored with its last commit.
func (c *Controller) Read(ctx context.Context) (*FleetStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.client.Get(ctx, c.keys.status())
	if err != nil {
		return nil, fmt.Errorf("ninelives: reading the fleet's status: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: no status under %s: no sentinel has led the rollout yet", ErrBadState, c.keys.status())
	}
	var fs FleetStatus
	if err := json.Unmarshal(resp.Kvs[0].Value, &fs); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadState, c.keys.status(), err)
	}
	return &fs, nil
}

// History returns the rollout's last n events (0: all kept), oldest
// first: the decisions of every leader and of the release lifecycle, and
// the commands applied.
func (c *Controller) History(ctx context.Context, n int) ([]sentinel.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if n > 0 {
		opts = append(opts, clientv3.WithLimit(int64(n)))
	}
	resp, err := c.client.Get(ctx, c.keys.history(), opts...)
	if err != nil {
		return nil, fmt.Errorf("ninelives: reading the history: %w", err)
	}
	out := make([]sentinel.Event, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		if err := json.Unmarshal(kv.Value, &out[len(out)-1-i]); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadState, kv.Key, err)
		}
	}
	return out, nil
}

// Commands returns the commands kept under the prefix, pending and
// answered, oldest first.
func (c *Controller) Commands(ctx context.Context) ([]Command, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.client.Get(ctx, c.keys.commands(), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("ninelives: reading the commands: %w", err)
	}
	out := make([]Command, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var cmd Command
		if json.Unmarshal(kv.Value, &cmd) == nil {
			out = append(out, cmd)
		}
	}
	return out, nil
}

// Status implements statuspage.Rollout: the leader's own status while the
// controller's leader (Leader.Controller) leads, else the stored status
// with the history's events. A failure to read shows as the status's
// source error.
func (c *Controller) Status() sentinel.Status {
	if l := c.local; l != nil && l.IsLeader() {
		return l.life.Status()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.cfg.timeout)
	defer cancel()
	fs, err := c.Read(ctx)
	if err != nil {
		return sentinel.Status{SourceError: err.Error(), Now: time.Now()}
	}
	st := fs.Sentinel
	if st.Events, err = c.History(ctx, 200); err != nil {
		st.SourceError = err.Error()
	}
	return st
}

// Continuous reports whether the fleet's leader runs release after
// release (statuspage.Releaser).
func (c *Controller) Continuous() bool {
	if l := c.local; l != nil {
		return l.life.Continuous()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
	defer cancel()
	fs, err := c.Read(ctx)
	return err == nil && fs.Release != nil
}

// Release returns where the fleet's release lifecycle stands, as the
// leader stored it (statuspage.Releaser).
func (c *Controller) Release() release.Status {
	if l := c.local; l != nil && l.IsLeader() {
		return l.life.Release()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
	defer cancel()
	fs, err := c.Read(ctx)
	switch {
	case err != nil:
		return release.Status{Error: err.Error()}
	case fs.Release == nil:
		return release.Status{}
	}
	return *fs.Release
}

// control runs one control as a command.
func (c *Controller) control(ctx context.Context, action sentinel.Action, who, reason string, weight *int) error {
	_, err := c.Do(ctx, Command{Action: action, Who: who, Reason: reason, Weight: weight})
	return err
}

// Pause implements statuspage.Rollout through a command.
func (c *Controller) Pause(ctx context.Context, who, reason string) error {
	return c.control(ctx, sentinel.ActionPause, who, reason, nil)
}

// Resume implements statuspage.Rollout through a command.
func (c *Controller) Resume(ctx context.Context, who, reason string) error {
	return c.control(ctx, sentinel.ActionResume, who, reason, nil)
}

// Promote implements statuspage.Rollout through a command.
func (c *Controller) Promote(ctx context.Context, who, reason string) error {
	return c.control(ctx, sentinel.ActionPromote, who, reason, nil)
}

// Abort implements statuspage.Rollout through a command.
func (c *Controller) Abort(ctx context.Context, who, reason string) error {
	return c.control(ctx, sentinel.ActionAbort, who, reason, nil)
}

// SetWeight implements statuspage.Rollout through a command.
func (c *Controller) SetWeight(ctx context.Context, who, reason string, candidateWeight int) error {
	return c.control(ctx, sentinel.ActionSetWeights, who, reason, &candidateWeight)
}
