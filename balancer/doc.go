// Package balancer is the ninelives_split gRPC load-balancing policy and the
// ninelives composite resolver: a client splits its calls between the
// versions of a service by weights that can change at any moment.
//
// Importing the package registers both, so a client needs only a target and a
// service config. The target names each version's own gRPC target; the
// resolver of that target's scheme resolves it (dns for a target without
// one, as with grpc.NewClient) and the endpoints are labelled with the
// version:
//
//	ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051
//
// The weights are basis points per version, summing to 10000. A [Split] made
// in Go holds them and is wired into a client with [WithSplit]; one Split may
// steer many clients, and a change reaches each on its very next pick:
//
//	split := balancer.MustSplit(
//		balancer.Weight{Version: "stable", Weight: 9000},
//		balancer.Weight{Version: "canary", Weight: 1000})
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		balancer.WithSplit(split, balancer.StickyKey("x-user-id")))
//	...
//	err = split.Set("canary", 2500, "stable") // 25 % to the canary from now on
//
// The same settings can be written as a service config (see [Config]).
//
// # Names must agree
//
// The versions the target names and those of the config (or of the Split
// given to WithSplit) must be the same; a resolver of one's own may label
// endpoints only with the config's versions ([SetVersion]), and an
// endpoint without a label belongs to the default version. A version on
// one side only, a ninelives target on a channel without the
// ninelives_split policy, or pairs joined by anything but ';' is an error,
// never a silent reroute: grpc.NewClient shows the policy only the config
// and the resolver only the target, so these are found when the channel
// first resolves, and every call then fails with Unavailable and a message
// naming both sides (logged once at warning) while no endpoint is
// connected. Weights are basis points: weights that look like percent are
// refused with the weights meant.
//
// # How a call is placed
//
// The policy is built as grpc-go builds round_robin: endpointsharding with a
// pickfirst child per endpoint, and the same aggregated connectivity state.
// Above it, each picker groups the READY children by version. A pick:
//
//  1. A forced endpoint ([ForceEndpoint]) or version ([ForceVersion], or the
//     override metadata key) goes where it says. If that is not READY the call
//     fails at once with Unavailable naming it, and never falls back; an
//     unknown version fails with Unimplemented (grpc turns the status codes
//     of gRFC A54's restricted list into Internal, so these are the codes a
//     picker can return meaningfully). While a version is making its very
//     first connections, its calls wait for them as a new channel's calls do.
//  2. Otherwise a point in [0, 10000) is taken: a stable 64-bit hash of the
//     sticky key if the call carries one, else the next point of a
//     golden-ratio sequence (the shares of a random draw, tighter over short
//     runs, with no random-number generator on the path). The version whose
//     interval of the cumulative weights, in the Split's fixed version order,
//     holds the point is chosen. Moving weight between two neighbouring
//     versions only moves keys from the one that loses weight to the one that
//     gains it, never back.
//  3. Within the version, endpoints are taken round robin.
//  4. A chosen version with no READY endpoint gives its share to the versions
//     that can serve, in proportion to their weights (the default version
//     first when they all have weight 0): the point's place in the chosen
//     version's interval is stretched over the cumulative weights of those
//     versions, so with weights 50/25/25 and the last one down the others
//     serve 66.7/33.3, and a sticky key keeps to one version while the
//     weights and the READY versions stay as they are. The pick is reported
//     to the observers as a fallback against the chosen version. With fallback off
//     the call fails with Unavailable instead. With nothing READY anywhere the
//     call waits or fails exactly as with round_robin.
//
// Pick takes no lock: the weights are an atomic snapshot and the picker is
// immutable. Each endpoint's pickfirst child reports its changes, so a new
// picker costs O(versions), not O(endpoints). It allocates nothing, observers included; only reading a sticky
// or override key from the outgoing metadata does (grpc copies the metadata
// to read it), which [WithStickyKey] avoids.
//
// # Attribution and errors
//
// Observers added with [Split.AddObserver] are told of every finished
// attempt (version, [Role], method, error, latency from pick to end;
// streams when they end), but those grpc retries at once for want of a
// stream, and of every fallback; the telemetry package is one. The interceptor/shadow, interceptor/warmup and interceptor/rescue
// packages mark their calls with [RoleShadow], [RoleWarmup] and
// [RoleRescue], so they are never counted as the service's own traffic.
//
// A bad setting, weight or target gets a [*ConfigError] naming the field
// and the value; errors.Is tells [ErrBadConfig], [ErrBadWeights] and
// [ErrBadTarget] apart. [WithSplit] with a bad option makes grpc.NewClient
// fail with the same error [ServiceConfig] returns.
package balancer
