package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/fleet"
	"github.com/ninelives-go/ninelives/sentinel/fleet/fleettest"
)

// leaderResult is what the leader's process measured.
type leaderResult struct {
	ticks      []time.Duration
	cpu        time.Duration // the process's CPU time over the measure
	bytes      int64
	reports    int64
	heap       uint64 // the leader's live heap, its etcd client included
	publishes  int64
	compacts   int64
	elapsed    time.Duration
	lastSource fleet.SourceStats
}

// runLeader starts the fleet's process (this program with -fleet-side),
// leads the fleet for the measure, then prints both sides' figures.
func runLeader(o options, args []string, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(exe, append(slices.Clone(args), "-fleet-side")...)
	child.Stderr = os.Stderr
	in, err := child.StdinPipe()
	if err != nil {
		return err
	}
	pipe, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Wait()
	defer in.Close()
	rd := bufio.NewReader(pipe)
	line, err := rd.ReadString('\n')
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		return fmt.Errorf("ninelives: the fleet's process did not start (%q): %v", line, err)
	}
	fmt.Fprintf(out, "%d replicas on %d etcd clients and etcd in one process, the leader in this one; warming up %v\n",
		o.replicas, o.clients, o.warmup)
	time.Sleep(o.warmup / 2)
	lr, err := lead(o, endpoint)
	if err != nil {
		return err
	}
	in.Close()
	var fr fleetResult
	if err := json.NewDecoder(rd).Decode(&fr); err != nil {
		return fmt.Errorf("ninelives: reading the fleet's figures: %w", err)
	}
	report(out, o, lr, fr)
	return nil
}

// lead leads the fleet for the measure: a tick every interval, timed, and
// a weight change every -change.
func lead(o options, endpoint string) (*leaderResult, error) {
	client, err := fleettest.Client(endpoint)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	base := heap()
	strategy, err := sentinel.NewCanary(sentinel.CanaryConfig{Steps: []int{100, 10000}, MinStepDuration: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	l, err := fleet.NewLeader(client, prefix, "scale", initial, strategy, fleet.WithInterval(o.interval),
		fleet.WithTimeout(10*time.Second), fleet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.Campaign(ctx); err != nil {
		return nil, err
	}
	r := &leaderResult{}
	if o.cpuProfile != "" && !o.fleetSide {
		stop, err := profile(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	cpu0, st0 := cpuTime(), l.Status()
	start := time.Now()
	if err := tickFor(ctx, o, l, r, start); err != nil {
		return nil, err
	}
	r.elapsed, r.cpu = time.Since(start), cpuTime()-cpu0
	st := l.Status()
	r.bytes, r.reports = st.WriteBytes-st0.WriteBytes, st.Source.Reports-st0.Source.Reports
	r.publishes, r.compacts, r.lastSource = st.Publishes, st.Compactions, st.Source
	r.heap = heap() - min(base, heap())
	return r, nil
}

func tickFor(ctx context.Context, o options, l *fleet.Leader, r *leaderResult, start time.Time) error {
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
		t0 := time.Now()
		_, _ = l.Tick(ctx)
		r.ticks = append(r.ticks, time.Since(t0))
	}
	return nil
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

func mb(b uint64) float64 { return float64(b) / 1e6 }

// report prints the figures.
func report(out io.Writer, o options, lr *leaderResult, fr fleetResult) {
	secs, n := lr.elapsed.Seconds(), float64(o.replicas)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "\n%d replicas, %v measured (load average %s)\n", o.replicas, lr.elapsed.Round(time.Second),
		strings.Join(strings.Fields(string(load))[:3], " "))
	fsecs := fr.Elapsed.Seconds()
	fmt.Fprintf(out, "etcd writes        %.0f kB/s: the replicas' reports %.0f kB/s (%.2f a replica a second, %.0f B each), the leader %.1f kB/s\n",
		float64(fr.Bytes)/fsecs/1e3+float64(lr.bytes)/secs/1e3, float64(fr.Bytes)/fsecs/1e3, float64(fr.Reports)/fsecs/n,
		float64(fr.Bytes)/max(1, float64(fr.Reports)), float64(lr.bytes)/secs/1e3)
	over := 0
	for _, t := range lr.ticks {
		if t > o.interval {
			over++
		}
	}
	fmt.Fprintf(out, "leader tick        p50 %s, p99 %s over %d ticks (%d longer than the interval); its process's CPU %.1f µs a report read (%d reports)\n",
		ms(pct(lr.ticks, 0.5)), ms(pct(lr.ticks, 0.99)), len(lr.ticks), over, float64(lr.cpu.Nanoseconds())/1e3/max(1, float64(lr.reports)), lr.reports)
	fmt.Fprintf(out, "weight change      to the last replica p50 %s, p99 %s over %d states (%d published); to each replica p50 %s, p99 %s\n",
		ms(pct(fr.Last, 0.5)), ms(pct(fr.Last, 0.99)), len(fr.Last), lr.publishes, ms(pct(fr.Each, 0.5)), ms(pct(fr.Each, 0.99)))
	fmt.Fprintf(out, "memory (live heap) the replicas %.0f kB each (%.0f MB with etcd, which alone holds %.0f MB); the leader %.1f MB\n",
		(float64(fr.HeapFleet)-float64(fr.HeapEtcd))/n/1e3, mb(fr.HeapFleet), mb(fr.HeapEtcd), mb(lr.heap))
	fmt.Fprintf(out, "etcd database      file %.1f MB, in use %.1f MB at the end; %d compactions by the leader\n",
		mb(uint64(fr.DBSize)), mb(uint64(fr.DBInUse)), lr.compacts)
}

// profile starts a CPU profile into file.
func profile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
