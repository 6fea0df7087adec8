// Command ninelives watches and controls a rollout: one process's, through
// its status page's API (package statuspage), or a whole fleet's, through
// etcd (package fleet).
//
//	go install github.com/ninelives-go/ninelives/cmd/ninelives@latest
//
//	ninelives status --watch --server http://orders-1:8080/rollout
//	NINELIVES_TOKEN=… ninelives pause --server http://orders-1:8080/rollout --reason "checking the dashboards"
//	ninelives set-weight 2500 --etcd http://etcd:2379 --prefix /ninelives/orders
//	ninelives history --etcd http://etcd:2379 --prefix /ninelives/orders
//
// Commands: status [--watch], pause, resume, promote, abort, set-weight N
// (basis points; it pauses there), history. --output json prints JSON for
// scripts (status --watch: one document a line). status --watch redraws
// in place on a terminal, at each change of a fleet's status (the leader
// writes it with each tick) or every --interval for a status API.
//
// A control records --who (default: the OS user) and --reason. Through a
// status API it needs the control token: from --token-file, --token (seen
// by other users of the machine) or NINELIVES_TOKEN; the token is never
// printed. Through etcd it is a command the fleet's leader applies at its
// next tick; the command waits at most --timeout, then is withdrawn.
//
// Exit codes: 0 done; 1 failed; 2 a bad command, flag or argument; 3 the
// rollout's phase does not allow the control; 4 the status API refused
// the token; 5 the status API or etcd did not answer; 6 no fleet leader
// applied the command in time (it was withdrawn).
package main
