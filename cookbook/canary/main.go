// Command canary is the ninelives canary recipe: three stable and three
// canary demo servers on loopback, a client that splits its calls between
// them, shadow copies of the read-only method, and the sentinel moving the
// canary's weight step by step — or rolling it back, with an alert, the
// moment the statistics say it is worse.
//
//	go run ./cookbook/canary                     # an error regression, caught and rolled back
//	go run ./cookbook/canary -regression none    # a healthy canary, promoted to 100 %
//	go run ./cookbook/canary -regression latency -metrics-addr 127.0.0.1:9464
package main

import (
	_ "embed"
	"flag"
	"os"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
	"github.com/ninelives-go/ninelives/sentinel/script"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:]), os.Stderr)) }

func run(args []string) error {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	regression := fs.String("regression", "errors", "what is wrong with the canary: none, errors, latency, diff or hang")
	flags := demo.AddFlags(fs, 500, "canary-report.html")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	reg, err := demo.ParseRegression(*regression)
	if err != nil {
		return err
	}
	return flags.Main(Recipe(), reg)
}

// Recipe is the canary recipe: the demo's settings of the strategy and the
// judge.
func Recipe() *demo.Recipe {
	return &demo.Recipe{
		Name:            "canary",
		Baseline:        "stable",
		Candidate:       "canary",
		Instances:       3,
		CandidateFaults: func(r demo.Regression) demoserver.Faults { return r.Faults() },
		ShadowRate:      0.2,
		Judge:           judge.Config{EnableShadow: true},
		Strategy: func(*demo.Env) (sentinel.Strategy, error) {
			return Policy()
		},
	}
}

// policy is the recipe's meta-policy script.
//
//go:embed canary.star
var policy string

// Policy is canary.star with the demo's steps: 10 %, 25 %, 50 %, then
// 100 %, each at least 5 s and 200 canary calls long, so that a healthy run
// takes about half a minute.
func Policy() (*script.Script, error) {
	return script.New("canary.star", policy, script.WithParams(map[string]any{
		"steps":            []int{1000, 2500, 5000, 10000},
		"min_step_seconds": 5,
		"min_step_calls":   200,
	}))
}
