package chaos

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// EtcdProcess is a one-member etcd in a process of its own: a program
// that serves it (ServeEtcd) when run with -serve-etcd DIR. The soak runs
// its etcd so, as a fleet's etcd runs apart from its clients, and the
// heap it samples is the clients', not etcd's (whose raft log grows in
// memory until its next snapshot).
type EtcdProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	Endpoint string
}

// StartEtcdProcess runs exe -serve-etcd dir and waits, at most a minute,
// for the endpoint it prints.
func StartEtcdProcess(exe, dir string) (*EtcdProcess, error) {
	cmd := exec.Command(exe, "-serve-etcd", dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ninelives: starting etcd's process: %w", err)
	}
	p := &EtcdProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	select {
	case l := <-line:
		if ep, ok := strings.CutPrefix(strings.TrimSpace(l), "endpoint: "); ok {
			p.Endpoint = ep
			return p, nil
		}
		p.Stop()
		return nil, fmt.Errorf("ninelives: etcd's process printed %q, want \"endpoint: …\"", l)
	case <-time.After(time.Minute):
		p.Stop()
		return nil, fmt.Errorf("ninelives: etcd's process printed no endpoint within a minute")
	}
}

// Stop closes the process's standard input, which ends it, and kills it
// if it has not ended 10 s later.
func (p *EtcdProcess) Stop() {
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// ServeEtcd serves a one-member etcd with its data in dir, prints
// "endpoint: URL" on out, and stops once in closes.
func ServeEtcd(dir string, in io.Reader, out io.Writer) error {
	srv, err := startEtcd(dir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(out, "endpoint: %s\n", srv.Endpoint())
	_, _ = io.Copy(io.Discard, in)
	return nil
}
