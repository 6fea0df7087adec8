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
//	tail=RATE          the share of calls, in [0, 1], that take taillatency more
//	taillatency=DURATION
//	price=DELTA        added to every item's price: a changed reply field
//	extra=N            items ListItems streams past the page size (0 or more)
//	failafter=N        ListItems fails with UNAVAILABLE after N items (0: never)
//	hang               every call blocks until its deadline or the fleet stops (no value)
//
// and optionally by @ADDR,ADDR,…, the COUNT addresses its instances listen
// on (a fleet started again where it was); without them each takes a free
// loopback port.
//
// While it runs, demofleet reads commands from its standard input, one a
// line, and answers each with a line "ok" or "error: …":
//
//	faults VERSION FAULTS   every instance of VERSION takes FAULTS (as above; none for none)
//	stop VERSION INDEX      instance INDEX (from 0) of VERSION stops for good, as a
//	                        crash of that server alone would: its connections close and
//	                        its calls in flight fail
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
	fs.Var(&fleet, "fleet", "VERSION=COUNT[:FAULTS][@ADDR,…]; repeat for each version")
	seed := fs.Uint64("seed", 0, "added to the seed of each server's fault generator, so that fleets fail different calls")
	if err := icli.Parse(fs, args); err != nil {
		return err
	}
	for i := range fleet {
		fleet[i].Seed = *seed
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
		commands(f, stdin, stdout)
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

// commands carries out the commands read from stdin until it closes,
// answering each on stdout.
func commands(f *demoserver.Fleet, stdin io.Reader, stdout io.Writer) {
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if err := command(f, sc.Text()); err != nil {
			fmt.Fprintf(stdout, "error: %v\n", err)
		} else {
			fmt.Fprintln(stdout, "ok")
		}
	}
}

// command carries out one command line.
func command(f *demoserver.Fleet, line string) error {
	words := strings.Fields(line)
	if len(words) != 3 || words[0] != "faults" && words[0] != "stop" {
		return fmt.Errorf("ninelives: demofleet: command %q: want faults VERSION FAULTS, or stop VERSION INDEX", line)
	}
	servers := f.Servers(words[1])
	if len(servers) == 0 {
		return fmt.Errorf("ninelives: demofleet: command %q: version %q, want one of %v", line, words[1], f.Versions())
	}
	if words[0] == "stop" {
		i, err := strconv.Atoi(words[2])
		if err != nil || i < 0 || i >= len(servers) {
			return fmt.Errorf("ninelives: demofleet: command %q: index %q, want 0 to %d", line, words[2], len(servers)-1)
		}
		servers[i].Stop()
		return nil
	}
	faults, err := parseFaults(words[2])
	if err != nil {
		return fmt.Errorf("ninelives: demofleet: command %q: %w", line, err)
	}
	f.SetFaults(words[1], faults)
	return nil
}

// ParseSpec reads VERSION=COUNT[:FAULTS][@ADDR,…].
func ParseSpec(v string) (demoserver.VersionSpec, error) {
	var sp demoserver.VersionSpec
	rest, addrs, hasAddrs := strings.Cut(v, "@")
	head, faults, _ := strings.Cut(rest, ":")
	name, count, ok := strings.Cut(head, "=")
	if !ok || name == "" {
		return sp, fmt.Errorf("ninelives: -fleet %q: want VERSION=COUNT[:FAULTS][@ADDR,…]", v)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return sp, fmt.Errorf("ninelives: -fleet %q: count %q, want a whole number of at least 1", v, count)
	}
	sp.Version, sp.Count = name, n
	if hasAddrs {
		if sp.Addrs = strings.Split(addrs, ","); len(sp.Addrs) != n {
			return sp, fmt.Errorf("ninelives: -fleet %q: %d addresses for a count of %d, want one per instance", v, len(sp.Addrs), n)
		}
	}
	if faults == "" {
		return sp, nil
	}
	if sp.Faults, err = parseFaults(faults); err != nil {
		return sp, fmt.Errorf("ninelives: -fleet %q: %w", v, err)
	}
	return sp, nil
}

// parseFaults reads a comma-separated list of faults, or none.
func parseFaults(list string) (demoserver.Faults, error) {
	var faults demoserver.Faults
	if list == "none" {
		return faults, nil
	}
	for _, f := range strings.Split(list, ",") {
		key, val, hasVal := strings.Cut(f, "=")
		if err := setFault(&faults, key, val, hasVal); err != nil {
			return faults, fmt.Errorf("fault %q: %v", f, err)
		}
	}
	return faults, nil
}

// setFault sets the fault key to val.
func setFault(f *demoserver.Faults, key, val string, hasVal bool) error {
	var err error
	switch key {
	case "errors":
		f.ErrorRate, err = rate(val)
	case "latency":
		f.Latency, err = duration(key, val)
	case "tail":
		f.TailRate, err = rate(val)
	case "taillatency":
		f.TailLatency, err = duration(key, val)
	case "price":
		f.PriceDelta, err = strconv.ParseInt(val, 10, 64)
	case "extra":
		f.ExtraItems, err = items(key, val)
	case "failafter":
		f.FailAfterItems, err = items(key, val)
	case "hang":
		if hasVal {
			err = fmt.Errorf("hang takes no value, got %q", val)
		}
		f.Hang = true
	default:
		err = errors.New("want errors=RATE, latency=DURATION, tail=RATE, taillatency=DURATION, price=DELTA, extra=N, failafter=N or hang")
	}
	return err
}

// rate reads a share of calls, in [0, 1].
func rate(val string) (float64, error) {
	r, err := strconv.ParseFloat(val, 64)
	if err == nil && !(r >= 0 && r <= 1) {
		err = errors.New("want a rate in [0, 1]")
	}
	return r, err
}

// duration reads a fault's duration, 0 or more.
func duration(key, val string) (time.Duration, error) {
	d, err := time.ParseDuration(val)
	if err == nil && d < 0 {
		err = fmt.Errorf("%s %s is negative, want a duration of 0 or more", key, val)
	}
	return d, err
}

// items reads a fault's count of items, 0 or more.
func items(key, val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err == nil && n < 0 {
		err = fmt.Errorf("%s %s is negative, want a whole number of items, 0 or more", key, val)
	}
	return n, err
}
