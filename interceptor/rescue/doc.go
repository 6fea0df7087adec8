// Package rescue is a safety net for the users of a canary: a call that the
// candidate version fails, or does not answer in time, is sent once more
// to the baseline, so the caller gets the baseline's answer while the
// failure still counts against the candidate.
//
//	rs, err := rescue.New(rescue.Config{Candidate: "canary", Baseline: "stable", Split: split})
//	if err != nil {
//		return err
//	}
//	cc, err := grpc.NewClient(target,
//		balancer.WithSplit(split),
//		grpc.WithChainUnaryInterceptor(sh.UnaryClientInterceptor(), rs.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(sh.StreamClientInterceptor(), rs.StreamClientInterceptor()),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// # Which calls
//
// Only primary calls of methods that are safe to repeat, by the rule the
// shadow interceptor uses (idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT
// in the protobuf registry, or listed in Config.Methods), that went to the
// candidate by the weights. Calls of other methods, calls forced to a
// version or an endpoint (balancer.ForceVersion, ForceEndpoint, or the
// override metadata key), shadow copies and warm-ups fail as they would
// without the interceptor.
//
// A call is rescued when the candidate fails it with one of Config.Codes
// (DefaultCodes: the server-side failures; never a code that says the
// request itself is bad), or when it has not answered within the method's
// hedge delay: HedgeFactor × the HedgeQuantile of the times the baseline
// took to answer the method through this interceptor lately, within
// [MinHedgeDelay, MaxHedgeDelay]; a method the baseline has answered fewer
// than HedgeMinSamples times is not hedged yet. The late attempt is then
// cancelled and the rescue sent; unlike gRPC's hedging the two do not
// race, so no call runs twice at once. A rescue is sent once, forced to the baseline, with
// the caller's deadline; if it fails too, the caller gets its error. A call
// whose caller has gone is never rescued.
//
// Streams of every kind are rescued until the server first answers (a
// message or a header): the client's messages are kept until then
// (StreamMaxMessages, StreamMaxBytes) and replayed to the baseline. The
// hedge delay of a stream runs from the caller's first RecvMsg, so a
// client stream is hedged only once its caller waits for the server.
//
// # The budget
//
// Rescues are extra calls, bounded as gRPC's retry throttling (gRFC A6)
// bounds retries, by a token bucket: each primary call earns BudgetRatio
// tokens up to BudgetBurst, each rescue spends one, so at most BudgetBurst
// + BudgetRatio × calls rescues are sent (10 % of the calls at the
// defaults). A call the budget cannot pay for keeps the candidate's
// outcome (Stats.Throttled).
//
// With Config.Split, calls made while the candidate has no weight are not
// watched, only timed for the delay, so the interceptor costs next to
// nothing between rollouts and knows the delays when one begins.
//
// # What the sentinel sees
//
// The balancer's observers (telemetry among them) see both attempts. The
// candidate's is a primary attempt with its own status: the error code
// that failed it, or Canceled, with the hedge delay as its latency, when
// it was cut short. The rescue is an attempt of the baseline with the role
// balancer.RoleRescue, which telemetry keeps apart from the primary calls
// and the judge never reads: the baseline's figures are what they would be
// without the interceptor, and the candidate's show every failure. A hung
// candidate is judged by its latency (each of its cut attempts lasts the
// hedge delay, well past the baseline's own tail), since Canceled is not
// an error code of the metric sources. One blind spot is gRPC's own: when
// a server fails a client or bidi stream while the client still sends,
// gRPC (v1.85.0) reports the attempt to the balancer as a success,
// although the caller, and the rescue, see the server's status.
package rescue
