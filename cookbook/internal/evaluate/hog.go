package evaluate

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// HogFlag is the harness's flag that makes its program the CPU hog: busy
// loops on every core for the flag's duration, or until its standard
// input closes.
const HogFlag = "hog-for"

// Hog keeps every core busy until d has passed or stop is closed.
func Hog(d time.Duration, stop <-chan struct{}) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() { spin(deadline, stop) })
	}
	wg.Wait()
}

// sink keeps the busy loops' sums, so that no compiler drops them.
var sink atomic.Int64

func spin(deadline time.Time, stop <-chan struct{}) {
	var x int64
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			sink.Add(x)
			return
		default:
		}
		for i := range int64(1 << 20) {
			x += i
		}
	}
	sink.Add(x)
}

// hogProcess is the CPU hog in a process of its own: this program, run
// with -hog-for.
type hogProcess struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
}

// startHog starts the hog for at most d.
func startHog(d time.Duration) (*hogProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("ninelives: evaluate: the hog: %w", err)
	}
	cmd := exec.Command(self, "-"+HogFlag, strconv.FormatInt(int64(d/time.Second), 10)+"s")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("ninelives: evaluate: the hog: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ninelives: evaluate: starting the hog: %w", err)
	}
	h := &hogProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(h.exited)
	}()
	return h, nil
}

// stop ends the hog: its standard input closes, and it is killed if it
// has not exited 5 s later.
func (h *hogProcess) stop() {
	_ = h.stdin.Close()
	select {
	case <-h.exited:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
}
