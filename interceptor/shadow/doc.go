// Package shadow copies a sample of a gRPC client's calls to a candidate
// version, compares each copy's reply with the primary's, learns which
// fields are noise, and keeps a log of the mismatches.
//
// An Interceptor sends its copies on the same connection (forced to the
// candidate as balancer.ForceVersion forces a call, with the role
// "shadow", so telemetry keeps them apart) and records each outcome:
//
//	sh, err := shadow.New(shadow.Config{
//		Candidate:    "canary",
//		Baseline:     "stable", // optional: learns noisy fields
//		Rate:         0.1,
//		IgnoreFields: []string{"served_by"},
//		Metrics:      metrics, // telemetry's *Metrics, or any shadow.Metrics
//	})
//	if err != nil {
//		return err
//	}
//	defer sh.Close(context.Background())
//	cc, err := grpc.NewClient(target,
//		balancer.WithSplit(split),
//		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor()),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// The primary call never changes: a unary copy starts after the primary has
// returned, on a worker goroutine of the Interceptor's (at most two per
// slot, parked between copies); a stream's copy runs beside it, fed from a
// bounded buffer. Copies are detached from the primary's cancellation (they
// keep its values and metadata), have their own deadline, carry the Header
// metadata and hold one of MaxConcurrent slots. Close (or Wait) waits for
// them; Close also ends the workers.
//
// A primary that uses the proto codec goes out with a codec of this
// package (a grpc.ForceCodecV2 call option added to its own, with the
// content type it has without it) that hands every message to the proto
// codec and keeps references to the buffers grpc marshals the request into
// and receives the reply in. Its copies send those very bytes, and keep
// their own replies as the bytes that came, decoded only when they differ
// from the primary's: nothing is marshalled or cloned twice. A stream's
// messages travel the same way. Interceptors installed after this one
// therefore see that option on a primary, and a copy's requests (and a
// unary copy's reply) as values of this package, not as messages (a
// copy's outgoing metadata holds Header). A call whose options choose a
// codec or content subtype of their own is copied with messages, cloned
// or marshalled for the copies and encoded by that codec.
//
// Only methods that are safe to repeat are copied: those whose descriptor in
// the protobuf registry says idempotency_level NO_SIDE_EFFECTS or
// IDEMPOTENT, and those listed in Config.Methods. The decision is cached
// per method.
//
// The order of the decisions for each call is: the call's role (copies and
// warm-ups are never copied, and do not count for sampling), sampling (calls
// left out are not counted), safety (DropUnsafeMethod), a primary forced to the candidate (skipped), a
// primary whose deadline has passed (DropTimeout), the concurrency bound
// (DropConcurrency). Once the primary has picked its endpoint, a primary
// that went to the candidate itself is skipped too: comparing the candidate
// with itself says nothing. Skipped calls are counted in
// Stats.SkippedOnCandidate, not as drops.
//
// # Comparison and noise
//
// Replies are compared with protobuf equality after clearing
// Config.IgnoreFields, and the differing field paths are reported (Diff).
// Status codes are compared too: see the Result constants.
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
// The README beside this file has the contracts in one table and the
// benchmark figures.
package shadow
