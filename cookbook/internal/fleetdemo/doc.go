// Package fleetdemo is the scaffolding of the cookbook's fleet recipe: an
// embedded etcd, the demo's servers, the run's key prefix, the replicas'
// load, the sentinels' election with a leader killed on the way, the
// regression, the live view and the summary. The wiring of a replica and of
// a sentinel, which a user copies, is in the recipe's main.go and comes in
// through Wiring.
package fleetdemo
