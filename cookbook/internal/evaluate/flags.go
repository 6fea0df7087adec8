package evaluate

import (
	"errors"
	"flag"
	"io"
	"path/filepath"
	"regexp"
	"time"

	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/internal/config"
)

// Config is a harness run's settings, from its flags.
type Config struct {
	Quick  bool
	Limits Limits
	Only   *regexp.Regexp // the scenarios to run; nil: all
	Runs   int            // > 0: runs per scenario and hog state
	Seed   uint64
	Hog    string // off, on or both
	Trace  bool   // print each run's decisions and events
	// Markdown, CSV and RunsCSV are the files the table, and each run,
	// are written to.
	Markdown, CSV, RunsCSV string
	Demofleet              string        // "": built at the start
	Interval               time.Duration // the sentinel's tick; 0: its default
	// Rescue adds interceptor/rescue to the wiring, after the shadow
	// interceptor: not the README's wiring.
	Rescue bool
	// HogFor, if set, makes the program the CPU hog for that long.
	HogFor time.Duration
}

// OutDir is the default folder of the harness's files (git ignores it).
const OutDir = "evaluate-out"

// ParseFlags reads the harness's flags; errors name the flag and value.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.Quick, "quick", false, "a few runs of each scenario, a shorter late break: ≤ 5 min")
	fs.IntVar(&c.Limits.Runs, "parallel", 28, "the most rollouts run at once (they share the CPU)")
	fs.IntVar(&c.Limits.Rate, "rate-budget", 6000, "the most calls a second of the rollouts run at once, summed")
	fs.IntVar(&c.Limits.HogRate, "hog-rate-budget", 4800, "-rate-budget while the CPU hog runs (it takes part of the machine)")
	only := fs.String("only", "", "run only the scenarios whose name matches this regular expression")
	fs.IntVar(&c.Runs, "runs", 0, "runs per scenario and hog state (0: each scenario's own counts)")
	fs.Uint64Var(&c.Seed, "seed", 1, "the first run's seed; the others follow")
	fs.StringVar(&c.Hog, "hog", "both", "run with the CPU hog off, on or both")
	fs.BoolVar(&c.Trace, "trace", false, "print each run's decisions and events")
	fs.StringVar(&c.Markdown, "md", "", "write the table as markdown here (default "+OutDir+"/full.md, or quick.md)")
	fs.StringVar(&c.CSV, "csv", "", "write the table as CSV here (default beside -md, .csv)")
	fs.StringVar(&c.RunsCSV, "runs-csv", "", "write every run as CSV here (default beside -md, -runs.csv)")
	fs.StringVar(&c.Demofleet, "demofleet", "", "the demofleet program (default: built with go build at the start)")
	fs.DurationVar(&c.Interval, "interval", 0, "the sentinel's tick, sentinel.WithInterval (default: the sentinel's own, 1 s)")
	fs.BoolVar(&c.Rescue, "rescue", false, "add interceptor/rescue to the README's wiring: the candidate's failed and late calls of methods safe to repeat are resent to the baseline")
	fs.DurationVar(&c.HogFor, HogFlag, 0, "be the CPU hog for this long (the harness runs itself so)")
	if err := cli.Parse(fs, args); err != nil {
		return c, err
	}
	return c, c.check(*only)
}

// ErrBadFlag is the kind of every bad flag's error.
var ErrBadFlag = errors.New("ninelives: evaluate: bad flag")

func (c *Config) check(only string) error {
	var err error
	switch {
	case c.Limits.Runs < 1:
		return config.Errorf(ErrBadFlag, "-parallel", c.Limits.Runs, "want at least 1")
	case c.Limits.Rate < 1:
		return config.Errorf(ErrBadFlag, "-rate-budget", c.Limits.Rate, "want at least 1 call a second")
	case c.Limits.HogRate < 1:
		return config.Errorf(ErrBadFlag, "-hog-rate-budget", c.Limits.HogRate, "want at least 1 call a second")
	case c.Runs < 0:
		return config.Errorf(ErrBadFlag, "-runs", c.Runs, "want 0 (each scenario's own) or more")
	case c.Hog != "off" && c.Hog != "on" && c.Hog != "both":
		return config.Errorf(ErrBadFlag, "-hog", c.Hog, "want off, on or both")
	case c.Interval < 0:
		return config.Errorf(ErrBadFlag, "-interval", c.Interval, "want a positive duration, or 0 for the sentinel's default")
	case c.HogFor < 0:
		return config.Errorf(ErrBadFlag, "-"+HogFlag, c.HogFor, "want a positive duration")
	}
	if only != "" {
		if c.Only, err = regexp.Compile(only); err != nil {
			return config.Errorf(ErrBadFlag, "-only", only, "%v", err)
		}
	}
	if c.Rescue {
		for _, sc := range c.Scenarios() {
			if sc.Wiring == BlueGreen {
				return config.Errorf(ErrBadFlag, "-rescue", c.Rescue, "the harness wires the rescue interceptor for canaries, and %s is a blue/green (its versions would need swapping at the cut-over): leave it out with -only", sc.Name)
			}
		}
	}
	c.defaultFiles()
	return nil
}

// defaultFiles fills the files not given.
func (c *Config) defaultFiles() {
	if c.Markdown == "" {
		name := "full.md"
		if c.Quick {
			name = "quick.md"
		}
		c.Markdown = filepath.Join(OutDir, name)
	}
	base := c.Markdown[:len(c.Markdown)-len(filepath.Ext(c.Markdown))]
	if c.CSV == "" {
		c.CSV = base + ".csv"
	}
	if c.RunsCSV == "" {
		c.RunsCSV = base + "-runs.csv"
	}
}

// Scenarios are the scenarios the config asks for, with their counts.
func (c Config) Scenarios() []*Scenario {
	var out []*Scenario
	for _, sc := range Scenarios(c.Quick) {
		if c.Only == nil || c.Only.MatchString(sc.Name) {
			out = append(out, sc)
		}
	}
	return out
}

// Jobs are the config's runs, the hog off ([0]) and on ([1]).
func (c Config) Jobs() [2][]Job {
	jobs := Jobs(c.Scenarios(), c.Runs, c.Seed-1)
	for _, lot := range jobs {
		for i := range lot {
			lot[i].Trace = c.Trace
		}
	}
	switch c.Hog {
	case "off":
		jobs[1] = nil
	case "on":
		jobs[0] = nil
	}
	return jobs
}
