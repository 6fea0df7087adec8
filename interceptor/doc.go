// Package interceptor holds the gRPC client interceptors of ninelives: shadow
// traffic with response comparison, and fork-join fan-out with the warm-up
// built on it.
//
// # Shadow traffic
//
// A Shadow copies a sample of a client's calls to a candidate version on the
// same connection (through balancer.ForceVersion, with the role "shadow"),
// compares each copy's reply with the primary's, and records the outcome:
//
//	shadow, err := interceptor.NewShadow(interceptor.ShadowConfig{
//		Candidate:    "canary",
//		Baseline:     "stable", // optional: learns noisy fields
//		Rate:         0.1,
//		IgnoreFields: []string{"served_by"},
//		Metrics:      metrics, // telemetry's *Metrics, or any ShadowMetrics
//	})
//	if err != nil {
//		return err
//	}
//	defer shadow.Close(context.Background())
//	cc, err := grpc.NewClient(target,
//		balancer.WithSplit(split),
//		grpc.WithChainUnaryInterceptor(shadow.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(shadow.StreamClientInterceptor()),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// The primary call never changes: a unary copy starts after the primary has
// returned, on its own goroutine; a stream's copy runs beside it, fed from a
// bounded buffer. Copies are detached from the primary's cancellation
// (context.WithoutCancel keeps its values and metadata), have their own
// deadline, carry the ShadowHeader metadata and hold one of MaxConcurrent
// slots. Close (or Wait) waits for them.
//
// Only methods that are safe to repeat are copied: those whose descriptor in
// the protobuf registry says idempotency_level NO_SIDE_EFFECTS or
// IDEMPOTENT, and those listed in ShadowConfig.Methods. The decision is
// cached per method.
//
// The order of the decisions for each call is: sampling (calls left out are
// not counted), the call's role (copies and warm-ups are never copied),
// safety (DropUnsafeMethod), a primary forced to the candidate (skipped), a
// primary whose deadline has passed (DropTimeout), the concurrency bound
// (DropConcurrency). Once the primary has picked its
// endpoint, a primary that went to the candidate itself is skipped too:
// comparing the candidate with itself says nothing. Skipped calls are counted
// in ShadowStats.SkippedOnCandidate, not as drops.
//
// # Comparison and noise
//
// Replies are compared with protobuf equality after clearing
// ShadowConfig.IgnoreFields, and the differing field paths are reported
// (Diff). Status codes are compared too: see the Result constants.
//
// With a Baseline, a call whose primary went to the baseline gets a second
// copy to the baseline, as Twitter's Diffy does: the fields that differ
// between the two baseline replies are noise. Noise counts for the call
// itself and is learned per method (a path stays noisy while it differed in
// at least NoiseMinCount of the last NoiseWindow baseline comparisons), so
// that a timestamp that changes on every reply is not a mismatch while a
// changed price still is. NoisyFields reports what was learned; Mismatches
// the last mismatches and shadow errors.
//
// # Fork-join and warm-up
//
// ForkJoin makes one call against each of a list of endpoints concurrently
// (balancer.ForceEndpoint, role "warmup") and joins by JoinAll, JoinQuorum
// or JoinFirst; ReadyTargets lists a version's READY endpoints. Warmup and
// WarmupVersion repeat warm-up calls against every endpoint until each has a
// run of good calls under a latency ceiling, and return the WarmupReport
// that gates a blue/green cut-over:
//
//	rep, err := interceptor.WarmupVersion(ctx, cc, split, "green", interceptor.WarmupConfig{
//		Calls:          []interceptor.CallFunc{getItem},
//		SuccessesInRow: 5,
//		LatencyCeiling: 50 * time.Millisecond,
//	})
//	if err == nil && rep.Passed {
//		// cut over
//	}
package interceptor
