package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ninelives-go/ninelives/cookbook/internal/deploy"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// watcher prints a line at each change of the lifecycle.
type watcher struct {
	out     io.Writer
	life    *release.Lifecycle
	cluster *deploy.Cluster
	last    string
	start   time.Time
}

// until prints the changes until done holds, at most d.
func (w *watcher) until(ctx context.Context, d time.Duration, done func(release.Status) bool) error {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	deadline := time.Now().Add(d)
	for {
		rel := w.life.Release()
		w.print(rel)
		if done(rel) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ninelives: the release did not get on within %v: %s", d, rel.Note)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *watcher) print(rel release.Status) {
	st := w.life.Status()
	line := fmt.Sprintf("stable %-11s canary %-11s | %-11s %-24s stable %-5s canary %-5s | %s",
		w.cluster.String("stable"), w.cluster.String("canary"), rel.Stage, phase(st),
		plan.Label(st.Weight("stable")), plan.Label(st.Weight("canary")), rel.Note)
	if line == w.last {
		return
	}
	w.last = line
	fmt.Fprintf(w.out, "%5.1fs  %s\n", time.Since(w.start).Seconds(), line)
}

func phase(st sentinel.Status) string {
	if st.Step > 0 && !st.Phase.Final() {
		return fmt.Sprintf("%s %d (%s)", st.Phase, st.Step, st.StepName)
	}
	return string(st.Phase)
}

func summary(out io.Writer, res *Result) {
	fmt.Fprintln(out, "\nrelease  build  outcome      finalized  calls  failed  served by canary  took")
	for i, r := range res.Releases {
		fmt.Fprintf(out, "%7d  %-5s  %-11s  %-9v  %5d  %6d  %16d  %v\n", i+1, r.Build, r.Outcome, r.Finalized, r.Calls, r.Failed,
			r.CanaryServed, r.Took.Round(100*time.Millisecond))
	}
	for _, r := range res.Releases {
		for _, e := range r.Errors {
			fmt.Fprintf(out, "  %s: %s\n", r.Build, e)
		}
	}
	fmt.Fprintf(out, "one client connection for the whole run (%d dialed); no restart, no re-dial.\n", res.Conns)
}
