// Package release runs rollout after rollout on the same clients. The
// version names of a Split are roles (stable and canary, blue and green)
// whose targets serve whatever build is deployed behind them; a Lifecycle
// watches those builds and drives one sentinel through each release:
//
//	prober, _ := release.NewProber(conn, split, 0)  // asks each endpoint its build
//	life, _ := release.New(s, prober)                // s: the *sentinel.Sentinel
//	go life.Run(ctx)                                 // release after release
//	h, _ := statuspage.New(life, token)              // the page and controls
//
// # Which build a subset serves
//
// Each server names its build in the response header ninelives-build of
// grpc's health check (HealthInterceptor on the server, beside
// google.golang.org/grpc/health). The Prober asks every READY endpoint of
// every version each round, through the client's own connection: a health
// check forced to the endpoint, with the warm-up role, so it reaches
// endpoints that have no traffic (a candidate at 0 %) and telemetry keeps
// it apart from the service's calls. Asking beats reading the header of
// the service's own calls, which would cost every call and would see
// nothing of a candidate that gets no traffic; it beats inferring builds
// from endpoint changes, which cannot tell a new build on the same
// addresses from a restart. Another BuildSource (a deployment system's
// records) can stand in for the Prober.
//
// # The lifecycle
//
//	waiting ──new build behind the candidate──▶ rolling ──promoted──▶ finalizing
//	   ▲                                           │                     │
//	   └──────rolled back or aborted───────────────┘    baseline serves  │
//	   └─────────────────────────────────────────────── the build: finalize
//
// A rollout begins (ActionRelease) when every ready endpoint of the
// candidate serves one build, every ready endpoint of the baseline serves
// one build, the two differ, and the candidate's is not the build last
// judged: the sentinel starts afresh (a new judge: α is spent per
// rollout) at the baseline's weights. Without WithAutoStart the rollout
// waits, paused before its first step, for Resume.
//
// After a promotion the candidate has all the traffic until the
// deployment repoints the baseline's targets at the promoted build; once
// every ready endpoint of the baseline serves it, the lifecycle finalizes
// (ActionFinalize): the baseline gets all the traffic back, from one pick
// to the next, with both serving the same build, so no call fails, and the
// candidate's subset may drain. After a rollback or an abort the baseline
// has the traffic already, and the candidate's build is not judged again.
//
// Mixed builds: while a subset's endpoints serve several builds (a deploy
// under way) or one of them does not say, nothing begins and nothing is
// finalized; the status says what is waited for. A rollout whose
// candidate or baseline starts serving another build is aborted: its
// evidence is of the build it started with. The next rollout begins once
// the candidate serves one build again. A failing look at the builds holds
// the lifecycle where it is and is logged once.
//
// Controls (Pause, Resume, Promote, Abort, SetWeight) act on the rollout
// under way; between rollouts they return sentinel.ErrTransition. Status
// carries the events of every rollout; Release says where the lifecycle
// stands. A fleet's leader (package fleet) runs a Lifecycle around its
// sentinel and saves its Record with each checkpoint.
package release
