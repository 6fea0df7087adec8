// Command demofleet runs a fleet of demo servers on loopback until it is
// interrupted or its standard input closes, and prints the fleet's composite
// target, so that clients in other processes can use it:
//
//	go run ./proto/demoserver/cmd/demofleet -fleet stable=3 -fleet canary=3:errors=0.05,latency=5ms
//	target: ninelives:///stable=passthrough:///127.0.0.1:41231;…
//
// Each -fleet flag is VERSION=COUNT, optionally followed by :FAULTS, a
// comma-separated list of
//
//	errors=RATE        the share of calls, in [0, 1], that fail with UNAVAILABLE
//	latency=DURATION   added to every call (0 or more, such as 5ms)
//	price=DELTA        added to every item's price: a changed reply field
//	extra=N            items ListItems streams past the page size (0 or more)
//	failafter=N        ListItems fails with UNAVAILABLE after N items (0: never)
//	hang               every call blocks until its deadline or the fleet stops (no value)
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	icli "github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/proto/demoserver"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cli runs demofleet and returns its exit status: 0 when it ends as asked
// or after -h, 1 after an error, printed once on stderr.
func cli(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return icli.ExitCode(run(args, stdin, stdout, stderr), stderr)
}

type specs []demoserver.VersionSpec

func (s *specs) String() string { return fmt.Sprint(*s) }

func (s *specs) Set(v string) error {
	sp, err := ParseSpec(v)
	if err != nil {
		return err
	}
	*s = append(*s, sp)
	return nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demofleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fleet specs
	fs.Var(&fleet, "fleet", "VERSION=COUNT[:FAULTS]; repeat for each version")
	if err := icli.Parse(fs, args); err != nil {
		return err
	}
	if len(fleet) == 0 {
		return errors.New("ninelives: demofleet: give at least one -fleet VERSION=COUNT")
	}
	f, err := demoserver.StartFleet(fleet...)
	if err != nil {
		return err
	}
	defer f.Stop()
	fmt.Fprintf(stdout, "target: %s\n", f.Target())

	done := make(chan struct{})
	go func() { // a closed standard input ends the fleet
		_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-done:
	case <-sig:
	}
	return nil
}

// ParseSpec reads VERSION=COUNT[:FAULTS].
func ParseSpec(v string) (demoserver.VersionSpec, error) {
	var sp demoserver.VersionSpec
	head, faults, _ := strings.Cut(v, ":")
	name, count, ok := strings.Cut(head, "=")
	if !ok || name == "" {
		return sp, fmt.Errorf("ninelives: -fleet %q: want VERSION=COUNT[:FAULTS]", v)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return sp, fmt.Errorf("ninelives: -fleet %q: count %q, want a whole number of at least 1", v, count)
	}
	sp.Version, sp.Count = name, n
	if faults == "" {
		return sp, nil
	}
	for _, f := range strings.Split(faults, ",") {
		key, val, hasVal := strings.Cut(f, "=")
		var err error
		switch key {
		case "errors":
			sp.Faults.ErrorRate, err = strconv.ParseFloat(val, 64)
			if err == nil && !(sp.Faults.ErrorRate >= 0 && sp.Faults.ErrorRate <= 1) {
				err = errors.New("want a rate in [0, 1]")
			}
		case "latency":
			sp.Faults.Latency, err = time.ParseDuration(val)
			if err == nil && sp.Faults.Latency < 0 {
				err = fmt.Errorf("latency %s is negative, want a duration of 0 or more", val)
			}
		case "price":
			sp.Faults.PriceDelta, err = strconv.ParseInt(val, 10, 64)
		case "extra":
			sp.Faults.ExtraItems, err = items(key, val)
		case "failafter":
			sp.Faults.FailAfterItems, err = items(key, val)
		case "hang":
			if hasVal {
				err = fmt.Errorf("hang takes no value, got %q", val)
			}
			sp.Faults.Hang = true
		default:
			err = errors.New("want errors=RATE, latency=DURATION, price=DELTA, extra=N, failafter=N or hang")
		}
		if err != nil {
			return sp, fmt.Errorf("ninelives: -fleet %q: fault %q: %v", v, f, err)
		}
	}
	return sp, nil
}

// items reads a fault's count of items, 0 or more.
func items(key, val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err == nil && n < 0 {
		err = fmt.Errorf("%s %s is negative, want a whole number of items, 0 or more", key, val)
	}
	return n, err
}
