package statuspage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/statuspage"
)

// chromiumPath is Debian's chromium, which scripts/install-browser.sh
// installs (make test and CI run it first).
const chromiumPath = "/usr/bin/chromium"

// waitBound bounds each wait for the page to show something: far above
// what a poll takes, so that only a page that never shows it fails.
const waitBound = time.Minute

// browser starts a headless Chromium with a fresh profile and returns a tab.
// It never skips: no browser is a failure that says how to get one.
func browser(t *testing.T) context.Context {
	t.Helper()
	fi, err := os.Stat(chromiumPath)
	switch {
	case err != nil:
		t.Fatalf("the browser test needs Debian's chromium at %s (%v): run scripts/install-browser.sh (as root), or make test, which runs it", chromiumPath, err)
	case !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0:
		t.Fatalf("the browser test needs Debian's chromium at %s, which is not an executable file (%v): run scripts/install-browser.sh (as root), or make test, which runs it", chromiumPath, fi.Mode())
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	tab, cancel := chromedp.NewContext(actx)
	// Cleanups run last-in first-out: the tab, then the browser (whose
	// cancel waits for the process to exit), then the profile directory.
	t.Cleanup(acancel)
	t.Cleanup(cancel)
	return tab
}

// waitJS polls a boolean expression in the page until it holds, for at most
// waitBound. (chromedp.Poll builds its predicate with new Function, which the
// page's Content-Security-Policy forbids; plain evaluation by the DevTools
// protocol is not affected.)
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("the page did not show %s within %v (last error: %v); it shows:\n%s", what, waitBound, err, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// consoleLog keeps the page's exceptions and error log entries.
type consoleLog struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleLog) listen(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		desc := ""
		if d.Exception != nil {
			desc = d.Exception.Description
		}
		c.errs = append(c.errs, fmt.Sprintf("exception: %s %s at %s:%d", d.Text, desc, d.URL, d.LineNumber))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			c.errs = append(c.errs, "console.error")
		}
	case *log.EventEntryAdded:
		// The browser asks for /favicon.ico at the site's root, which the
		// test server does not have.
		if ev.Entry.Level == log.EntryLevelError && !strings.HasSuffix(ev.Entry.URL, "/favicon.ico") {
			c.errs = append(c.errs, fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	}
}

func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

func TestPageInChromium(t *testing.T) {
	tab := browser(t)

	const title = "Orders rollout"
	r := newRig(t, statuspage.WithTitle(title))
	r.start()
	// A shadow reply whose field holds markup, as a careless or hostile
	// candidate could send: it must show as text and never run.
	const evil = `<script>window.__pwned = 1; document.title = "pwned"</script><img src=x onerror="window.__pwned = 2">`
	r.shadow.add(shadow.Mismatch{Time: r.clock.Now(), Method: "/ninelives.demo.v1.DemoService/GetItem", Candidate: "canary",
		Result: shadow.ResultMismatch, Fields: []string{"item.name"}, PrimaryCode: "OK", ShadowCode: "OK",
		Values: []shadow.FieldValues{{Path: "item.name", Primary: "Lamp", Shadow: evil}}})

	// Mounted under a prefix, as a program with its own mux would.
	mux := http.NewServeMux()
	mux.Handle("/rollout/", http.StripPrefix("/rollout", r.h))
	mux.Handle("/rollout", http.StripPrefix("/rollout", r.h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	console := new(consoleLog)
	// The first Run starts the browser; it has no deadline of its own, as a
	// deadline there would end the browser.
	require.NoError(t, chromedp.Do(tab), "start chromium")
	require.NoError(t, chromedp.Listen(tab, console.listen))
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/rollout")))

	// The page loads (through the redirect to rollout/), polls the status
	// and shows the current weights, phase and step.
	waitJS(t, tab, "the first status", `document.body.dataset.polls >= 1`)
	assert.True(t, strings.HasSuffix(eval[string](t, tab, `location.pathname`), "/rollout/"))
	assert.Equal(t, "1%", eval[string](t, tab, `document.querySelector('#weights li[data-version="canary"] .pct').textContent`))
	assert.Equal(t, "99%", eval[string](t, tab, `document.querySelector('#weights li[data-version="stable"] .pct').textContent`))
	assert.Equal(t, "progressing", eval[string](t, tab, `document.getElementById("phase").textContent`))
	assert.Equal(t, "step 1 (1%)", eval[string](t, tab, `document.getElementById("step").textContent`))
	// The charts are drawn from the history: a line per version.
	assert.Equal(t, 2, eval[int](t, tab, `document.querySelectorAll("#chart-weights polyline").length`))
	assert.Equal(t, "10", eval[string](t, tab, `document.getElementById("chart-errors").dataset.points`), "5 ticks × 2 versions")
	assert.Equal(t, "12", eval[string](t, tab, `document.getElementById("chart-weights").dataset.points`), "5 ticks × 2 versions, and the start's weights")
	assert.Equal(t, 2, eval[int](t, tab, `document.querySelectorAll("#chart-errors polyline, #chart-p99 polyline").length/2`))
	assert.Contains(t, eval[string](t, tab, `document.getElementById("events").textContent`), "start")

	// The markup in the mismatch sample is text: present as written, no
	// element made from it, nothing run.
	assert.Contains(t, eval[string](t, tab, `document.querySelector("#mismatches tbody").textContent`), evil)
	assert.Equal(t, 0, eval[int](t, tab, `document.querySelectorAll("#mismatches script, #mismatches img, body img").length`))
	assert.Equal(t, "undefined", eval[string](t, tab, `typeof window.__pwned`))
	assert.Equal(t, title, eval[string](t, tab, `document.title`))
	assert.Contains(t, eval[string](t, tab, `document.getElementById("noisy").textContent`), "generated_at")

	// Pause without the token: the page asks for it and sends nothing.
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS("#btn-pause"))))
	waitJS(t, tab, "the request for the token", `document.getElementById("message").textContent.includes("token")`)
	assert.Equal(t, sentinel.PhaseProgressing, r.s.Status().Phase)

	// Pause with the token, as alice: the rollout pauses and the sentinel
	// records who did it.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#who"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.SendKeys(chromedp.CSS("#reason"), "checking the <b>dashboards</b>"),
		chromedp.Click(chromedp.CSS("#btn-pause")),
	))
	waitJS(t, tab, "the paused phase", `document.getElementById("phase").textContent === "paused"`)
	require.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)
	st := r.s.Status()
	e := st.Events[len(st.Events)-1]
	assert.Equal(t, sentinel.ActionPause, e.Action)
	assert.Equal(t, "alice", e.Who)
	assert.Equal(t, "checking the <b>dashboards</b>", e.Reason)
	assert.Contains(t, eval[string](t, tab, `document.getElementById("message").textContent`), "pause: done")
	waitJS(t, tab, "the pause in the log", `document.querySelector('#events tr[data-action="pause"] td.who')?.textContent === "alice"`)
	assert.Equal(t, "checking the <b>dashboards</b>", eval[string](t, tab, `document.querySelector('#events tr[data-action="pause"] td.reason').textContent`))
	assert.Equal(t, 0, eval[int](t, tab, `document.querySelectorAll("#events b").length`))
	assert.True(t, eval[bool](t, tab, `document.getElementById("btn-pause").disabled && !document.getElementById("btn-resume").disabled`))

	// The token is kept in memory only: no cookie, no storage.
	assert.Empty(t, eval[string](t, tab, `document.cookie`))
	assert.Equal(t, 0, eval[int](t, tab, `localStorage.length + sessionStorage.length`))

	// The weights change in the sentinel; the page follows within a poll
	// or two, and the chart grows with the ticks.
	require.NoError(t, r.s.SetWeight(context.Background(), "bob", "", 2500))
	r.tick(window(900, 9, 100, 0, 0.025, 0.020))
	waitJS(t, tab, "the new weights", `document.querySelector('#weights li[data-version="canary"] .pct').textContent === "25%"`)
	assert.Equal(t, "75%", eval[string](t, tab, `document.querySelector('#weights li[data-version="stable"] .pct').textContent`))
	waitJS(t, tab, "the new tick in the chart", `document.getElementById("chart-errors").dataset.points === "12"`)

	assert.Empty(t, console.errors(), "the page ran without exceptions or errors")
	assert.Equal(t, "undefined", eval[string](t, tab, `typeof window.__pwned`))
}
