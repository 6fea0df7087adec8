package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ninelives-go/ninelives/internal/config"
)

// defaultBinary is where Debian's package puts the server.
const defaultBinary = "/usr/bin/prometheus"

// installScript installs defaultBinary, relative to the repository's root.
const installScript = "scripts/install-prometheus.sh"

// errBadConfig is the kind of the errors of a bad Config.
var errBadConfig = errors.New("ninelives: bad promtest config")

// startTimeout bounds the wait for a new server to be ready; stopTimeout the
// wait for it to exit before it is killed.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Config is what a Server scrapes and how.
type Config struct {
	// Targets are the host:port addresses whose /metrics the server
	// scrapes, in one job.
	Targets []string
	// Job is the job's name (default "ninelives"); it becomes the job label.
	Job string
	// ScrapeInterval is how often the targets are scraped (default 1 s), a
	// whole number of milliseconds, at least 1 ms: Start rejects any other.
	// The scrape timeout is the same.
	ScrapeInterval time.Duration
	// Flags are more command-line flags, such as "--query.max-samples=10".
	Flags []string
	// Binary is the server to run (default /usr/bin/prometheus, where
	// Debian's package puts it).
	Binary string
}

// Server is a running Prometheus.
type Server struct {
	url  string
	dir  string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done

	stopOnce sync.Once
	client   *http.Client
}

// Start writes the configuration into dir, keeps the data under dir/data and
// starts the server on a free 127.0.0.1 port; it returns once the server is
// ready. When the binary is missing, the error says how to install it.
func Start(dir string, cfg Config) (*Server, error) {
	if cfg.Binary == "" {
		cfg.Binary = defaultBinary
	}
	if cfg.Job == "" {
		cfg.Job = "ninelives"
	}
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	if cfg.ScrapeInterval < time.Millisecond || cfg.ScrapeInterval%time.Millisecond != 0 {
		// The configuration holds whole milliseconds: anything else would be
		// written as another interval, "0ms" under one millisecond.
		return nil, config.Errorf(errBadConfig, "ScrapeInterval", cfg.ScrapeInterval, "want a whole number of milliseconds, at least 1ms")
	}
	for i, t := range cfg.Targets {
		if _, _, err := net.SplitHostPort(t); err != nil {
			return nil, config.Errorf(errBadConfig, fmt.Sprintf("Targets[%d]", i), t, "want host:port: %v", err)
		}
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("ninelives: promtest: Prometheus is not installed at %s (%v); run %s as root, or make test, to install Debian's prometheus", cfg.Binary, err, installScript)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, configYAML(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("ninelives: promtest: writing the configuration: %w", err)
	}
	var lastErr error
	for range 3 { // another process may take the free port first
		s, err := start(dir, cfgPath, cfg)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func start(dir, cfgPath string, cfg Config) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}
	args = append(args, cfg.Flags...)
	s := &Server{
		url:    "http://" + addr,
		dir:    dir,
		cmd:    exec.Command(cfg.Binary, args...),
		log:    new(lockedBuffer),
		done:   make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second},
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ninelives: promtest: starting %s: %w", cfg.Binary, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("ninelives: promtest: %s exited before it was ready (%v): %s", cfg.Binary, s.err, s.log.tail())
		default:
		}
		if s.ready() {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("ninelives: promtest: %s was not ready within %v: %s", cfg.Binary, startTimeout, s.log.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// configYAML is the server's configuration: one job scraping the targets.
func configYAML(cfg Config) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global:\n  scrape_interval: %dms\n  scrape_timeout: %dms\n  evaluation_interval: 1m\n",
		cfg.ScrapeInterval.Milliseconds(), cfg.ScrapeInterval.Milliseconds())
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %s\n    static_configs:\n      - targets: [", strconv.Quote(cfg.Job))
	for i, t := range cfg.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(t))
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// ready reports whether the server answers, and is this one: another
// process may have taken the port between freePort and the server's start,
// so the server must show its own storage path.
func (s *Server) ready() bool {
	resp, err := s.client.Get(s.url + "/api/v1/status/flags")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var flags struct {
		Status string            `json:"status"`
		Data   map[string]string `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&flags) != nil {
		return false
	}
	if flags.Data["storage.tsdb.path"] != filepath.Join(s.dir, "data") {
		return false
	}
	r2, err := s.client.Get(s.url + "/-/ready")
	if err != nil {
		return false
	}
	defer r2.Body.Close()
	_, _ = io.Copy(io.Discard, r2.Body)
	return r2.StatusCode == http.StatusOK
}

// URL is the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.url }

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it
// to exit. It may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// value evaluates expr at now and returns its value: the value of a
// scalar, or of a vector's single sample. ok is false when the vector is
// empty. Its errors name the query; WaitValue adds the package's prefix.
func (s *Server) value(ctx context.Context, expr string) (v float64, ok bool, err error) {
	form := url.Values{"query": {expr}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", expr, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", expr, err)
	}
	defer resp.Body.Close()
	var ar struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
		return 0, false, fmt.Errorf("query %s: HTTP %d: %w", expr, resp.StatusCode, err)
	}
	if ar.Status != "success" {
		return 0, false, fmt.Errorf("query %s: %s", expr, ar.Error)
	}
	var pair [2]any
	switch ar.Data.ResultType {
	case "scalar":
		if err := json.Unmarshal(ar.Data.Result, &pair); err != nil {
			return 0, false, fmt.Errorf("query %s: the scalar: %w", expr, err)
		}
	case "vector":
		var vec []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(ar.Data.Result, &vec); err != nil {
			return 0, false, fmt.Errorf("query %s: the vector: %w", expr, err)
		}
		if len(vec) == 0 {
			return 0, false, nil
		}
		if len(vec) > 1 {
			return 0, false, fmt.Errorf("query %s has %d series, want one (wrap it in sum)", expr, len(vec))
		}
		pair = vec[0].Value
	default:
		return 0, false, fmt.Errorf("query %s gives a %s, want a scalar or a vector", expr, ar.Data.ResultType)
	}
	str, _ := pair[1].(string)
	v, err = strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: value %q: %w", expr, str, err)
	}
	return v, true, nil
}

// WaitValue polls expr until its value is want, for as long as ctx allows,
// and returns the last value seen with the error.
func (s *Server) WaitValue(ctx context.Context, expr string, want float64) error {
	var (
		last    float64
		seen    bool
		lastErr error
	)
	for {
		v, ok, err := s.value(ctx, expr)
		if err == nil && ok && v == want {
			return nil
		}
		switch {
		case err == nil:
			last, seen, lastErr = v, ok, nil
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("ninelives: promtest: %s did not reach %v: %w", expr, want, lastErr)
			}
			if !seen {
				return fmt.Errorf("ninelives: promtest: %s did not reach %v: no sample", expr, want)
			}
			return fmt.Errorf("ninelives: promtest: %s did not reach %v: last %v", expr, want, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ninelives: promtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the end of the output, for an error.
func (l *lockedBuffer) tail() string {
	s := strings.TrimSpace(l.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	if s == "" {
		return "no output"
	}
	return s
}
