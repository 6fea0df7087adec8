// Package demoproc runs a fleet of demo servers in a process of its own —
// the demofleet command — as servers run apart from their clients in
// production, and steers it while it runs: new faults, a stop, or a kill.
//
//	bin, err := demoproc.Build(dir) // go build of demofleet
//	p, err := demoproc.Start(bin, demoserver.VersionSpec{Version: "canary", Count: 3})
//	defer p.Stop()
//	conn, err := grpc.NewClient(p.Target(), …)
//	err = p.SetFaults("canary", demoserver.Faults{ErrorRate: 0.05})
//	p.Kill() // as a crash; Start again with the VersionSpec's Addrs to restore it
package demoproc

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// Package is the import path of the demofleet command.
const Package = "github.com/ninelives-go/ninelives/proto/demoserver/cmd/demofleet"

// TargetTimeout bounds the wait for demofleet to print its target.
const TargetTimeout = 30 * time.Second

// StopGrace bounds the wait for demofleet to end once its standard input
// is closed; then it is killed.
const StopGrace = 10 * time.Second

// ReplyTimeout bounds the wait for demofleet's answer to a command.
const ReplyTimeout = 10 * time.Second

// Build builds demofleet into dir with the go command (from within this
// module) and returns the program's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "demofleet")
	if out, err := exec.Command("go", "build", "-o", bin, Package).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ninelives: building demofleet: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is a running demofleet.
type Process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	target  string
	replies chan string   // the lines it printed after its target
	exited  chan struct{} // closed once it has exited and been reaped
	grace   time.Duration // StopGrace; tests shorten it

	mu sync.Mutex // one command at a time
}

// Start runs the demofleet program bin with the fleet of specs and waits
// at most TargetTimeout for its target. If demofleet exits or prints no
// target by then, it is killed and the error carries what it wrote on its
// standard error.
func Start(bin string, specs ...demoserver.VersionSpec) (*Process, error) {
	return start(bin, Args(specs), TargetTimeout)
}

// Target is the fleet's composite target.
func (p *Process) Target() string { return p.target }

// SetFaults makes every instance of version take faults, and returns once
// demofleet has answered (at most ReplyTimeout later).
func (p *Process) SetFaults(version string, faults demoserver.Faults) error {
	return p.command(fmt.Sprintf("faults %s %s", version, FaultsArg(faults)))
}

// StopServer stops instance i (from 0) of version for good, as a crash of
// that server alone would, and returns once demofleet has answered (at most
// ReplyTimeout later).
func (p *Process) StopServer(version string, i int) error {
	return p.command(fmt.Sprintf("stop %s %d", version, i))
}

// command sends demofleet one command line and waits for its answer.
func (p *Process) command(cmd string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("ninelives: demofleet: %s: %w", cmd, err)
	}
	t := time.NewTimer(ReplyTimeout)
	defer t.Stop()
	select {
	case r, ok := <-p.replies:
		switch {
		case !ok:
			return fmt.Errorf("ninelives: demofleet: %s: it exited before it answered", cmd)
		case r != "ok":
			return errors.New(strings.TrimPrefix(r, "error: "))
		}
		return nil
	case <-t.C:
		return fmt.Errorf("ninelives: demofleet: %s: no answer within %v", cmd, ReplyTimeout)
	}
}

// Stop closes demofleet's standard input, which ends it, and waits for it
// to exit; if it is still running after StopGrace, it is killed, so that a
// demofleet that does not notice its standard input closing cannot hang
// the caller. Stop and Kill may be called more than once, in any order.
func (p *Process) Stop() {
	_ = p.stdin.Close()
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.Kill()
	}
}

// Kill kills demofleet at once, as a crash would (its servers' connections
// are reset, calls in flight fail), and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	_ = p.stdin.Close()
}
