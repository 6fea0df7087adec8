package statuspage_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ninelives-go/ninelives/interceptor/warmup"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/judge"
)

// openPage starts a browser on the rig's page and waits for its first
// status. The page's confirmation dialogs (promote, abort) are accepted,
// as a person would.
func openPage(t *testing.T, r *rig) context.Context {
	t.Helper()
	tab := browser(t)
	require.NoError(t, chromedp.Do(tab), "start chromium")
	console := new(consoleLog)
	require.NoError(t, chromedp.Listen(tab, console.listen))
	// The page, and the click that opened the dialog, wait for it; this
	// goroutine answers it, until the tab closes.
	dialogs := chromedp.Events(tab, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	t.Cleanup(func() { assert.Empty(t, console.errors(), "the page ran without exceptions or errors") })
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(r.srv.URL+"/")))
	waitJS(t, tab, "the first status", `document.body.dataset.polls >= 1`)
	return tab
}

// click presses one of the page's control buttons and waits until the
// page shows the phase it leads to.
func click(t *testing.T, tab context.Context, button, phase string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS("#"+button))))
	waitJS(t, tab, "the "+phase+" phase", `document.getElementById("phase").textContent === "`+phase+`"`)
}

// waitPolls waits until the page has polled the status n more times.
func waitPolls(t *testing.T, tab context.Context, n int) {
	t.Helper()
	now := eval[int](t, tab, `Number(document.body.dataset.polls)`)
	waitJS(t, tab, "a fresh status", `Number(document.body.dataset.polls) >= `+strconv.Itoa(now+n))
}

// smallestLabel is the smallest font size, in CSS pixels on the screen,
// of the charts' labels.
const smallestLabel = `Math.min(...[...document.querySelectorAll(".chart text")].map(
	(t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))`

// slopes counts the segments of the weights chart's lines that are
// neither horizontal nor vertical: a weight change drawn as a slope.
const slopes = `[...document.querySelectorAll("#chart-weights polyline")].reduce((n, l) => {
	const p = l.getAttribute("points").split(" ").map((xy) => xy.split(",").map(Number));
	for (let i = 1; i < p.length; i++) if (p[i][0] !== p[i-1][0] && p[i][1] !== p[i-1][1]) n++;
	return n;
}, 0)`

// A canary rollout driven through its page: the plan shows the steps done
// with the verdict that passed them, the current step's gate and those to
// come; the charts cover the whole rollout with readable labels and draw
// weight changes as steps; and pause, resume and promote are clicked on
// the page's own buttons.
func TestPageDrivesACanaryRollout(t *testing.T) {
	r := newRig(t)
	healthy := window(900, 9, 100, 0, 0.025, 0.020)
	for r.s.Status().Step < 3 {
		r.tick(healthy)
	}
	tab := openPage(t, r)

	// The plan: 1% and 5% passed on the judge, 25% under way, then 50%
	// and the promotion.
	states := eval[[]string](t, tab, `[...document.querySelectorAll("#plan tbody tr")].map((tr) => tr.dataset.step + " " + tr.dataset.state)`)
	assert.Equal(t, []string{"1% done", "5% done", "25% current", "50% next", "100% next"}, states)
	done := eval[string](t, tab, `document.querySelector('#plan tr[data-step="1%"]').textContent`)
	assert.Contains(t, done, "pass")
	assert.Contains(t, done, "advance by sentinel")
	current := eval[string](t, tab, `document.querySelector('#plan tr[data-state="current"]').textContent`)
	assert.Contains(t, current, "0s of 60s", "the step's time against its gate")
	assert.Contains(t, current, "0 of 100", "its calls against its gate")
	assert.Contains(t, eval[string](t, tab, `document.querySelector('#plan tr[data-step="50%"]').textContent`), "≥ 60s")

	assert.GreaterOrEqual(t, eval[float64](t, tab, smallestLabel), 11.0, "the charts' labels are at least 11 px on the screen")
	assert.Zero(t, eval[int](t, tab, slopes), "weight changes are steps")
	assert.Equal(t, 2, eval[int](t, tab, `document.querySelectorAll("#chart-weights polyline").length`), "one unbroken line a version")

	// Pause on the page, as alice.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#who"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken)))
	click(t, tab, "btn-pause", "paused")
	require.Equal(t, sentinel.PhasePaused, r.s.Status().Phase)

	// Paused for longer than the old charts' five minutes: the charts still
	// begin with the rollout.
	first := r.s.Status().History[0].Time
	for range 400 {
		r.tick(healthy)
	}
	waitPolls(t, tab, 2)
	t0 := eval[float64](t, tab, `Number(document.getElementById("chart-errors").dataset.t0)`)
	t1 := eval[float64](t, tab, `Number(document.getElementById("chart-errors").dataset.t1)`)
	assert.Equal(t, float64(first.UnixMilli()), t0, "the charts begin with the rollout's first tick")
	assert.Equal(t, float64(r.clock.Now().UnixMilli()), t1, "and end with its last")
	assert.Zero(t, eval[int](t, tab, slopes), "weight changes are steps")
	assert.GreaterOrEqual(t, eval[float64](t, tab, smallestLabel), 11.0)

	click(t, tab, "btn-resume", "progressing")
	click(t, tab, "btn-promote", "promoted")
	st := r.s.Status()
	require.Equal(t, sentinel.PhasePromoted, st.Phase)
	assert.Equal(t, 10000, r.split.Weight("canary"))
	var actions []sentinel.Action
	for _, e := range st.Events {
		if e.Who == "alice" {
			actions = append(actions, e.Action)
		}
	}
	assert.Equal(t, []sentinel.Action{sentinel.ActionPause, sentinel.ActionResume, sentinel.ActionPromote}, actions, "every control came from the page")
	waitJS(t, tab, "the promotion in the plan", `document.querySelector('#plan tr[data-step="25%"]')?.textContent.includes("promote by alice")`)
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll('#plan tr[data-state="current"], #plan tr[data-state="next"]').length`), "nothing left to do")

	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	assertNotBlank(t, "the page", shot)
	shot, err = chromedp.Run(tab, chromedp.Screenshot(chromedp.CSS("#chart-weights")))
	require.NoError(t, err)
	assertNotBlank(t, "the weights chart", shot)
	assert.Positive(t, colored(t, shot, 0x25, 0x63, 0xeb), "the first version's line is drawn")
	assert.Positive(t, colored(t, shot, 0xea, 0x58, 0x0c), "the second version's line is drawn")
}

// A blue/green rollout's page shows the rollback window's verdict, which
// decides the step, with its own tests; and abort is clicked on the page.
func TestPageShowsTheRollbackWindowAndAborts(t *testing.T) {
	report := &warmup.Report{Version: "canary", Passed: true, Reason: "all 3 endpoints had 5 good calls in a row"}
	bg, err := sentinel.NewBlueGreen(sentinel.BlueGreenConfig{
		Warmup:          func(context.Context, string) (*warmup.Report, error) { return report, nil },
		CompareWithPast: true, RollbackWindow: time.Minute, RollbackMinCalls: 2000, MinBaselineCalls: 100,
	})
	require.NoError(t, err)
	r := newRigWith(t, bg)
	r.tick(window(500, 0, 0, 0, 0.02, 0.02))
	select {
	case <-bg.(interface{ WarmupDone() <-chan struct{} }).WarmupDone():
	case <-time.After(time.Minute):
		t.Fatal("the warm-up did not finish")
	}
	require.Equal(t, sentinel.ActionSetWeights, r.tick(window(500, 0, 0, 0, 0.02, 0.02)).Action)
	for range 5 {
		r.tick(window(0, 0, 100, 0, 0.02, 0.02))
	}
	tab := openPage(t, r)

	assert.Equal(t, judge.TestWindow, eval[string](t, tab, `document.getElementById("verdict").dataset.test`))
	verdict := eval[string](t, tab, `document.getElementById("verdict").textContent`)
	assert.Contains(t, verdict, "rollback window: errors")
	assert.Contains(t, verdict, "the judge:", "the judge's verdict, which does not decide here, comes second")
	states := eval[[]string](t, tab, `[...document.querySelectorAll("#plan tbody tr")].map((tr) => tr.dataset.step + " " + tr.dataset.state)`)
	assert.Equal(t, []string{"warmup done", "cutover current"}, states)
	assert.Contains(t, eval[string](t, tab, `document.querySelector('#plan tr[data-step="warmup"]').textContent`), "pass warmup")
	current := eval[string](t, tab, `document.querySelector('#plan tr[data-state="current"]').textContent`)
	assert.Contains(t, current, "500 of 2000")
	assert.Contains(t, current, "rollback window")

	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#who"), "carol"),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken)))
	click(t, tab, "btn-abort", "aborted")
	require.Equal(t, sentinel.PhaseAborted, r.s.Status().Phase)
	assert.Equal(t, 0, r.split.Weight("canary"))
	assert.Equal(t, "carol", r.s.Status().ChangedBy)

	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	assertNotBlank(t, "the page", shot)
}

// assertNotBlank checks that a PNG screenshot shows something: many
// colours, and a share of its pixels away from the background.
func assertNotBlank(t *testing.T, what string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, what)
	b := img.Bounds()
	require.Positive(t, b.Dx()*b.Dy(), what)
	colours := map[[3]uint32]bool{}
	bg := rgb(img, b.Min.X, b.Min.Y)
	away := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb(img, x, y)
			colours[[3]uint32{c[0] >> 4, c[1] >> 4, c[2] >> 4}] = true
			if c != bg {
				away++
			}
		}
	}
	assert.GreaterOrEqual(t, len(colours), 8, "%s shows several colours", what)
	assert.GreaterOrEqual(t, float64(away)/float64(b.Dx()*b.Dy()), 0.01, "%s is not all background", what)
}

func rgb(img image.Image, x, y int) [3]uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

// colored counts the pixels of a PNG near the colour r, g, b.
func colored(t *testing.T, shot []byte, r, g, b uint32) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	near := func(a, b uint32) bool { return a+24 >= b && b+24 >= a }
	n := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			c := rgb(img, x, y)
			if near(c[0], r) && near(c[1], g) && near(c[2], b) {
				n++
			}
		}
	}
	return n
}
