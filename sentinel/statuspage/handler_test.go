package statuspage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

func TestNewRejectsBadOptions(t *testing.T) {
	r := newRig(t)
	cases := []struct {
		name    string
		rollout statuspage.Rollout
		token   string
		opts    []statuspage.Option
		want    string
	}{
		{"nil rollout", nil, testToken, nil, "rollout is nil"},
		{"empty token", r.s, "", nil, "token: 0 characters, want at least 16"},
		{"short token", r.s, "short", nil, "token: 5 characters, want at least 16"},
		{"token with a space", r.s, "0123456789 abcdef", nil, "token: a character 0x20 at byte 10"},
		{"token with a newline", r.s, "0123456789abcdef\n", nil, "token: a character 0x0a at byte 16"},
		{"empty title", r.s, testToken, []statuspage.Option{statuspage.WithTitle("")}, `WithTitle = ""`},
		{"relative prefix", r.s, testToken, []statuspage.Option{statuspage.WithPrefix("rollout")}, `WithPrefix = "rollout"`},
		{"unclean prefix", r.s, testToken, []statuspage.Option{statuspage.WithPrefix("/a/../b")}, `WithPrefix = "/a/../b"`},
		{"root prefix", r.s, testToken, []statuspage.Option{statuspage.WithPrefix("/")}, `WithPrefix = "/"`},
		{"nil option", r.s, testToken, []statuspage.Option{nil}, "option is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := statuspage.New(tc.rollout, tc.token, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, statuspage.ErrBadOption)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "ninelives: "), err.Error())
		})
	}
	// The token is a secret: no error repeats it.
	_, err := statuspage.New(r.s, "tooshort-secret")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "tooshort-secret")

	assert.Len(t, statuspage.NewToken(), 26)
	assert.NotEqual(t, statuspage.NewToken(), statuspage.NewToken())
	_, err = statuspage.New(r.s, statuspage.NewToken())
	assert.NoError(t, err, "NewToken makes a token New accepts")
}

func TestStatusJSON(t *testing.T) {
	r := newRig(t)
	r.start()
	r.shadow.add(shadow.Mismatch{Time: r.clock.Now(), Method: "/ninelives.demo.v1.DemoService/GetItem", Candidate: "canary",
		Result: shadow.ResultMismatch, Fields: []string{"item.price_cents"}, PrimaryCode: "OK", ShadowCode: "OK",
		Values: []shadow.FieldValues{{Path: "item.price_cents", Primary: "100", Shadow: "101"}}})

	rp := r.do(http.MethodGet, statuspage.RouteStatus, "", "")
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	assert.Equal(t, "application/json", rp.header.Get("Content-Type"))
	assert.Equal(t, "no-store", rp.header.Get("Cache-Control"))
	assert.Equal(t, "nosniff", rp.header.Get("X-Content-Type-Options"))

	// The shape a page or a program reads.
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rp.body, &raw))
	for _, k := range []string{"strategy", "baseline", "candidate", "phase", "step", "weights", "verdict", "lastTick",
		"stepFigures", "history", "events", "lastDecision", "endpoints", "shadow"} {
		assert.Contains(t, raw, k)
	}
	var st struct {
		sentinel.Status
		Shadow *struct {
			Stats       shadow.Stats
			Mismatches  []shadow.Mismatch
			NoisyFields map[string][]string
		}
	}
	require.NoError(t, json.Unmarshal(rp.body, &st))
	assert.Equal(t, sentinel.PhaseProgressing, st.Phase)
	assert.Equal(t, 1, st.Step)
	assert.Equal(t, r.split.Weights(), st.Weights)
	assert.Equal(t, "stable", st.Baseline)
	assert.Equal(t, "canary", st.Candidate)
	require.Len(t, st.History, 5, "one summary per tick")
	last := st.History[len(st.History)-1]
	assert.Equal(t, map[string]int{"stable": 9900, "canary": 100}, last.Weights)
	assert.Equal(t, int64(100), last.Versions["canary"].Calls)
	assert.InDelta(t, 0.01, last.Versions["stable"].ErrorRate, 1e-9)
	assert.Positive(t, last.Versions["canary"].P99)
	require.NotEmpty(t, st.Events)
	assert.Equal(t, sentinel.ActionStart, st.Events[0].Action)
	assert.NotNil(t, st.Events[0].Verdict, "each decision carries its evidence")
	require.NotNil(t, st.LastDecision)
	require.NotNil(t, st.Shadow)
	require.Len(t, st.Shadow.Mismatches, 1)
	assert.Equal(t, []string{"item.price_cents"}, st.Shadow.Mismatches[0].Fields)
	assert.Equal(t, []string{"generated_at"}, st.Shadow.NoisyFields["/ninelives.demo.v1.DemoService/GetItem"])
	assert.Equal(t, int64(40), st.Shadow.Stats.Comparisons[shadow.ResultMatch])

	head := r.do(http.MethodHead, statuspage.RouteStatus, "", "")
	assert.Equal(t, http.StatusOK, head.code)
	assert.Empty(t, head.body)
}

func TestProtectedReads(t *testing.T) {
	r := newRig(t, statuspage.WithProtectedReads(true))
	r.start()

	rp := r.do(http.MethodGet, statuspage.RouteStatus, "", "")
	assert.Equal(t, http.StatusUnauthorized, rp.code)
	assert.Equal(t, `Bearer realm="ninelives"`, rp.header.Get("WWW-Authenticate"))
	assert.Contains(t, rp.errorText(t), "Authorization: missing")
	assert.NotContains(t, string(rp.body), "progressing")

	rp = r.do(http.MethodGet, statuspage.RouteStatus, "wrong-token-0123456789", "")
	assert.Equal(t, http.StatusUnauthorized, rp.code)

	rp = r.do(http.MethodGet, statuspage.RouteStatus, testToken, "")
	require.Equal(t, http.StatusOK, rp.code)
	assert.Contains(t, string(rp.body), `"phase":"progressing"`)

	// The page is open but holds no figures until the token is given.
	page := r.do(http.MethodGet, "/", "", "")
	require.Equal(t, http.StatusOK, page.code)
	assert.Contains(t, string(page.body), `data-protect-reads="true"`)
	assert.NotContains(t, string(page.body), "progressing")
	assert.NotContains(t, string(page.body), "9900")
}

func TestWrongMethods(t *testing.T) {
	r := newRig(t)
	r.start()
	cases := []struct {
		method, path, allow string
	}{
		{http.MethodGet, statuspage.RoutePause, "POST"},
		{http.MethodGet, statuspage.RouteResume, "POST"},
		{http.MethodPut, statuspage.RoutePromote, "POST"},
		{http.MethodDelete, statuspage.RouteAbort, "POST"},
		{http.MethodGet, statuspage.RouteWeights, "POST"},
		{http.MethodOptions, statuspage.RoutePause, "POST"},
		{http.MethodPost, statuspage.RouteStatus, "GET, HEAD"},
		{http.MethodPost, "/", "GET, HEAD"},
		{http.MethodDelete, "/static/app.js", "GET, HEAD"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			// With the right token: the method alone is refused.
			rp := r.do(tc.method, tc.path, testToken, "")
			assert.Equal(t, http.StatusMethodNotAllowed, rp.code)
			assert.Equal(t, tc.allow, rp.header.Get("Allow"))
			assert.Equal(t, "application/json", rp.header.Get("Content-Type"))
			assert.Contains(t, rp.errorText(t), "not "+tc.method)
			assert.Empty(t, rp.header.Get("Access-Control-Allow-Origin"), "no CORS, ever")
		})
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "nothing changed the rollout")
}

func TestUnauthorizedControls(t *testing.T) {
	r := newRig(t)
	r.start()
	cases := []struct {
		name, token string
		hdr         []string
		challenge   string
		msg         string
	}{
		{"missing", "", nil, `Bearer realm="ninelives"`, "Authorization: missing"},
		{"wrong", "wrong-token-0123456789", nil, `Bearer realm="ninelives", error="invalid_token"`, "wrong token"},
		{"prefix of the token", testToken[:len(testToken)-1], nil, `Bearer realm="ninelives", error="invalid_token"`, "wrong token"},
		{"token and more", testToken + "x", nil, `Bearer realm="ninelives", error="invalid_token"`, "wrong token"},
		{"basic scheme", "", []string{"Authorization", "Basic " + testToken}, `Bearer realm="ninelives", error="invalid_request"`, "want one"},
		{"two headers", "", []string{"Authorization", "Bearer " + testToken, "Authorization", "Bearer " + testToken}, `Bearer realm="ninelives", error="invalid_request"`, "want one"},
		{"cookie only", "", []string{"Cookie", "token=" + testToken}, `Bearer realm="ninelives"`, "Authorization: missing"},
	}
	for _, route := range []string{statuspage.RoutePause, statuspage.RoutePromote, statuspage.RouteAbort, statuspage.RouteWeights} {
		for _, tc := range cases {
			t.Run(route+" "+tc.name, func(t *testing.T) {
				body := `{}`
				if route == statuspage.RouteWeights {
					body = `{"weight": 5000}`
				}
				rp := r.do(http.MethodPost, route, tc.token, body, tc.hdr...)
				assert.Equal(t, http.StatusUnauthorized, rp.code)
				assert.Equal(t, tc.challenge, rp.header.Get("WWW-Authenticate"))
				msg := rp.errorText(t)
				assert.Contains(t, msg, tc.msg)
				assert.NotContains(t, msg, testToken[4:], "the answer never repeats a token")
			})
		}
	}
	// The token in the query string is not a token either.
	rp := r.do(http.MethodPost, statuspage.RoutePause+"?access_token="+testToken, "", "")
	assert.Equal(t, http.StatusUnauthorized, rp.code)
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.Len(t, r.s.Status().Events, 1, "only the start: no control was recorded")
}

func TestBadBodies(t *testing.T) {
	r := newRig(t)
	r.start()
	long := strings.Repeat("x", statuspage.MaxWhoLen+1)
	cases := []struct {
		name, route, body string
		hdr               []string
		code              int
		want              string
	}{
		{"weight over", statuspage.RouteWeights, `{"weight": 20000}`, nil, 400, "weight: 20000 is outside 0..10000"},
		{"weight under", statuspage.RouteWeights, `{"weight": -1}`, nil, 400, "weight: -1 is outside 0..10000"},
		{"weight a string", statuspage.RouteWeights, `{"weight": "25%"}`, nil, 400, "weight: string, want an integer"},
		{"weight a fraction", statuspage.RouteWeights, `{"weight": 25.5}`, nil, 400, "weight: number 25.5, want an integer"},
		{"weight null", statuspage.RouteWeights, `{"weight": null}`, nil, 400, "weight: missing"},
		{"weight missing", statuspage.RouteWeights, `{"who": "alice"}`, nil, 400, "weight: missing"},
		{"weights empty body", statuspage.RouteWeights, ``, nil, 400, "body: empty"},
		{"unknown field", statuspage.RouteWeights, `{"weight": 100, "colour": "red"}`, nil, 400, "colour: unknown field; want weight, who, reason"},
		{"weight on pause", statuspage.RoutePause, `{"weight": 100}`, nil, 400, "weight: unknown field; want who, reason"},
		{"who a number", statuspage.RoutePause, `{"who": 7}`, nil, 400, "who: number, want a string"},
		{"truncated", statuspage.RoutePause, `{"who": "al`, nil, 400, "body: the JSON ends too soon"},
		{"not JSON", statuspage.RoutePause, `{"who" "al"}`, nil, 400, "body: not valid JSON at byte"},
		{"array", statuspage.RoutePause, `["alice"]`, nil, 400, "body: array, want a JSON object"},
		{"two objects", statuspage.RoutePause, `{}{}`, nil, 400, "body: more than one JSON value"},
		{"trailing garbage", statuspage.RoutePause, `{} x`, nil, 400, "body: "},
		{"weight twice", statuspage.RouteWeights, `{"weight":1,"weight":2}`, nil, 400, "weight: duplicate key"},
		{"weight in capitals", statuspage.RouteWeights, `{"Weight":2500}`, nil, 400, `Weight: unknown key; keys are case-sensitive: the field is "weight"`},
		{"who twice", statuspage.RoutePause, `{"who":"alice","who":"mallory"}`, nil, 400, "who: duplicate key"},
		{"reason folded", statuspage.RoutePause, `{"REASON":"x"}`, nil, 400, `REASON: unknown key; keys are case-sensitive: the field is "reason"`},
		{"who too long", statuspage.RoutePause, `{"who": "` + long + `"}`, nil, 400, "who: 65 characters, want at most 64"},
		{"who with a bell", statuspage.RoutePause, `{"who": "al\u0007ice"}`, nil, 400, "who: character U+0007 at byte 2 is not printable"},
		{"reason too long", statuspage.RoutePause, `{"reason": "` + strings.Repeat("r", statuspage.MaxReasonLen+1) + `"}`, nil, 400, "reason: 513 characters, want at most 512"},
		{"who disagrees", statuspage.RoutePause, `{"who": "alice"}`, []string{statuspage.OperatorHeader, "mallory"}, 400, `who: "alice" in the body, but X-Ninelives-Operator says "mallory"`},
		{"two operator headers", statuspage.RoutePause, ``, []string{statuspage.OperatorHeader, "a", statuspage.OperatorHeader, "b"}, 400, "X-Ninelives-Operator: 2 headers, want one"},
		{"operator header not UTF-8", statuspage.RoutePause, ``, []string{statuspage.OperatorHeader, "al\xffice"}, 400, "X-Ninelives-Operator: not valid UTF-8"},
		{"operator header too long", statuspage.RoutePause, ``, []string{statuspage.OperatorHeader, long}, 400, "X-Ninelives-Operator: 65 characters"},
		{"text/plain", statuspage.RoutePause, `{}`, []string{"Content-Type", "text/plain"}, 415, `Content-Type: "text/plain", want application/json`},
		{"form", statuspage.RouteWeights, `weight=100`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "want application/json"},
		{"latin-1", statuspage.RoutePause, `{}`, []string{"Content-Type", "application/json; charset=latin1"}, 415, `charset "latin1", want utf-8`},
		{"no content type", statuspage.RoutePause, `{}`, []string{"Content-Type", ""}, 415, "Content-Type: missing"},
		{"too large", statuspage.RoutePause, `{"reason": "` + strings.Repeat("r", statuspage.MaxBodyBytes) + `"}`, nil, 413, "body: larger than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rp := r.do(http.MethodPost, tc.route, testToken, tc.body, tc.hdr...)
			assert.Equal(t, tc.code, rp.code, "%s", rp.body)
			assert.Equal(t, "application/json", rp.header.Get("Content-Type"))
			msg := rp.errorText(t)
			assert.Contains(t, msg, tc.want)
			assert.True(t, strings.HasPrefix(msg, "ninelives: "), msg)
		})
	}
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase, "no bad call changed the rollout")
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.Len(t, r.s.Status().Events, 1)
}

func TestControlsChangeTheRolloutAndRecordWho(t *testing.T) {
	r := newRig(t)
	r.start()

	// Pause, the operator named by the header.
	rp := r.do(http.MethodPost, statuspage.RoutePause, testToken, "", statuspage.OperatorHeader, "alice")
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	var res statuspage.ControlResult
	require.NoError(t, json.Unmarshal(rp.body, &res))
	assert.Equal(t, sentinel.PhasePaused, res.Phase)
	assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)
	require.NotNil(t, res.Event)
	assert.Equal(t, sentinel.ActionPause, res.Event.Action)
	assert.Equal(t, "alice", res.Event.Who)
	assert.Equal(t, sentinel.PhaseProgressing, res.Event.From)
	assert.Equal(t, "pause by alice", res.Event.Reason)
	last := r.s.Status().Events[len(r.s.Status().Events)-1]
	assert.Equal(t, "alice", last.Who, "the sentinel's own record names the operator")

	// Pausing again is a conflict, with the sentinel's message.
	rp = r.do(http.MethodPost, statuspage.RoutePause, testToken, `{"who": "alice"}`)
	assert.Equal(t, http.StatusConflict, rp.code)
	assert.Contains(t, rp.errorText(t), "phase change not allowed: pause from paused to paused")

	// Resume, the operator named in the body.
	rp = r.do(http.MethodPost, statuspage.RouteResume, testToken, `{"who": "bob", "reason": "dashboards look fine"}`)
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
	rp = r.do(http.MethodPost, statuspage.RouteResume, testToken, "")
	assert.Equal(t, http.StatusConflict, rp.code)
	assert.Contains(t, rp.errorText(t), "not paused")

	// Set the canary's weight by hand: the rollout pauses there.
	rp = r.do(http.MethodPost, statuspage.RouteWeights, testToken, `{"weight": 2500, "who": "carol", "reason": "more traffic for the load test"}`)
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	res = statuspage.ControlResult{}
	require.NoError(t, json.Unmarshal(rp.body, &res))
	assert.Equal(t, sentinel.PhasePaused, res.Phase)
	assert.Equal(t, 2500, r.split.Weight("canary"))
	assert.Equal(t, 7500, r.split.Weight("stable"))
	require.NotNil(t, res.Event)
	assert.Equal(t, sentinel.ActionSetWeights, res.Event.Action)
	assert.Equal(t, "carol", res.Event.Who)
	assert.Equal(t, "more traffic for the load test", res.Event.Reason)

	// Promote, with no name: the sentinel records "operator".
	rp = r.do(http.MethodPost, statuspage.RoutePromote, testToken, `{}`)
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	res = statuspage.ControlResult{}
	require.NoError(t, json.Unmarshal(rp.body, &res))
	assert.Equal(t, sentinel.PhasePromoted, r.s.Status().Phase)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	require.NotNil(t, res.Event)
	assert.Equal(t, "operator", res.Event.Who)

	// Nothing leaves a final phase.
	for _, route := range []string{statuspage.RouteAbort, statuspage.RoutePause, statuspage.RouteResume, statuspage.RoutePromote} {
		rp = r.do(http.MethodPost, route, testToken, "")
		assert.Equal(t, http.StatusConflict, rp.code, route)
		assert.Contains(t, rp.errorText(t), "the rollout is promoted, which is final", route)
	}
	rp = r.do(http.MethodPost, statuspage.RouteWeights, testToken, `{"weight": 0}`)
	assert.Equal(t, http.StatusConflict, rp.code)
	assert.Equal(t, 10000, r.split.Weight("canary"))

	var whos []string
	for _, e := range r.s.Status().Events {
		whos = append(whos, string(e.Action)+":"+e.Who)
	}
	assert.Equal(t, []string{"start:sentinel", "pause:alice", "resume:bob", "set_weights:carol", "promote:operator"}, whos)
}

func TestAbortSendsEverythingBack(t *testing.T) {
	r := newRig(t)
	r.start()
	rp := r.do(http.MethodPost, statuspage.RouteAbort, testToken, `{"who": "dave", "reason": "pager went off"}`,
		"Content-Type", "application/json; charset=UTF-8")
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
	assert.Equal(t, sentinel.PhaseAborted, r.s.Status().Phase)
	assert.Equal(t, 0, r.split.Weight("canary"))
	st := r.s.Status()
	e := st.Events[len(st.Events)-1]
	assert.Equal(t, sentinel.ActionAbort, e.Action)
	assert.Equal(t, "dave", e.Who)
	assert.Equal(t, "pager went off", e.Reason)
	assert.True(t, e.Alert)
}

func TestPageIsSelfContainedAndEscaped(t *testing.T) {
	const markup = `<script>document.title="pwned"</script><img src=x onerror=alert(1)>`
	r := newRig(t, statuspage.WithTitle(`Orders <b>rollout</b>`))
	r.start()
	// A reason and an operator holding markup, recorded through the API.
	body, err := json.Marshal(statuspage.ControlRequest{Who: `<i>eve</i>`, Reason: markup})
	require.NoError(t, err)
	rp := r.do(http.MethodPost, statuspage.RoutePause, testToken, string(body))
	require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)

	page := r.do(http.MethodGet, "/", "", "")
	require.Equal(t, http.StatusOK, page.code)
	assert.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	csp := page.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Equal(t, "DENY", page.header.Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", page.header.Get("Referrer-Policy"))
	assert.Empty(t, page.header.Get("Set-Cookie"))

	html := string(page.body)
	// Self-contained: relative links to its own files only, one script
	// element with a src and no inline script.
	assert.Contains(t, html, `<script src="static/app.js" defer></script>`)
	assert.Equal(t, 1, strings.Count(html, "<script"))
	assert.Contains(t, html, `href="static/app.css"`)
	assert.NotContains(t, html, "http://")
	assert.NotContains(t, html, "https://")
	assert.NotContains(t, html, `src="/`)
	assert.NotContains(t, html, `href="/`)
	// Rendered on the server, escaped by html/template.
	assert.Contains(t, html, "<title>Orders &lt;b&gt;rollout&lt;/b&gt;</title>")
	assert.Contains(t, html, "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")
	assert.Contains(t, html, "&lt;i&gt;eve&lt;/i&gt;")
	assert.NotContains(t, html, markup)
	assert.NotContains(t, html, "<i>eve")
	assert.Contains(t, html, `id="phase" class="phase" data-phase="paused"`)
	assert.Contains(t, html, `<span class="pct">1%</span>`)

	for path, ctype := range map[string]string{"/static/app.js": "text/javascript; charset=utf-8", "/static/app.css": "text/css; charset=utf-8"} {
		rp := r.do(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, rp.code, path)
		assert.Equal(t, ctype, rp.header.Get("Content-Type"), path)
		assert.NotEmpty(t, rp.body)
		// The SVG namespace is a name, not an address the page loads.
		text := strings.ReplaceAll(string(rp.body), `"http://www.w3.org/2000/svg"`, "")
		assert.False(t, strings.Contains(text, "http://") || strings.Contains(text, "https://"), "no CDN, no outside address: %s", path)
		assert.False(t, strings.Contains(text, "@import") || strings.Contains(text, "url("), "no outside style: %s", path)
	}
	// The script never parses data as markup and never stores the token.
	js := string(r.do(http.MethodGet, "/static/app.js", "", "").body)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser",
		"createContextualFragment", "localStorage", "sessionStorage", "indexedDB", "document.cookie", "eval(", "new Function"} {
		assert.False(t, strings.Contains(js, bad), "app.js uses %s", bad)
	}
}

func TestUnknownPaths(t *testing.T) {
	r := newRig(t)
	for _, p := range []string{"/nope", "/static/nope.js", "/api/", "/api/status/x", "/static/", "/index.html"} {
		rp := r.do(http.MethodGet, p, "", "")
		assert.Equal(t, http.StatusNotFound, rp.code, p)
		assert.Equal(t, "application/json", rp.header.Get("Content-Type"), p)
		assert.Contains(t, rp.errorText(t), "no such page", p)
	}
	rp := r.do(http.MethodPost, "/api/nope", testToken, "")
	assert.Equal(t, http.StatusNotFound, rp.code)
}

func TestMountedUnderAPrefix(t *testing.T) {
	r := newRig(t)
	r.start()

	t.Run("StripPrefix", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.Handle("/rollout/", http.StripPrefix("/rollout", r.h))
		mux.Handle("/rollout", http.StripPrefix("/rollout", r.h))
		srv := httptest.NewServer(mux)
		defer srv.Close()

		rp := doURL(t, http.MethodGet, srv.URL+"/rollout", "", "")
		assert.Equal(t, http.StatusMovedPermanently, rp.code)
		assert.Equal(t, "rollout/", rp.header.Get("Location"), "relative: it stays on the site, under any proxy prefix")
		rp = doURL(t, http.MethodGet, srv.URL+"/rollout?x=1", "", "")
		assert.Equal(t, "rollout/?x=1", rp.header.Get("Location"))

		rp = doURL(t, http.MethodGet, srv.URL+"/rollout/", "", "")
		require.Equal(t, http.StatusOK, rp.code)
		assert.Contains(t, string(rp.body), `src="static/app.js"`)
		rp = doURL(t, http.MethodGet, srv.URL+"/rollout/static/app.js", "", "")
		assert.Equal(t, http.StatusOK, rp.code)
		rp = doURL(t, http.MethodGet, srv.URL+"/rollout/api/status", "", "")
		assert.Equal(t, http.StatusOK, rp.code)
		assert.Contains(t, string(rp.body), `"phase":"progressing"`)
	})

	t.Run("WithPrefix", func(t *testing.T) {
		h, err := statuspage.New(r.s, testToken, statuspage.WithPrefix("/ops/rollout/"))
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/ops/rollout/", h)
		srv := httptest.NewServer(mux)
		defer srv.Close()

		rp := doURL(t, http.MethodGet, srv.URL+"/ops/rollout/api/status", "", "")
		assert.Equal(t, http.StatusOK, rp.code)
		rp = doURL(t, http.MethodPost, srv.URL+"/ops/rollout/api/pause", testToken, `{"who": "erin"}`)
		require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)
		assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)
		rp = doURL(t, http.MethodPost, srv.URL+"/ops/rollout/api/resume", testToken, `{"who": "erin"}`)
		require.Equal(t, http.StatusOK, rp.code, "%s", rp.body)

		// The mount point without its slash, as a program's own mux might
		// pass it on.
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ops/rollout", nil))
		assert.Equal(t, http.StatusMovedPermanently, w.Code)
		assert.Equal(t, "rollout/", w.Header().Get("Location"))
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ops/rolloutx/api/status", nil))
		assert.Equal(t, http.StatusNotFound, w.Code)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/status", nil))
		assert.Equal(t, http.StatusNotFound, w.Code, "outside the prefix")
	})
}

func TestControlHonoursTheRequestContext(t *testing.T) {
	// A control call runs on the request's context: the sentinel is told
	// of it with the caller's deadline, and a call that succeeds records
	// its event at once (no tick needed).
	r := newRig(t)
	r.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, statuspage.RoutePause, strings.NewReader(`{"who":"frank"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "bearer "+testToken) // the scheme is case-insensitive
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)
}

// A control call on a closed sentinel answers 409 and moves nothing.
func TestControlsOnAClosedSentinelAnswerConflict(t *testing.T) {
	r := newRig(t)
	r.start()
	require.NoError(t, r.s.Close())
	for _, route := range []string{statuspage.RoutePause, statuspage.RoutePromote, statuspage.RouteAbort} {
		rp := r.do(http.MethodPost, route, testToken, "")
		assert.Equal(t, http.StatusConflict, rp.code, route)
		assert.Contains(t, rp.errorText(t), "ninelives: the sentinel is closed", route)
	}
	rp := r.do(http.MethodPost, statuspage.RouteWeights, testToken, `{"weight": 5000}`)
	assert.Equal(t, http.StatusConflict, rp.code)
	assert.Equal(t, 100, r.split.Weight("canary"))
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)
}
