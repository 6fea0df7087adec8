package promsource_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ninelives-go/ninelives/telemetry/promsource/promtest"
)

// The tests share two Prometheus servers, started by the first test that
// needs one (a new server scrapes its targets only after about 5 s): one
// scraping a pool of targets that each test takes its own of, and a strict
// one that refuses any query loading more than five samples.
const (
	// Each test takes fresh targets: a target's old series would mix with a
	// new client's (a counter that restarts and climbs past its old value is
	// undercounted, as in Prometheus itself). 24 is enough for three runs
	// of every test (-count=3).
	targets        = 24
	scrapeInterval = 100 * time.Millisecond
)

var shared struct {
	once     sync.Once
	err      error
	dir      string
	srv      *promtest.Server
	strict   *promtest.Server
	pool     []*promtest.Target
	strictTg *promtest.Target
	next     atomic.Int32
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// prometheus returns the shared server, starting it the first time, and
// fails the test when it cannot: a missing binary is never a skip.
func prometheus(t *testing.T) *promtest.Server {
	t.Helper()
	startShared()
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// strictPrometheus returns the server that allows five samples per query and
// the target it scrapes.
func strictPrometheus(t *testing.T) (*promtest.Server, *promtest.Target) {
	t.Helper()
	prometheus(t)
	return shared.strict, shared.strictTg
}

// target gives the test a target of its own, scraped by the shared server.
func target(t *testing.T) *promtest.Target {
	t.Helper()
	prometheus(t)
	i := int(shared.next.Add(1)) - 1
	if i >= len(shared.pool) {
		t.Fatalf("the tests take more than the %d targets of the shared Prometheus (each test takes fresh ones; use -count 3 or less)", len(shared.pool))
	}
	tg := shared.pool[i]
	t.Cleanup(func() { tg.Set(nil) })
	return tg
}

func startShared() {
	shared.once.Do(func() { shared.err = start() })
}

func start() error {
	dir, err := os.MkdirTemp("", "promsource-test-")
	if err != nil {
		return err
	}
	shared.dir = dir
	var addrs []string
	for range targets {
		tg, err := promtest.NewTarget()
		if err != nil {
			return err
		}
		shared.pool = append(shared.pool, tg)
		addrs = append(addrs, tg.Addr())
	}
	if shared.strictTg, err = promtest.NewTarget(); err != nil {
		return err
	}
	for _, sub := range []string{"shared", "strict"} {
		if err := os.Mkdir(dir+"/"+sub, 0o755); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var strictErr error
	wg.Go(func() {
		shared.strict, strictErr = promtest.Start(dir+"/strict", promtest.Config{
			Targets: []string{shared.strictTg.Addr()}, ScrapeInterval: scrapeInterval,
			Flags: []string{"--query.max-samples=5"},
		})
	})
	shared.srv, err = promtest.Start(dir+"/shared", promtest.Config{Targets: addrs, ScrapeInterval: scrapeInterval})
	wg.Wait()
	if err != nil {
		return err
	}
	if strictErr != nil {
		return strictErr
	}
	// Wait for the first scrapes, so that the tests do not each wait.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.srv.WaitValue(ctx, `count(up == 1)`, targets); err != nil {
		return err
	}
	return shared.strict.WaitValue(ctx, `up`, 1)
}

func stopShared() {
	for _, s := range []*promtest.Server{shared.srv, shared.strict} {
		if s != nil {
			s.Stop()
		}
	}
	for _, tg := range append(shared.pool, shared.strictTg) {
		if tg != nil {
			_ = tg.Close()
		}
	}
	if shared.dir != "" && strings.Contains(shared.dir, "promsource-test-") {
		_ = os.RemoveAll(shared.dir)
	}
}
