// Package warmup makes calls against every endpoint of a version: ForkJoin
// fans one call out to a list of endpoints and joins the results, and
// Version repeats warm-up calls against each READY endpoint of a version
// until it answers well, returning the Report that gates a blue/green
// cut-over.
//
//	rep, err := warmup.Version(ctx, cc, split, "green", warmup.Config{
//		Calls:          []warmup.CallFunc{getItem},
//		SuccessesInRow: 5,
//		LatencyCeiling: 50 * time.Millisecond,
//	})
//	if err == nil && rep.Passed {
//		// cut over
//	}
//
// Every call is forced to its endpoint (as balancer.ForceEndpoint forces a
// call) and carries the role "warmup", so telemetry keeps it apart from the
// service's traffic and a shadow never copies it. ForkJoin joins by JoinAll
// (the default), JoinQuorum or JoinFirst; a quorum that is met, or can no
// longer be met, cancels the calls still running:
//
//	res, err := warmup.ForkJoin(ctx, cc, split.ReadyEndpoints("green"), invalidateCache,
//		warmup.WithJoin(warmup.JoinQuorum(2)))
//
// For(cc, split, cfg) is Version as a Func of the version alone, the shape
// a blue/green strategy's gate takes (sentinel.BlueGreenConfig.Warmup).
//
// A warm-up never fails for an endpoint's fault: that is in the Report, per
// endpoint, with the reason. Errors are for bad arguments only (a
// *balancer.ConfigError wrapping ErrBadConfig) and, for ForkJoin, a join
// whose policy was not met (ErrJoinFailed) or a context that ended.
package warmup
