//go:build !unix

package demotest

import "time"

// CPUTime is the CPU time the process has used; it is not known here.
func CPUTime() (time.Duration, bool) { return 0, false }
