package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/plan"
)

// showStatus prints the status once.
func (s *settings) showStatus(ctx context.Context, b backend, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := b.status(ctx)
	if err != nil {
		return err
	}
	if s.output == "json" {
		return writeJSON(out, v)
	}
	render(out, v)
	return nil
}

// showHistory prints the last events.
func (s *settings) showHistory(ctx context.Context, b backend, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	evs, err := b.history(ctx, s.limit)
	if err != nil {
		return err
	}
	if s.output == "json" {
		return writeJSON(out, evs)
	}
	if len(evs) == 0 {
		fmt.Fprintln(out, "no decision yet")
	}
	for _, e := range evs {
		fmt.Fprintln(out, eventLine(e))
	}
	return nil
}

// doControl makes a control and prints what it did.
func (s *settings) doControl(ctx context.Context, b backend, c control, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout+5*time.Second)
	defer cancel()
	d, err := b.control(ctx, c)
	if err != nil {
		return err
	}
	if s.output == "json" {
		return writeJSON(out, d)
	}
	fmt.Fprintf(out, "%s by %s: the rollout is %s", d.Action, d.Who, d.Phase)
	if d.Step > 0 {
		fmt.Fprintf(out, ", step %d", d.Step)
	}
	fmt.Fprintf(out, "; %s\n", weights(d.Weights))
	return nil
}

func writeJSON(out io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// render prints the status for people.
func render(w io.Writer, v *view) {
	st := v.Status
	if v.Fleet != nil {
		f := v.Fleet
		fmt.Fprintf(w, "fleet     leader %s (term %d), tick %d at %s, %d replicas reporting", f.Leader, f.Term, f.Tick, f.Time.UTC().Format(time.TimeOnly), f.Replicas)
		if f.Failing > 0 {
			fmt.Fprintf(w, ", %d failing to count", f.Failing)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "rollout   %s → %s (%s)\n", st.Baseline, st.Candidate, st.Strategy)
	fmt.Fprintf(w, "phase     %s\n", phaseLine(st))
	if len(st.Plan) > 0 {
		fmt.Fprintf(w, "plan      %s\n", planLine(st))
	}
	fmt.Fprintf(w, "weights   %s\n", weights(st.Weights))
	if d := st.LastDecision; d != nil {
		fmt.Fprintf(w, "now       %s: %s\n", d.Action, d.Reason)
	}
	renderVerdict(w, st.Verdict)
	renderFigures(w, st)
	if r := v.Release; r != nil {
		fmt.Fprintf(w, "release   #%d, %s: %s\n", r.Number, r.Stage, r.Note)
		if r.Error != "" {
			fmt.Fprintf(w, "          cannot read the builds: %s\n", r.Error)
		}
	}
	for _, e := range []string{st.SourceError, st.PolicyError} {
		if e != "" {
			fmt.Fprintf(w, "error     %s\n", e)
		}
	}
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "decisions")
		for _, e := range lastN(st.Events, 8) {
			fmt.Fprintf(w, "  %s\n", eventLine(e))
		}
	}
}

func phaseLine(st sentinel.Status) string {
	s := string(st.Phase)
	if st.Step > 0 {
		s += fmt.Sprintf(", step %d", st.Step)
		if len(st.Plan) > 0 {
			s += fmt.Sprintf(" of %d", len(st.Plan))
		}
		if st.StepName != "" {
			s += " (" + st.StepName + ")"
		}
		if !st.Now.IsZero() && !st.StepStart.IsZero() {
			s += fmt.Sprintf(", %v in step", st.Now.Sub(st.StepStart).Truncate(time.Second))
		}
	}
	if st.ChangedBy != "" {
		s += fmt.Sprintf("; last change %s by %s", st.ChangeAction, st.ChangedBy)
	}
	return s
}

// planLine marks the step under way in the plan: 1% [5%] 25% 50% 100%.
func planLine(st sentinel.Status) string {
	parts := make([]string, len(st.Plan))
	for i, p := range st.Plan {
		switch {
		case p.Name == st.StepName && st.Step > 0:
			parts[i] = "[" + p.Name + "]"
		default:
			parts[i] = p.Name
		}
	}
	return strings.Join(parts, " → ")
}

func weights(ws []balancer.Weight) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %s", w.Version, plan.Label(w.Weight))
	}
	return strings.Join(parts, "  ")
}

// renderVerdict prints the judge's verdict and each test's evidence.
func renderVerdict(w io.Writer, v judge.Verdict) {
	fmt.Fprintf(w, "verdict   %s: %s\n", v.Outcome, v.Reason)
	for _, t := range v.Tests {
		line := fmt.Sprintf("  %-8s %s", t.Test, t.Outcome)
		if ev := t.Evidence; ev != nil {
			line += fmt.Sprintf(": e-value %.3g of %.3g after %d looks; candidate %d samples, baseline %d",
				ev.Statistic, ev.Threshold, ev.Looks, ev.Candidate.Samples, ev.Baseline.Samples)
		}
		fmt.Fprintln(w, line)
	}
}

// renderFigures prints each version's figures over the step.
func renderFigures(w io.Writer, st sentinel.Status) {
	for _, v := range []string{st.Baseline, st.Candidate} {
		f, ok := st.StepFigs[v]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "  %-8s %d calls in step, %.2f%% errors, p99 %.1f ms\n", v, f.Calls, 100*f.ErrorRate, 1000*f.P99)
	}
}

func eventLine(e sentinel.Event) string {
	return fmt.Sprintf("%s  #%-4d %-12s %-10s %s", e.Time.UTC().Format(time.TimeOnly), e.Seq, e.Action, e.Who, e.Reason)
}

// watchStatus redraws the status at each change (a fleet) or interval (a
// status API) until ctx ends: in place on a terminal, one frame after
// another otherwise (one JSON document a line with --output json).
func (s *settings) watchStatus(ctx context.Context, b backend, e env) error {
	changes := b.changes(ctx)
	for {
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		v, err := b.status(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		s.frame(e, v, err)
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
		case <-time.After(s.interval):
		}
	}
}

// frame prints one frame of the watch; a failed read shows in it, and the
// watch goes on.
func (s *settings) frame(e env, v *view, err error) {
	if s.output == "json" {
		if err != nil {
			_ = writeJSON(e.out, map[string]string{"error": err.Error()})
			return
		}
		_ = writeJSON(e.out, v)
		return
	}
	if e.tty {
		fmt.Fprint(e.out, "\x1b[H\x1b[2J")
	} else {
		fmt.Fprintf(e.out, "--- %s\n", time.Now().UTC().Format(time.TimeOnly))
	}
	if err != nil {
		fmt.Fprintf(e.out, "cannot read the status: %v\n", err)
		return
	}
	render(e.out, v)
}
