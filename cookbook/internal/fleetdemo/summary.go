package fleetdemo

import (
	"fmt"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// collect reads the replicas' and the sentinels' figures at the run's end.
func (r *runner) collect() {
	res := r.res
	res.Elapsed = time.Since(r.start)
	if r.opts.Virtual {
		res.Elapsed = time.Duration(res.Ticks) * r.opts.Interval
	}
	ticks, n := float64(max(res.Ticks, 1)), float64(len(r.reps))
	for _, rep := range r.reps {
		res.FinalWeights = append(res.FinalWeights, rep.Split.Weight("canary"))
		st, _ := rep.Follower.Applied()
		res.Applied = append(res.Applied, st.Seq)
		fs := rep.Follower.Status()
		res.WatchesPerReplica += float64(fs.Watches) / n
		res.Rejected += fs.Rejections
		rs := rep.Reporter.Status()
		res.WritesPerReplicaTick += float64(rs.Writes) / ticks / n
		res.ReportBytes = max(res.ReportBytes, rs.LastBytes)
	}
	var leaderWrites int64
	for _, s := range r.sentinels {
		leaderWrites += s.leader.Status().Writes
	}
	res.LeaderWritesPerTick = float64(leaderWrites) / ticks
}

// summary prints what the run did.
func (r *runner) summary() {
	out, opts, res := r.opts.Out, r.opts, r.res
	fmt.Fprintf(out, "\nThe rollout is %s after %d ticks.\n", res.Phase, res.Ticks)
	if res.Interrupted {
		fmt.Fprintf(out, "The run was interrupted after %v.\n", res.Elapsed.Round(time.Second))
	}
	for _, d := range res.Decisions {
		fmt.Fprintf(out, "  tick %2d  %-10s %s\n", d.Tick, d.Sentinel, demo.DecisionLabel(d.Event))
	}
	if res.KilledAt > 0 {
		fmt.Fprintf(out, "Failover: the leader was killed at tick %d in step %d; the standby took over %v later (TTL %v) and resumed step %d at %s.\n",
			res.KilledAt, res.StepAtKill, res.Takeover.Round(time.Millisecond), opts.TTL, res.TakeoverStep, plan.Label(res.TakeoverWeight))
	}
	if res.LostLeases > 0 {
		fmt.Fprintf(out, "A live sentinel's lease expired %d times (the machine was too busy to renew it within the %v TTL); the sentinels campaigned again.\n",
			res.LostLeases, opts.TTL)
	}
	if res.RollbackTick > 0 && res.RegressionTick > 0 {
		fmt.Fprintf(out, "Regression at tick %d, rollback decided at tick %d: every replica at 0 %% canary %v after the regression started (%d ticks of %v; at most %v from a state's commit in etcd to the last replica).\n",
			res.RegressionTick, res.RollbackTick, res.ToAllZero.Round(time.Millisecond), res.RollbackTick-res.RegressionTick, opts.Interval,
			res.Propagation.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "Final canary weights: %v (states applied: %v); %d bad states rejected.\n", res.FinalWeights, res.Applied, res.Rejected)
	fmt.Fprintf(out, "Calls: %d, failed %d (the canary's own faults); canary calls after the end: %d.\n", res.Calls, res.Failed, res.TailCanaryCalls)
	perSec := res.WritesPerReplicaTick / opts.Interval.Seconds()
	fmt.Fprintf(out, "etcd load: %.2f writes/s per replica (one report a tick, %d bytes at most), %.2f leader writes a tick, %.0f watch per replica",
		perSec, res.ReportBytes, res.LeaderWritesPerTick, res.WatchesPerReplica)
	if r.etcd != nil {
		fmt.Fprintf(out, "; %d revisions in all", r.etcd.Revision()-r.rev0)
	}
	fmt.Fprintln(out, ".")
	if opts.DryRun {
		fmt.Fprintln(out, "This was a dry run: the decisions above are those the leader would have carried out; no weight moved.")
	}
}
