// Package fleet runs one rollout for many client replicas through etcd: each
// replica reports its figures, one elected sentinel judges the fleet-wide
// sums and publishes the rollout state, and every replica's Split follows
// it. A replica that loses etcd keeps its last weights.
//
// # Usage
//
// In every client replica, beside its Split and telemetry Source:
//
//	f, err := fleet.NewFollower(etcd, "/ninelives/orders", split)
//	r, err := fleet.NewReporter(etcd, "/ninelives/orders", "replica-7", src, f)
//	err = f.Start(ctx)       // read the state, then watch it
//	go r.Run(ctx)            // report every second
//	defer r.Close(); defer f.Close()
//
// In one or more replicas (or anywhere), the sentinels:
//
//	l, err := fleet.NewLeader(etcd, "/ninelives/orders", "sentinel-a",
//		[]balancer.Weight{{Version: "stable", Weight: 10000}, {Version: "canary", Weight: 0}},
//		canary, fleet.WithSentinelOptions(sentinel.WithAlerters(pager)))
//	defer l.Close()
//	err = l.Run(ctx)         // campaign, lead, tick; campaign again if deposed
//
// # Keys
//
// Under the rollout's prefix:
//
//	<prefix>/state                              the rollout state (JSON, RolloutState); watched by every replica
//	<prefix>/checkpoint                         the leader's checkpoint: the sentinel's Checkpoint and how far it read
//	<prefix>/election/<lease>                   the sentinels' election (concurrency.NewElection)
//	<prefix>/reports/<replica>/<epoch>/<seq>    a replica's report, bound to the replica's lease
//
// # Counting every call once
//
// A replica writes each tick's figures as a new report with the next
// number, bound to its lease; the content of a number never changes, so a
// write retried after a timeout cannot count twice, and the figures made
// while etcd is away wait in memory and go out, together, when it returns.
// The replica keeps its last reports (WithRetention) and drops older ones
// in the same transaction: one write per replica per tick. The leader reads
// only the reports written since its last read (one ranged read, filtered by
// revision) and remembers, per replica and epoch, the last number it
// counted; it commits that, with the sentinel's checkpoint, in the same
// transaction as its decision. A new leader starts from the checkpoint, so
// every report is judged exactly once over all leaders, and the judge's
// e-processes go on where they were: α is spent once per rollout, however
// often the leadership changes. (Summing cumulative counters instead would
// need the leader to keep a copy of every replica's totals in its
// checkpoint, and their histograms cannot be differenced exactly.)
//
// A replica cuts its figures each time it applies a new rollout state, and
// the leader judges only the figures made under the state it published:
// a look never mixes two candidate shares. A dead replica's unread reports
// leave etcd with its lease; a gap in a replica's numbers is counted as lost.
//
// # State and order
//
// The rollout state carries Seq, one more at every change over all leaders,
// and Term, the election revision of the leader that wrote it. A Follower
// applies a state only if it decodes, names the Split's versions, has
// weights summing to 10000, a Seq above the applied one and a Term not below
// it; anything else is rejected with an error naming the field, logged and
// shown in FollowerStatus, and the last good weights stay. The leader's
// writes are fenced by its election key: a deposed leader cannot write.
//
// # Load on etcd
//
// Per replica: one transaction per report interval, one watch (the state
// key) and one lease kept alive. Per leader: one read and at most one
// transaction per tick (none when nothing was read and nothing changed);
// a standby sentinel holds one watch while it campaigns.
package fleet
