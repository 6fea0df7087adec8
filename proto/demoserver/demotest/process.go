package demotest

import (
	"testing"

	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/proto/demoserver/demoproc"
)

// FleetProcess runs the fleet in a process of its own (the demofleet
// command, built for the test, through package demoproc), as servers run
// apart from their clients in production, and returns its composite
// target. Benchmarks use it so that the servers' work and garbage are not
// the client's. The process ends when the test does (demoproc's Stop). If
// demofleet exits or prints no target within demoproc.TargetTimeout, the
// test fails with what demofleet wrote on its standard error.
func FleetProcess(tb testing.TB, specs ...demoserver.VersionSpec) string {
	tb.Helper()
	bin, err := demoproc.Build(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	p, err := demoproc.Start(bin, specs...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Stop)
	return p.Target()
}
