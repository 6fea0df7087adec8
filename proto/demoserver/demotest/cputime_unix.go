//go:build unix

package demotest

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time the process has used, user and system, and
// whether it is known here. Unlike the wall clock, a busy machine hardly
// inflates it, so benchmarks report it beside their timings.
func CPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
