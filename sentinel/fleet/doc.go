// Package fleet runs one rollout for many client replicas through etcd: each
// replica reports its figures, one elected sentinel judges the fleet-wide
// sums and publishes the rollout state, and every replica's Split follows
// it. A replica that loses etcd keeps its last weights. People control the
// rollout with commands in etcd (the ninelives command line, a status page).
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
//		canary, fleet.WithSentinelOptions(sentinel.WithAlerters(pager)),
//		fleet.WithRelease(prober)) // optional: release after release (package release)
//	defer l.Close()
//	err = l.Run(ctx)         // campaign, lead, tick; campaign again if deposed
//	h, err := statuspage.New(l.Controller(), token) // the fleet's page and controls
//
// # Keys
//
// Under the rollout's prefix:
//
//	<prefix>/state                              the rollout state (JSON, RolloutState); watched by every replica
//	<prefix>/checkpoint                         the leader's checkpoint: the sentinel's, the lifecycle's record, how far it read
//	<prefix>/status                             the status for people and programs (FleetStatus), written with each commit
//	<prefix>/history/<n>                        the last 100 events: decisions, controls, releases (sentinel.Event)
//	<prefix>/commands/<id>                      a manual control and, once applied, its answer (Command)
//	<prefix>/election/<lease>                   the sentinels' election (concurrency.NewElection)
//	<prefix>/reports/<replica>/<epoch>/<seq>    a replica's report, bound to the replica's lease
//
// # Counting every call once
//
// A replica writes each tick's figures as a new report with the next
// number, bound to its lease, in a compact binary form; the content of a
// number never changes, so a write retried after a timeout cannot count
// twice, and the figures made while etcd is away wait in memory and go out,
// together, when it returns. After an absence longer than the TTL, the
// replicas and the leader keep their leases, which a restarted etcd renews:
// the reports not read yet stay, and the leader leads on in its term. The replica keeps its last reports
// (WithRetention) and drops older ones in the same transaction: one write
// per replica per tick. The leader reads the reports written since its last
// read from a watch on the reports (a ranged read, filtered by revision,
// when the watch is not open or etcd compacted past it), and remembers, per
// replica and epoch, the last number it counted; it commits that, with the
// sentinel's checkpoint, in the same transaction as its decision. A new
// leader starts from the checkpoint, so every report is judged exactly once
// over all leaders, and the judge's e-processes go on where they were: α is
// spent once per rollout, however often the leadership changes.
//
// A replica cuts its figures each time it applies a new rollout state, and
// the leader judges only the figures made under the state it published: a
// look never mixes two candidate shares. A dead replica's unread reports
// leave etcd with its lease; a gap in a replica's numbers is counted as
// lost. A replica whose metric source fails says so in its reports; the
// leader shows the failing replicas, and when none can count its sentinel's
// source fails (the rollout holds and alerts).
//
// # Commands, exactly once
//
// A Controller writes a Command (pause, resume, promote, abort, set-weight,
// with who, why and an id) under a key of its own, only if the key is new.
// The leader reads the unanswered commands each tick, applies them to its
// sentinel, and writes their answers in the transaction of the checkpoint
// that carries their effect, fenced by its election key. A leader that dies
// after applying a command and before committing leaves it unanswered, and
// the next leader applies it, from the checkpoint the command had not
// reached: each command takes effect once. A control the phase does not
// allow is answered as refused (sentinel.ErrTransition). A Controller waits
// a bounded time (WithCommandWait) and then withdraws the command, so it
// never applies later by surprise. Every decision and control is kept in the
// history; the status holds the verdict, its evidence and each version's
// figures, so any replica or the command line can read where the fleet's
// rollout stands.
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
// # Load on etcd, and its settings
//
// Per replica: one transaction per report interval (0.6–0.9 kB), one watch
// (the state key) and one lease kept alive. Per leader: the watch on the
// reports, one read of the commands and at most one transaction per tick
// (the checkpoint, with a cursor per replica, and the status). Every write
// is a revision etcd keeps until it is compacted: the leader compacts the
// history older than WithCompaction (default 1 min; 0 when etcd is shared
// and its operator compacts it, --auto-compaction-mode=periodic
// --auto-compaction-retention=5m), so the database stays flat. Give etcd a
// --quota-backend-bytes well above the history of a period (at 1,000
// replicas about 1 MB/s) and the default 128 --max-txn-ops; defragment
// (etcdctl defrag) to return freed space to the file system. Beyond the
// fleet one etcd carries (see the fleet recipe's README for the measured
// figures), judge the figures from Prometheus instead (WithSource with a
// promsource.Source): the replicas then run a Follower only.
package fleet
