// Command bluegreen is the ninelives blue/green recipe: blue serving, green
// started beside it and warmed up through fork-join calls to every one of its
// servers, a shadow grace period comparing green's replies with blue's, the
// cut-over in one step, and a rollback window in which green is judged
// against blue over the same seconds — blue keeping a tenth of the traffic
// and its connections, so that a rollback is instant.
//
//	go run ./cookbook/bluegreen                 # a healthy green takes over
//	go run ./cookbook/bluegreen -green-fails    # green breaks after the cut-over: back to blue
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/ninelives-go/ninelives/cookbook/internal/demo"
	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/internal/cli"
	"github.com/ninelives-go/ninelives/proto/demoserver"
	demov1 "github.com/ninelives-go/ninelives/proto/ninelives/demo/v1"
	"github.com/ninelives-go/ninelives/sentinel"
)

func main() { os.Exit(cli.ExitCode(run(os.Args[1:]), os.Stderr)) }

func run(args []string) error {
	fs := flag.NewFlagSet("bluegreen", flag.ContinueOnError)
	greenFails := fs.Bool("green-fails", false, "make green fail 20 % of its calls right after the cut-over")
	flags := demo.AddFlags(fs, 300, "bluegreen-report.html")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return flags.Main(Recipe(*greenFails), regression(*greenFails))
}

// GreenFailure is what green does wrong after the cut-over with -green-fails.
var GreenFailure = demoserver.Faults{Latency: demo.BaseLatency, ErrorRate: 0.2}

func regression(greenFails bool) demo.Regression {
	if greenFails {
		return demo.RegressionErrors
	}
	return demo.RegressionNone
}

// describe says what green does from the cut-over on with the faults
// after (nil: nothing changes), for the view's header and the report: the
// shared regressions' words are the canary's.
func describe(after *demoserver.Faults) string {
	var what []string
	if after != nil {
		f := *after
		if f.ErrorRate > 0 {
			what = append(what, fmt.Sprintf("fails %g %% of its calls with UNAVAILABLE", 100*f.ErrorRate))
		}
		if f.Latency != demo.BaseLatency {
			what = append(what, fmt.Sprintf("takes %v a call instead of %v", f.Latency, demo.BaseLatency))
		}
		if f.PriceDelta != 0 {
			what = append(what, "answers GetItem with another price")
		}
		if f.ExtraItems > 0 {
			what = append(what, fmt.Sprintf("streams %d items too many from ListItems", f.ExtraItems))
		}
		if f.Hang {
			what = append(what, "hangs every call until its deadline")
		}
	}
	if len(what) == 0 {
		return "green is as good as blue"
	}
	return "green passes its warm-up and shadow gates, then " + strings.Join(what, " and ") + " from the cut-over on"
}

// settings are the recipe's knobs that a test turns: what green does from
// the cut-over on, and the latency thresholds of its gates.
type settings struct {
	// after, if set, replaces green's faults at the cut-over.
	after *demoserver.Faults
	// warmupCeiling is the slowest a good warm-up call may be.
	warmupCeiling time.Duration
	// latencyMargin is BlueGreenConfig.LatencyMargin: how much slower than
	// 1.5× blue's p99 green's calls may be in the rollback window.
	latencyMargin time.Duration
}

// defaults are the program's settings: a warm-up call must take under
// 50 ms, and green's p99 may be 1.5× blue's plus 10 ms.
var defaults = settings{warmupCeiling: 50 * time.Millisecond, latencyMargin: 10 * time.Millisecond}

// Recipe is the blue/green recipe. With greenFails, green starts healthy (so
// it passes its warm-up and shadow gates) and starts failing the moment it
// takes the traffic.
func Recipe(greenFails bool) *demo.Recipe {
	st := defaults
	if greenFails {
		st.after = &GreenFailure
	}
	return newRecipe(st)
}

func newRecipe(st settings) *demo.Recipe {
	return &demo.Recipe{
		Name:            "bluegreen",
		Baseline:        "blue",
		Candidate:       "green",
		Instances:       3,
		CandidateFaults: func(demo.Regression) demoserver.Faults { return demo.RegressionNone.Faults() },
		// The grace period turns the shadow on; none before.
		ShadowRate: 0,
		Strategy: func(env *demo.Env) (sentinel.Strategy, error) {
			return sentinel.NewBlueGreen(config(env.Conn, env, st))
		},
		OnEvent: func(env *demo.Env, e sentinel.Event) {
			if st.after != nil && e.Phase == sentinel.PhaseProgressing && cutOver(e) {
				env.Fleet.SetFaults("green", *st.after)
			}
		},
		Describe: func(demo.Regression) string { return describe(st.after) },
	}
}

// cutOver reports whether the event is the cut-over: green has all the
// traffic but the share blue keeps through the rollback window.
func cutOver(e sentinel.Event) bool {
	return e.StepName == sentinel.StepCutover && e.Weight("green") > 0
}

// Config is the demo's blue/green settings: a warm-up of five good GetItem
// calls in a row under 50 ms on every green server, a 5 s shadow grace
// period, and a 10 s rollback window.
func Config(cc *grpc.ClientConn, env *demo.Env) sentinel.BlueGreenConfig {
	return config(cc, env, defaults)
}

func config(cc *grpc.ClientConn, env *demo.Env, st settings) sentinel.BlueGreenConfig {
	getItem := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := demov1.NewDemoServiceClient(cc).GetItem(ctx, &demov1.GetItemRequest{Id: "warmup"})
		return err
	}
	return sentinel.BlueGreenConfig{
		Warmup: sentinel.WarmupOn(cc, env.Split, warmup.Config{
			Calls:          []warmup.CallFunc{getItem},
			SuccessesInRow: 5,
			LatencyCeiling: st.warmupCeiling,
		}),
		WarmupTimeout:        30 * time.Second,
		Shadow:               env.Shadow,
		ShadowRate:           0.5,
		ShadowGrace:          5 * time.Second,
		ShadowMinComparisons: 200,
		BaselineSpan:         time.Minute,
		RollbackWindow:       10 * time.Second,
		RollbackMinCalls:     500,
		LatencyMargin:        st.latencyMargin,
	}
}
