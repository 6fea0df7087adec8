package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/sentinel"
)

// Bounds on one commit, which etcd takes as one transaction (etcd refuses
// a transaction of more than 128 operations by default).
const (
	maxCommandsPerTick = 16  // commands applied in one round; the rest wait
	maxHistoryPerTick  = 64  // events written to the history in one commit
	keepHistory        = 100 // events the history keeps, as a lifecycle's log (release.maxLog)
	keepCommands       = 64  // answered commands kept
)

// pending is a command read from etcd this round: its key's revision, and
// how the leader answered it.
type pending struct {
	cmd    Command
	modRev int64
}

// commandsLocked reads the commands waiting in etcd, oldest first, and
// applies each to the lifecycle. It also returns, as answered already, the
// oldest answered commands past the retention, for the commit to drop.
func (l *Leader) commandsLocked(ctx context.Context) ([]pending, error) {
	resp, err := l.client.Get(ctx, l.keys.commands(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("ninelives: reading the commands: %w", err)
	}
	var out []pending
	answered := 0
	for _, kv := range resp.Kvs {
		c, derr := decodeCommand(kv.Value)
		if c.Result != nil {
			answered++
			continue
		}
		if len(out) == maxCommandsPerTick {
			break
		}
		c.ID = string(kv.Key[len(l.keys.commands()):])
		c.Result = l.apply(ctx, c, derr)
		out = append(out, pending{cmd: c, modRev: kv.ModRevision})
	}
	l.dropOld = nil
	for _, kv := range resp.Kvs {
		if answered <= keepCommands || len(l.dropOld) == 8 {
			break
		}
		if c, _ := decodeCommand(kv.Value); c.Result != nil {
			l.dropOld = append(l.dropOld, string(kv.Key))
			answered--
		}
	}
	return out, nil
}

// apply carries a command out on the lifecycle and answers it.
func (l *Leader) apply(ctx context.Context, c Command, derr error) *CommandResult {
	l.mu.Lock()
	res := &CommandResult{Leader: l.name, Term: l.term, Time: l.cfg.clock.Now()}
	l.mu.Unlock()
	err := derr
	if err == nil {
		switch c.Action {
		case sentinel.ActionPause:
			err = l.life.Pause(ctx, c.Who, c.Reason)
		case sentinel.ActionResume:
			err = l.life.Resume(ctx, c.Who, c.Reason)
		case sentinel.ActionPromote:
			err = l.life.Promote(ctx, c.Who, c.Reason)
		case sentinel.ActionAbort:
			err = l.life.Abort(ctx, c.Who, c.Reason)
		case sentinel.ActionSetWeights:
			err = l.life.SetWeight(ctx, c.Who, c.Reason, *c.Weight)
		}
	}
	res.Applied = err == nil
	if err != nil {
		res.Error, res.Transition = err.Error(), errors.Is(err, sentinel.ErrTransition)
		l.cfg.logger.Info("ninelives: command refused", "id", c.ID, "action", c.Action, "who", c.Who, "error", err)
	} else {
		l.cfg.logger.Info("ninelives: command applied", "id", c.ID, "action", c.Action, "who", c.Who)
	}
	return res
}

// commitLocked writes, in one transaction fenced by this sentinel's
// election key, the checkpoint's revision and each answered command's
// revision: the checkpoint, the next state (if any), the commands'
// answers, the new events of the history and the status.
func (l *Leader) commitLocked(ctx context.Context, cp sentinel.Checkpoint, next *RolloutState, cmds []pending) error {
	if l.beforeCommit != nil {
		l.beforeCommit()
	}
	doc, key, term, cpRev := l.checkpointDoc(cp, next)
	if key == "" {
		return fmt.Errorf("%w: it stepped down during the tick (closed)", ErrNotLeader)
	}
	ops, conds, err := l.commitOps(doc, next, cmds)
	if err != nil {
		return err
	}
	conds = append(conds, clientv3.Compare(clientv3.CreateRevision(key), "=", term),
		clientv3.Compare(clientv3.ModRevision(l.keys.checkpoint()), "=", cpRev))
	resp, err := l.client.Txn(ctx).If(conds...).Then(ops...).Else(clientv3.OpGet(key)).Commit()
	l.mu.Lock()
	l.writeBytes += opsBytes(ops)
	l.mu.Unlock()
	if err != nil {
		// The write may or may not have happened: start the next tick from
		// what etcd holds.
		err = fmt.Errorf("ninelives: committing tick %d: %w", doc.Tick, err)
		l.fail(err)
		l.mu.Lock()
		l.unsure = &unsureCommit{tick: doc.Tick, state: next, hist: doc.Release.Events}
		l.mu.Unlock()
		return err
	}
	if !resp.Succeeded {
		return l.refusedLocked(resp, term)
	}
	l.compactLocked(ctx, resp.Header.Revision)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cpRev = resp.Header.Revision
	l.tick = doc.Tick
	l.hist = doc.Release.Events
	l.writes++
	l.lastErr = ""
	if next != nil {
		l.state = next
		l.republish = false
		l.publishes++
		l.cfg.logger.Info("ninelives: rollout state published", "seq", next.Seq, "term", next.Term, "phase", next.Phase,
			"step", next.Step, "action", next.ChangeAction)
	}
	return nil
}

// checkpointDoc is the checkpoint of the commit to come, with the fence's
// key, term and revision; the key is empty when the leader stepped down
// while the tick ran (Close does not wait for a stuck tick).
func (l *Leader) checkpointDoc(cp sentinel.Checkpoint, next *RolloutState) (doc checkpoint, key string, term, cpRev int64) {
	readRev, cursors := l.src.position()
	l.mu.Lock()
	defer l.mu.Unlock()
	doc = checkpoint{Format: StateFormat, Term: l.term, Leader: l.name, Tick: l.tick + 1, ReadRev: readRev, Cursors: cursors,
		Sentinel: cp, Release: l.life.Record()}
	if l.state != nil {
		doc.StateSeq = l.state.Seq
	}
	if next != nil {
		doc.StateSeq = next.Seq
	}
	if l.election != nil {
		key = l.election.Key()
	}
	return doc, key, l.term, l.cpRev
}

// commitOps are the writes of a commit, and the conditions that the
// commands answered are still as read (a withdrawn command fails the
// commit, and the next round reloads).
func (l *Leader) commitOps(doc checkpoint, next *RolloutState, cmds []pending) ([]clientv3.Op, []clientv3.Cmp, error) {
	ops := []clientv3.Op{}
	for _, v := range []struct {
		key string
		val any
	}{{l.keys.checkpoint(), doc}, {l.keys.status(), l.statusDoc(doc)}} {
		b, err := json.Marshal(v.val)
		if err != nil {
			return nil, nil, fmt.Errorf("ninelives: encoding %s: %w", v.key, err)
		}
		ops = append(ops, clientv3.OpPut(v.key, string(b)))
	}
	if next != nil {
		b, err := json.Marshal(next)
		if err != nil {
			return nil, nil, fmt.Errorf("ninelives: encoding the rollout state: %w", err)
		}
		ops = append(ops, clientv3.OpPut(l.keys.state(), string(b)))
	}
	var conds []clientv3.Cmp
	for _, p := range cmds {
		p.cmd.Result.Tick = doc.Tick
		val, err := p.cmd.encode()
		if err != nil {
			return nil, nil, err
		}
		key := l.keys.command(p.cmd.ID)
		ops = append(ops, clientv3.OpPut(key, val))
		conds = append(conds, clientv3.Compare(clientv3.ModRevision(key), "=", p.modRev))
	}
	for _, key := range l.dropOld {
		ops = append(ops, clientv3.OpDelete(key))
	}
	hops, err := l.historyOps(doc.Release.Events)
	return append(ops, hops...), conds, err
}

// historyOps write the lifecycle's events since the last commit, up to
// upTo, and drop those past the retention.
func (l *Leader) historyOps(upTo uint64) ([]clientv3.Op, error) {
	var ops []clientv3.Op
	evs := l.life.EventsSince(l.hist)
	if len(evs) > maxHistoryPerTick {
		evs = evs[len(evs)-maxHistoryPerTick:]
	}
	for _, e := range evs {
		if e.Seq > upTo {
			break
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("ninelives: encoding event %d: %w", e.Seq, err)
		}
		ops = append(ops, clientv3.OpPut(l.keys.historyAt(e.Seq), string(b)))
	}
	if len(evs) > 0 && upTo > keepHistory {
		ops = append(ops, clientv3.OpDelete(l.keys.historyAt(0), clientv3.WithRange(l.keys.historyAt(upTo-keepHistory+1))))
	}
	return ops, nil
}

// refusedLocked handles a commit whose conditions failed: another
// sentinel leads, or the checkpoint or a command changed under this one.
func (l *Leader) refusedLocked(resp *clientv3.TxnResponse, term int64) error {
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 || kvs[0].CreateRevision != term {
		l.stepDownLocked("another sentinel took over")
		return fmt.Errorf("%w: another sentinel took over the rollout", ErrNotLeader)
	}
	err := fmt.Errorf("%w: the checkpoint or a command was changed by another writer (a command withdrawn?); reloading", ErrBadState)
	l.fail(err)
	l.mu.Lock()
	l.loaded = false
	l.mu.Unlock()
	return err
}

// opsBytes is the size of the keys and values ops write.
func opsBytes(ops []clientv3.Op) int64 {
	var n int64
	for _, op := range ops {
		n += int64(len(op.KeyBytes()) + len(op.ValueBytes()))
	}
	return n
}
