// Package statuspage serves a rollout's status page and its control API: an
// http.Handler a program mounts where it likes.
//
//	token := statuspage.NewToken() // or one from the program's secrets
//	h, err := statuspage.New(s, token) // s is the *sentinel.Sentinel
//	if err != nil { … }
//	mux.Handle("/rollout/", http.StripPrefix("/rollout", h))
//	// or: mux.Handle("/rollout/", h) with statuspage.WithPrefix("/rollout")
//
// # Routes
//
// Relative to where the handler is mounted:
//
//	GET  /              the page: the phase, the step plan (the steps done
//	                    with the verdict that passed them, the current one
//	                    with its gate's progress, those to come), live charts
//	                    of weights (as steps), error rate and p99 over the
//	                    whole rollout, the verdict of the test that decides
//	                    the step (blue/green's rollback window), the
//	                    decisions log, shadow mismatches, and the controls
//	GET  /static/…      the page's script and style, embedded
//	GET  /api/status    sentinel.Status as JSON, with "shadow" (WithShadow)
//	                    and "release" (a Releaser, such as release.Lifecycle)
//	POST /api/pause     body {"who": "alice", "reason": "…"}, both optional
//	POST /api/resume    same body
//	POST /api/promote   same body
//	POST /api/abort     same body
//	POST /api/weights   body {"weight": 2500, "who": …, "reason": …}: the
//	                    candidate's weight in basis points; pauses there
//
// A control call answers 200 with a ControlResult (the phase, step and
// weights after it, and the event it recorded), or an ErrorBody naming what
// was wrong: 400 for a bad body ("weight: 20000 is outside 0..10000",
// unknown fields, bad JSON), 401 for a missing or wrong token, 405 for a
// method other than POST, 409 when the rollout's phase does not allow the
// call or the sentinel is closed (the sentinel's message), 413 for a body over MaxBodyBytes, 415 for a
// Content-Type other than application/json.
//
// A fleet's page is served the same way, from any process with an etcd
// client: statuspage.New(leader.Controller(), token), or a
// fleet.NewController; its controls become commands the leader applies.
//
// # Security
//
// Control calls take the token only as "Authorization: Bearer <token>",
// compared in constant time; cookies are never read or set, so no
// cross-site request can make a call, and no CORS header is ever sent. The
// operator's name comes from the body's "who" or the X-Ninelives-Operator
// header and is recorded in the sentinel's event; it is the caller's word,
// not an identity. The status JSON is open unless WithProtectedReads.
//
// The page is self-contained (embedded markup, script and style; no CDN) and
// served with a Content-Security-Policy that allows only its own script
// file. The server renders it with html/template and the script builds the
// DOM from text nodes only, so a reply field or a reason holding markup
// shows as text. The page asks for the token in a password field and keeps
// it in memory only.
package statuspage
