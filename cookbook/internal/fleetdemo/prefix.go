package fleetdemo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// BasePrefix is where the runs' key prefixes are in etcd.
const BasePrefix = "/ninelives/cookbook/fleet"

// NewPrefix returns a key prefix of its own for a run that starts at t:
// BasePrefix, the time, and a random suffix, so that a second run against
// the same etcd never finds the first one's rollout state.
func NewPrefix(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return fmt.Sprintf("%s/%s-%s", BasePrefix, t.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}

// OwnerKey is the key under a run's prefix that claims the prefix for the
// run; its value says which run.
const OwnerKey = "/owner"

// claimPrefix claims prefix for the run owner in one etcd transaction: if
// no key is under prefix, it writes prefix+OwnerKey; otherwise it returns an
// error naming the prefix. Two runs given the same prefix cannot both pass,
// however close together they start: the second finds the first's claim.
func claimPrefix(ctx context.Context, endpoints []string, prefix, owner string) error {
	c, err := fleettest.Client(endpoints...)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	under := prefix + "/"
	r, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(under), "=", 0).WithPrefix()).
		Then(clientv3.OpPut(prefix+OwnerKey, owner)).
		Else(clientv3.OpGet(under, clientv3.WithPrefix(), clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return fmt.Errorf("ninelives: claiming %s in etcd: %w", prefix, err)
	}
	if !r.Succeeded {
		return fmt.Errorf("ninelives: etcd already holds %d keys under %s (an earlier run's rollout, or another run's claim?): use another prefix",
			r.Responses[0].GetResponseRange().Count, prefix)
	}
	return nil
}
