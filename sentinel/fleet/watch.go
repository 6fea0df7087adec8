package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// progressRetry is how long drain waits for etcd's answer to a progress
// request before asking again: etcd answers only when every watch of the
// stream has caught up, and drops the request otherwise.
const progressRetry = 50 * time.Millisecond

// reportWatch follows the puts under the reports' prefix from a revision
// on, so the leader reads each tick only what was written since the last,
// however many reports each replica keeps.
type reportWatch struct {
	client *clientv3.Client
	cancel context.CancelFunc
	ch     clientv3.WatchChan
}

func openReportWatch(client *clientv3.Client, prefix string, from int64) *reportWatch {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	ch := client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterDelete())
	return &reportWatch{client: client, cancel: cancel, ch: ch}
}

// drain returns the reports put since the last drain, and the revision
// they go up to: it asks etcd for the watch's progress and takes every
// event up to the answer, which etcd sends after all the events of the
// revisions before it. It fails when ctx ends first, or when the watch
// does (a compacted revision, a member without a leader).
func (w *reportWatch) drain(ctx context.Context) ([]*mvccpb.KeyValue, int64, error) {
	var kvs []*mvccpb.KeyValue
	for {
		// The same metadata as the watch's context, so the request goes on
		// the watch's stream, with ctx's deadline.
		if err := w.client.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
			return nil, 0, fmt.Errorf("ninelives: asking etcd for the watch's progress: %w", err)
		}
		retry := time.NewTimer(progressRetry)
		rev, err := w.receive(ctx, retry.C, &kvs)
		retry.Stop()
		if err != nil || rev > 0 {
			return kvs, rev, err
		}
	}
}

// receive takes the watch's responses until a progress answer (its
// revision is returned), retry fires (0), or ctx or the watch ends.
func (w *reportWatch) receive(ctx context.Context, retry <-chan time.Time, kvs *[]*mvccpb.KeyValue) (int64, error) {
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-retry:
			return 0, nil
		case resp, ok := <-w.ch:
			switch {
			case !ok:
				return 0, errors.New("ninelives: the watch on the reports closed")
			case resp.Err() != nil:
				return 0, fmt.Errorf("ninelives: the watch on the reports: %w", resp.Err())
			case resp.IsProgressNotify():
				return resp.Header.Revision, nil
			}
			for _, ev := range resp.Events {
				*kvs = append(*kvs, ev.Kv)
			}
		}
	}
}

func (w *reportWatch) close() { w.cancel() }
