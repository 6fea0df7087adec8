package demotest

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// FleetProcess runs the fleet in a process of its own (the demofleet
// command, built for the test), as servers run apart from their clients in
// production, and returns its composite target. Benchmarks use it so that
// the servers' work and garbage are not the client's. The process ends when
// the test does.
func FleetProcess(tb testing.TB, specs ...demoserver.VersionSpec) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "demofleet")
	build := exec.Command("go", "build", "-o", bin, "github.com/ninelives-go/ninelives/proto/demoserver/cmd/demofleet")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building demofleet: %v\n%s", err, out)
	}
	var args []string
	for _, sp := range specs {
		f := sp.Faults
		faults := []string{fmt.Sprintf("errors=%g", f.ErrorRate), "latency=" + f.Latency.String(), fmt.Sprintf("price=%d", f.PriceDelta)}
		if f.Hang {
			faults = append(faults, "hang")
		}
		args = append(args, "-fleet", fmt.Sprintf("%s=%d:%s", sp.Version, sp.Count, strings.Join(faults, ",")))
	}
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close() // demofleet stops when its input closes
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("demofleet printed no target: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	target, ok := strings.CutPrefix(strings.TrimSpace(line), "target: ")
	if !ok {
		tb.Fatalf("demofleet printed %q, want a target", line)
	}
	return target
}
