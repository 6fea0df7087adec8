package chaos

import (
	"fmt"
	"io"
	"time"
)

// MaxGrowth is how much a figure may grow from the end of the soak's
// warm-up to its last sample.
const MaxGrowth = 0.10

// Growth is how much each figure grew from the first sample at or after
// the warm-up to the last one, as a fraction (0.05: 5 %).
type Growth struct {
	From, To                    time.Duration
	Heap, Goroutines, FDs, Etcd float64
}

// GrowthOf measures the growth over samples after warmup; ok is false
// when no sample was taken after the one that ends the warm-up.
func GrowthOf(samples []SoakSample, warmup time.Duration) (g Growth, ok bool) {
	ref := -1
	for i, s := range samples {
		if s.At >= warmup {
			ref = i
			break
		}
	}
	if ref < 0 || ref == len(samples)-1 {
		return g, false
	}
	a, b := samples[ref], samples[len(samples)-1]
	return Growth{From: a.At, To: b.At, Heap: grew(float64(a.HeapBytes), float64(b.HeapBytes)),
		Goroutines: grew(float64(a.Goroutines), float64(b.Goroutines)), FDs: grew(float64(a.FDs), float64(b.FDs)),
		Etcd: grew(float64(a.EtcdBytes), float64(b.EtcdBytes))}, true
}

func grew(from, to float64) float64 {
	if from <= 0 {
		return 0
	}
	return to/from - 1
}

// Flat reports whether no figure grew past MaxGrowth, and names those that did.
func (g Growth) Flat() (bool, []string) {
	var over []string
	for _, f := range []struct {
		name string
		v    float64
	}{{"heap", g.Heap}, {"goroutines", g.Goroutines}, {"open files", g.FDs}, {"etcd database", g.Etcd}} {
		if f.v > MaxGrowth {
			over = append(over, fmt.Sprintf("%s +%.1f %%", f.name, 100*f.v))
		}
	}
	return len(over) == 0, over
}

// PrintSoak writes the samples as a table, then the growth.
func PrintSoak(w io.Writer, samples []SoakSample, g Growth) {
	fmt.Fprintln(w, header)
	for _, s := range samples {
		fmt.Fprintln(w, row(s))
	}
	fmt.Fprintf(w, "growth from %v to %v: heap %+.1f %%, goroutines %+.1f %%, open files %+.1f %%, etcd database %+.1f %% (bound %+.0f %%)\n",
		g.From, g.To, 100*g.Heap, 100*g.Goroutines, 100*g.FDs, 100*g.Etcd, 100*MaxGrowth)
	if n := len(samples); n > 0 {
		if last := samples[n-1]; len(last.Process.Errors)+len(last.Fleet.Errors) > 0 {
			fmt.Fprintf(w, "first errors: process %q; fleet %q\n", last.Process.Errors, last.Fleet.Errors)
		}
	}
}

const header = "time      heap MiB  goroutines  open files  etcd MiB (in use)  process: promoted/rolled back/wrong, calls, failed  fleet: promoted/rolled back/wrong, calls, failed"

// row is one sample as a line of the table.
func row(s SoakSample) string {
	return fmt.Sprintf("%-8v  %8.1f  %10d  %10d  %8.1f (%5.1f)  %5d/%d/%d %9d %7d  %5d/%d/%d %9d %7d", s.At, mib(s.HeapBytes), s.Goroutines, s.FDs,
		float64(s.EtcdBytes)/(1<<20), float64(s.EtcdInUse)/(1<<20), s.Process.Promoted, s.Process.RolledBack, s.Process.Wrong,
		s.Process.Calls, s.Process.Failed, s.Fleet.Promoted, s.Fleet.RolledBack, s.Fleet.Wrong, s.Fleet.Calls, s.Fleet.Failed)
}
