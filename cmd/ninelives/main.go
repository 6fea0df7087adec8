package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/sentinel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], env{out: os.Stdout, errOut: os.Stderr, getenv: os.Getenv, tty: isTerminal(os.Stdout)})
	stop()
	os.Exit(code)
}

// env is what a run of the program reads and writes besides its
// arguments, so that tests can give their own.
type env struct {
	out, errOut io.Writer
	getenv      func(string) string
	tty         bool // out is a terminal: status --watch redraws in place
}

// The exit codes.
const (
	exitOK           = 0
	exitFailed       = 1 // anything not below
	exitUsage        = 2 // bad command, flag or argument
	exitRefused      = 3 // the rollout's phase does not allow the control
	exitUnauthorized = 4 // the status API refused the token
	exitUnreachable  = 5 // the status API or etcd did not answer
	exitNotApplied   = 6 // no fleet leader applied the command in time
)

// exitError is an error with the exit code it ends the program with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// settings are the flags.
type settings struct {
	server, tokenFlag, tokenFile string
	etcd, prefix                 string
	who, reason, output          string
	watch                        bool
	interval, timeout            time.Duration
	limit                        int
}

func newFlags(s *settings, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ninelives", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprint(out, usage); fs.PrintDefaults() }
	fs.StringVar(&s.server, "server", "", "the status API's URL: where the status page is mounted, such as http://host:8080/rollout")
	fs.StringVar(&s.tokenFlag, "token", "", "the control token (visible to other users of the machine; prefer NINELIVES_TOKEN or --token-file)")
	fs.StringVar(&s.tokenFile, "token-file", "", "a file holding the control token")
	fs.StringVar(&s.etcd, "etcd", "", "etcd endpoints, comma-separated: talk to a fleet instead of a status API")
	fs.StringVar(&s.prefix, "prefix", "", "the fleet rollout's key prefix in etcd, such as /ninelives/orders")
	fs.StringVar(&s.who, "who", "", "who makes the control (default: the OS user)")
	fs.StringVar(&s.reason, "reason", "", "why, recorded with the control")
	fs.StringVar(&s.output, "output", "text", "text or json")
	fs.StringVar(&s.output, "o", "text", "short for --output")
	fs.BoolVar(&s.watch, "watch", false, "status: redraw as the rollout changes, until interrupted")
	fs.BoolVar(&s.watch, "w", false, "short for --watch")
	fs.DurationVar(&s.interval, "interval", time.Second, "status --watch: the time between reads of a status API")
	fs.DurationVar(&s.timeout, "timeout", 10*time.Second, "the longest a request, or a fleet command's application, may take")
	fs.IntVar(&s.limit, "limit", 20, "history: the number of events")
	return fs
}

const usage = `usage: ninelives <command> [flags]

commands:
  status [--watch]   where the rollout stands: phase, plan, weights, verdict, decisions
  pause              hold the weights where they are
  resume             let a paused rollout go on (or start a new build's rollout)
  promote            all the traffic to the candidate now
  abort              all the traffic back to the baseline now
  set-weight N       the candidate's weight in basis points (0..10000); pauses there
  history            the rollout's decisions and controls

talk to one process's status API (--server, token from NINELIVES_TOKEN, --token-file or --token)
or to a fleet in etcd (--etcd, --prefix).

exit codes: 0 done, 1 failed, 2 usage, 3 the phase does not allow it, 4 token refused,
5 unreachable, 6 no fleet leader applied it in time.

flags:
`

// run runs the program and returns its exit code.
func run(ctx context.Context, args []string, e env) int {
	err := runErr(ctx, args, e)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(e.errOut, "ninelives:", strings.TrimPrefix(err.Error(), "ninelives: "))
	var xe *exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	return exitFailed
}

func runErr(ctx context.Context, args []string, e env) error {
	var s settings
	fs := newFlags(&s, e.errOut)
	pos, err := parse(fs, args)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if len(pos) == 0 {
		fs.Usage()
		return fail(exitUsage, "no command given")
	}
	cmd, rest := pos[0], pos[1:]
	if err := s.check(cmd, rest); err != nil {
		return err
	}
	b, err := s.backend(e)
	if err != nil {
		return err
	}
	defer b.close()
	return s.dispatch(ctx, b, cmd, rest, e)
}

// parse reads flags wherever they stand among the arguments, and returns
// the others in order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// commands maps each command to the number of arguments it takes.
var commands = map[string]int{"status": 0, "pause": 0, "resume": 0, "promote": 0, "abort": 0, "set-weight": 1, "history": 0}

// check names the first bad flag or argument.
func (s *settings) check(cmd string, rest []string) error {
	n, ok := commands[cmd]
	switch {
	case !ok:
		return fail(exitUsage, "unknown command %q; want status, pause, resume, promote, abort, set-weight or history", cmd)
	case len(rest) != n:
		return fail(exitUsage, "%s takes %d argument(s), got %d: %q", cmd, n, len(rest), rest)
	case s.output != "text" && s.output != "json":
		return fail(exitUsage, "--output %q: want text or json", s.output)
	case s.watch && cmd != "status":
		return fail(exitUsage, "--watch goes with status only")
	case s.interval <= 0 || s.timeout <= 0:
		return fail(exitUsage, "--interval and --timeout want positive durations")
	case s.limit < 1:
		return fail(exitUsage, "--limit %d: want at least 1", s.limit)
	case (s.server == "") == (s.etcd == ""):
		return fail(exitUsage, "give either --server (a status API) or --etcd with --prefix (a fleet)")
	case s.etcd != "" && s.prefix == "":
		return fail(exitUsage, "--etcd needs --prefix, the rollout's key prefix")
	}
	return nil
}

// weightArg reads set-weight's argument.
func weightArg(a string) (int, error) {
	w, err := strconv.Atoi(a)
	if err != nil || w < 0 || w > balancer.TotalWeight {
		return 0, fail(exitUsage, "set-weight %q: want the candidate's weight in basis points, 0..%d (2500 is 25 %%)", a, balancer.TotalWeight)
	}
	return w, nil
}

// whoOr is --who, or the OS user's name.
func (s *settings) whoOr(getenv func(string) string) string {
	if s.who != "" {
		return s.who
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := getenv("USER"); u != "" {
		return u
	}
	return "operator"
}

// dispatch runs one command.
func (s *settings) dispatch(ctx context.Context, b backend, cmd string, rest []string, e env) error {
	switch cmd {
	case "status":
		if s.watch {
			return s.watchStatus(ctx, b, e)
		}
		return s.showStatus(ctx, b, e.out)
	case "history":
		return s.showHistory(ctx, b, e.out)
	}
	c := control{who: s.whoOr(e.getenv), reason: s.reason}
	switch cmd {
	case "pause":
		c.action = sentinel.ActionPause
	case "resume":
		c.action = sentinel.ActionResume
	case "promote":
		c.action = sentinel.ActionPromote
	case "abort":
		c.action = sentinel.ActionAbort
	case "set-weight":
		w, err := weightArg(rest[0])
		if err != nil {
			return err
		}
		c.action, c.weight = sentinel.ActionSetWeights, &w
	}
	return s.doControl(ctx, b, c, e.out)
}
