// Package fleettest runs real etcd servers in-process, on loopback, for the
// fleet's tests and demos: one member, or a cluster of several, each with
// its data in a directory of its own, that can be stopped and started again
// on the same ports with the same data.
//
//	srv, err := fleettest.Start(t.TempDir())
//	defer srv.Stop()
//	client, err := fleettest.Client(srv.Endpoint())
//	defer client.Close()
//
// The members use a 10 ms heartbeat and a 100 ms election timeout, so a
// lost member is replaced quickly and a 1 s lease is allowed. Clients reach
// each member through a loopback relay that Stop cuts first, as a crash
// would: etcd's own graceful stop waits seconds for open watches.
package fleettest
