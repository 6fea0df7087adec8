// Package chaos is the scaffolding of make chaos and make soak, which run
// the whole client stack (split, telemetry, shadow, rescue, sentinel) and
// a fleet on embedded etcd under load, against demo servers that each run
// in a process of their own:
//
//   - servers.go: the servers, one demofleet process each, killed, started
//     again where they were, or given faults (a hang);
//   - stack.go, fleet.go: a client process as a service wires it, and a
//     fleet's replicas and leader;
//   - load.go: calls at a steady rate, open loop, each recorded;
//   - scenario.go, scenarios.go, fleetscenarios.go: what each chaos
//     scenario does, asserts and prints;
//   - soak.go, plot.go: rollouts back to back, sampled each minute, a
//     table and a PNG plot.
//
// The commands are in cmd/chaos and cmd/soak.
package chaos
