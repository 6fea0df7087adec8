// Package evaluate is the harness behind make evaluate (cookbook/evaluate):
// it measures the sentinel's verdicts on real servers (contract 9). Each
// run starts a baseline's and a candidate's demo servers in demofleet
// processes of their own on loopback, wires the README's client stack
// around them (the split with sticky users, telemetry, the shadow
// interceptor, the sentinel with the default judge and the default canary
// or blue/green strategy, its steps time-compressed), drives an open load
// of the demo's calls, carries out the scenario's events (faults, kills
// and restores) and notes what the rollout decided, after how many
// candidate calls and how many failed user calls. Runs share the machine
// in parallel, first with the CPU hog off, then on: busy loops on every
// core in a process of its own.
//
//	scenario.go, scenarios.go  what a run does: wiring, rates, steps, faults, events, counts, goal
//	wire.go                    the client stack of a run
//	servers.go, load.go        the demo servers in their processes; the open load
//	run.go, watch.go           one run: its servers, client, load and sentinel; the events
//	execute.go, hog.go         the runs within the limits; the CPU hog
//	table.go, goals.go         the rows of the table, each with its goal met or missed
//	report.go, program.go      the markdown and CSV files; the program's flags (flags.go)
//
// The full run's counts are the goals' (at least 100 A/A canaries and 50
// A/A blue/greens under the hog); -quick makes two runs of each scenario
// in a few minutes. The figures in the README come from a full run, with
// the command, the machine and its load average, which the report states.
package evaluate
