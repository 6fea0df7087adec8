package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// figures are what a run measured.
type figures struct {
	ticks       []time.Duration
	last, any   []time.Duration // to the last replica, and to each
	changes     int
	bytes       int64 // replicas' and leader's writes
	leaderBytes int64
	reports     int64
	revs        int64
	elapsed     time.Duration
}

// lead runs the leader for the measure: a tick every interval, timed, and
// a weight change every -change, followed to the last replica.
func lead(ctx context.Context, o options, srv *fleettest.Server, client *clientv3.Client, reps []replica, fopts []fleet.Option,
	memEtcd, memReps uint64, out io.Writer) error {
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{100, 10000}, MinStepDuration: 24 * time.Hour})
	if err != nil {
		return err
	}
	l, err := fleet.NewLeader(client, prefix, "scale", initial, strategy, fopts...)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.Campaign(ctx); err != nil {
		return err
	}
	var f figures
	var mu sync.Mutex
	var follow sync.WaitGroup
	b0, r0, rev0 := written(reps), reports(reps), srv.Revision()
	lb0 := l.Status().WriteBytes
	start := time.Now()
	next, weight := start.Add(o.chg), 500
	tk := time.NewTicker(o.interval)
	defer tk.Stop()
	for time.Since(start) < o.duration {
		<-tk.C
		if time.Now().After(next) {
			if _, err := l.Controller().Issue(ctx, fleet.Command{Action: sentinel.ActionSetWeights, Weight: &weight, Who: "fleetscale"}); err != nil {
				return err
			}
			next, weight = next.Add(o.chg), 1500-weight
		}
		before := seqOf(l.Status().State)
		t0 := time.Now()
		if _, err := l.Tick(ctx); err != nil {
			fmt.Fprintf(out, "tick: %v\n", err)
		}
		f.ticks = append(f.ticks, time.Since(t0))
		if st := l.Status().State; st != nil && st.Seq != before {
			follow.Go(func() {
				last, each := propagation(reps, st)
				mu.Lock()
				f.last, f.any, f.changes = append(f.last, last), append(f.any, each...), f.changes+1
				mu.Unlock()
			})
		}
	}
	follow.Wait()
	f.elapsed = time.Since(start)
	f.leaderBytes = l.Status().WriteBytes - lb0
	f.bytes = written(reps) - b0 + f.leaderBytes
	f.reports, f.revs = reports(reps)-r0, srv.Revision()-rev0
	memAll := heap()
	return f.print(out, o, l, client, srv, memEtcd, memReps, memAll)
}

func seqOf(st *fleet.RolloutState) uint64 {
	if st == nil {
		return 0
	}
	return st.Seq
}

func written(reps []replica) (n int64) {
	for _, r := range reps {
		n += r.reporter.Status().Bytes
	}
	return n
}

func reports(reps []replica) (n int64) {
	for _, r := range reps {
		n += r.reporter.Status().Writes
	}
	return n
}

// propagation waits until every replica applied st (at most 30 s) and
// returns the time from the leader's publication to the last replica, and
// to each.
func propagation(reps []replica, st *fleet.RolloutState) (last time.Duration, each []time.Duration) {
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range reps {
		for {
			a, ok := r.follower.Applied()
			if ok && a.Seq >= st.Seq || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := r.follower.Status().AppliedAt.Sub(st.Time)
		each = append(each, d)
		last = max(last, d)
	}
	return last, each
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (f *figures) print(out io.Writer, o options, l *fleet.Leader, client *clientv3.Client, srv *fleettest.Server, memEtcd, memReps, memAll uint64) error {
	secs := f.elapsed.Seconds()
	n := float64(o.replicas)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "\n%d replicas, %v measured (load average %s)\n", o.replicas, f.elapsed.Round(time.Second), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(out, "etcd writes       %.0f kB/s: reports %.0f kB/s (%.2f a replica a second, %.0f B each), leader %.1f kB/s; %.0f revisions/s\n",
		float64(f.bytes)/secs/1e3, float64(f.bytes-f.leaderBytes)/secs/1e3, float64(f.reports)/secs/n,
		float64(f.bytes-f.leaderBytes)/max(1, float64(f.reports)), float64(f.leaderBytes)/secs/1e3, float64(f.revs)/secs)
	over := 0
	for _, t := range f.ticks {
		if t > o.interval {
			over++
		}
	}
	fmt.Fprintf(out, "leader tick       p50 %s, p99 %s, max %s over %d ticks: %.1f µs a replica at p50; %d ticks longer than the interval\n",
		ms(pct(f.ticks, 0.5)), ms(pct(f.ticks, 0.99)), ms(pct(f.ticks, 1)), len(f.ticks), float64(pct(f.ticks, 0.5).Nanoseconds())/1e3/n, over)
	fmt.Fprintf(out, "weight change     to the last replica p50 %s, p99 %s over %d changes (%d states published); to each replica p50 %s, p99 %s\n",
		ms(pct(f.last, 0.5)), ms(pct(f.last, 0.99)), f.changes, l.Status().Publishes, ms(pct(f.any, 0.5)), ms(pct(f.any, 0.99)))
	fmt.Fprintf(out, "memory (live heap) etcd alone %.0f MB; with the replicas %.0f MB (%.0f kB a replica, etcd's own growth included); with the leader %.0f MB (+%.1f MB)\n",
		mb(memEtcd), mb(memReps), (float64(memReps)-float64(memEtcd))/n/1e3, mb(memAll), mb(memAll)-mb(memReps))
	st, err := client.Status(context.Background(), client.Endpoints()[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "etcd database     file %.1f MB, in use %.1f MB at the end; %d compactions by the leader; source: %+v\n",
		mb(uint64(st.DbSize)), mb(uint64(st.DbSizeInUse)), l.Status().Compactions, l.Status().Source)
	return nil
}

func mb(b uint64) float64 { return float64(b) / 1e6 }
