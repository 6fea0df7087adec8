package demoproc

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ninelives-go/ninelives/proto/demoserver"
)

// Args are demofleet's flags for specs: -fleet for each, and -seed, the
// first spec's Seed, if not 0 (demofleet gives every spec the same).
func Args(specs []demoserver.VersionSpec) []string {
	var args []string
	if len(specs) > 0 && specs[0].Seed != 0 {
		args = append(args, "-seed", strconv.FormatUint(specs[0].Seed, 10))
	}
	for _, sp := range specs {
		arg := fmt.Sprintf("%s=%d:%s", sp.Version, sp.Count, FaultsArg(sp.Faults))
		if len(sp.Addrs) > 0 {
			arg += "@" + strings.Join(sp.Addrs, ",")
		}
		args = append(args, "-fleet", arg)
	}
	return args
}

// FaultsArg is demofleet's spelling of faults: every fault, by name.
func FaultsArg(f demoserver.Faults) string {
	faults := []string{fmt.Sprintf("errors=%g", f.ErrorRate), "latency=" + f.Latency.String(),
		fmt.Sprintf("tail=%g", f.TailRate), "taillatency=" + f.TailLatency.String(),
		fmt.Sprintf("price=%d", f.PriceDelta), fmt.Sprintf("extra=%d", f.ExtraItems), fmt.Sprintf("failafter=%d", f.FailAfterItems)}
	if f.Hang {
		faults = append(faults, "hang")
	}
	return strings.Join(faults, ",")
}

// start starts bin with args and waits at most wait for the line
// "target: …" on its standard output. When the process exits first,
// prints something else or stays silent, it is killed and the error
// carries what it wrote on its standard error.
func start(bin string, args []string, wait time.Duration) (*Process, error) {
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
	p := &Process{cmd: cmd, stdin: stdin, replies: make(chan string, 16), exited: make(chan struct{}), grace: StopGrace}
	first := make(chan string, 1)
	go p.read(bufio.NewReader(stdout), first)
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	fail := func(why string) error { return p.fail(why, stderr) }
	select {
	case line, ok := <-first:
		if !ok {
			return nil, fail(fmt.Sprintf("exited before it printed its target: %s %s", bin, strings.Join(args, " ")))
		}
		target, ok := strings.CutPrefix(strings.TrimSpace(line), "target: ")
		if !ok {
			return nil, fail(fmt.Sprintf("printed %q, want \"target: …\"; killed it", line))
		}
		p.target = target
		return p, nil
	case <-timer.C:
		return nil, fail(fmt.Sprintf("printed no target within %v; killed it", wait))
	}
}

// read sends the first line of out to first and every later line to
// p.replies; it closes them when out ends.
func (p *Process) read(out *bufio.Reader, first chan<- string) {
	defer close(p.replies)
	line, err := out.ReadString('\n')
	if err != nil {
		close(first)
		return
	}
	first <- line
	for {
		line, err := out.ReadString('\n')
		if err != nil {
			return
		}
		select {
		case p.replies <- strings.TrimSpace(line):
		default: // an answer nobody waits for
		}
	}
}

// fail kills the process and returns why it gave no target, with how it
// ended (its exit status, or the signal that killed it), and its standard
// error.
func (p *Process) fail(why string, stderr *tailBuffer) error {
	p.Kill()
	msg := "ninelives: demofleet " + why
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		msg += fmt.Sprintf(" (%v)", st)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		msg += "; its standard error:\n" + s
	} else {
		msg += "; it wrote nothing on its standard error"
	}
	return fmt.Errorf("%s", msg)
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
