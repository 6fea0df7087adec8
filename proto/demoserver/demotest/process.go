package demotest

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// TargetTimeout bounds the wait for demofleet to print its target.
const TargetTimeout = 30 * time.Second

// FleetProcess runs the fleet in a process of its own (the demofleet
// command, built for the test), as servers run apart from their clients in
// production, and returns its composite target. Benchmarks use it so that
// the servers' work and garbage are not the client's. The process ends when
// the test does: its standard input is closed, and it is killed if it has
// not exited StopGrace later. If demofleet exits or prints no target within
// TargetTimeout, the test fails with what demofleet wrote on its standard
// error.
func FleetProcess(tb testing.TB, specs ...demoserver.VersionSpec) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "demofleet")
	build := exec.Command("go", "build", "-o", bin, "github.com/ninelives-go/ninelives/proto/demoserver/cmd/demofleet")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building demofleet: %v\n%s", err, out)
	}
	p, err := startFleetProcess(bin, fleetArgs(specs), TargetTimeout)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.stop)
	return p.target
}

// fleetArgs are demofleet's -fleet flags for specs.
func fleetArgs(specs []demoserver.VersionSpec) []string {
	var args []string
	for _, sp := range specs {
		f := sp.Faults
		faults := []string{fmt.Sprintf("errors=%g", f.ErrorRate), "latency=" + f.Latency.String(),
			fmt.Sprintf("price=%d", f.PriceDelta), fmt.Sprintf("extra=%d", f.ExtraItems), fmt.Sprintf("failafter=%d", f.FailAfterItems)}
		if f.Hang {
			faults = append(faults, "hang")
		}
		args = append(args, "-fleet", fmt.Sprintf("%s=%d:%s", sp.Version, sp.Count, strings.Join(faults, ",")))
	}
	return args
}

// StopGrace bounds the wait for demofleet to end once its standard input
// is closed; then it is killed.
const StopGrace = 10 * time.Second

// fleetProcess is a running demofleet.
type fleetProcess struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	target string
	grace  time.Duration // StopGrace; tests shorten it
}

// stop closes demofleet's standard input, which ends it, and waits for it
// to exit; if it is still running after p.grace, it is killed, so that a
// demofleet that does not notice its standard input closing cannot hang
// the test's cleanup.
func (p *fleetProcess) stop() {
	_ = p.stdin.Close()
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// startFleetProcess starts bin with args and waits at most wait for the
// line "target: …" on its standard output. When the process exits first,
// prints something else or stays silent, it is stopped and the error
// carries what it wrote on its standard error.
func startFleetProcess(bin string, args []string, wait time.Duration) (*fleetProcess, error) {
	cmd := exec.Command(bin, args...)
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second // a child left holding the pipes cannot hang Wait
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ninelives: demofleet: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ninelives: demofleet: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ninelives: starting demofleet: %w", err)
	}
	type read struct {
		line string
		err  error
	}
	lines := make(chan read, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		lines <- read{line, err}
		if err == nil {
			_, _ = io.Copy(io.Discard, stdout) // until the process ends
		}
	}()
	// fail ends the process and returns why it gave no target, with how it
	// ended (its exit status, or the signal that killed it), and its
	// standard error.
	fail := func(why string) error {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		werr := cmd.Wait()
		msg := "ninelives: demofleet " + why
		if werr != nil {
			msg += fmt.Sprintf(" (%v)", werr)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			msg += "; its standard error:\n" + s
		} else {
			msg += "; it wrote nothing on its standard error"
		}
		return fmt.Errorf("%s", msg)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-lines:
		if r.err != nil {
			return nil, fail(fmt.Sprintf("exited before it printed its target: %s %s", bin, strings.Join(args, " ")))
		}
		target, ok := strings.CutPrefix(strings.TrimSpace(r.line), "target: ")
		if !ok {
			return nil, fail(fmt.Sprintf("printed %q, want \"target: …\"; killed it", r.line))
		}
		return &fleetProcess{cmd: cmd, stdin: stdin, target: target, grace: StopGrace}, nil
	case <-timer.C:
		return nil, fail(fmt.Sprintf("printed no target within %v; killed it", wait))
	}
}

// tailBuffer keeps the last max bytes written to it; a process's output
// goes to it from another goroutine.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
