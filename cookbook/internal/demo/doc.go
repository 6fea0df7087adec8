// Package demo is the scaffolding of the cookbook's recipes: the demo
// servers with their faults, a load generator, the tick loop, a live
// terminal view, a summary, an HTML report and a status page. The wiring a
// user copies — the client, telemetry, shadow traffic, the sentinel and its
// alerts — is in each recipe's main.go; this package only drives it.
//
//	d, err := demo.Start(recipe, opts) // the demo's servers
//	defer d.Stop()
//	// … wire a client to d.Target() and a sentinel with d.SentinelOptions() …
//	res, err := d.Run(ctx, demo.Client{Conn: conn, Split: split, Shadow: sh, Sentinel: s})
package demo
