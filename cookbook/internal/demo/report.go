package demo

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ninelives-go/ninelives/sentinel"
)

// chart is one SVG chart of the report.
type chart struct {
	Title  string
	Unit   string
	W, H   float64
	Series []series
	Marks  []mark
	YMax   float64
	YTicks []tick
	XTicks []tick
	Left   float64
	Bottom float64
}

type series struct {
	Name  string
	Color string
	// Lines are the polylines' points; a tick without calls breaks the line.
	Lines []string
}

type mark struct {
	X     float64
	Label string
	Color string
}

type tick struct {
	Pos   float64
	Label string
}

const (
	chartW = 860.0
	chartH = 180.0
	padL   = 56.0
	padB   = 24.0
	padT   = 10.0
)

// line is one series of a chart: its points, [time in seconds, value], a
// NaN value breaking the line.
type line struct {
	name, color string
	points      [][2]float64
}

// newChart plots each line against time. With steps, each value holds
// until the next point and the last until tmax, so a change is drawn as
// the instant jump it was, never as a slope between two ticks.
func newChart(title, unit string, lines []line, marks []mark, tmax float64, steps bool) chart {
	ymax := 0.0
	for _, l := range lines {
		for _, p := range l.points {
			if !math.IsNaN(p[1]) {
				ymax = math.Max(ymax, p[1])
			}
		}
	}
	ymax = niceCeil(ymax)
	c := chart{Title: title, Unit: unit, W: chartW, H: chartH, YMax: ymax, Left: padL, Bottom: chartH - padB}
	x := func(t float64) float64 { return padL + (chartW-padL-10)*t/tmax }
	y := func(v float64) float64 { return padT + (chartH-padT-padB)*(1-v/ymax) }
	for _, l := range lines {
		c.Series = append(c.Series, series{Name: l.name, Color: l.color, Lines: polylines(l.points, x, y, steps, tmax)})
	}
	for _, m := range marks {
		m.X = x(m.X)
		c.Marks = append(c.Marks, m)
	}
	for k := 0; k <= 4; k++ {
		v := ymax * float64(k) / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: trimFloat(v) + unit})
	}
	step := niceCeil(tmax / 8)
	for t := 0.0; t <= tmax+1e-9; t += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: trimFloat(t) + "s"})
	}
	return c
}

// polylines turns points into the polylines' point lists, broken at NaN
// values; with steps, each value is held until the next point (and the
// last until tmax).
func polylines(points [][2]float64, x, y func(float64) float64, steps bool, tmax float64) []string {
	var out, pts []string
	at := func(t, v float64) string { return fmt.Sprintf("%.1f,%.1f", x(t), y(v)) }
	prev := math.NaN()
	flush := func(t float64) {
		if steps && !math.IsNaN(prev) {
			pts = append(pts, at(t, prev))
		}
		if len(pts) > 0 {
			out = append(out, strings.Join(pts, " "))
		}
		pts, prev = nil, math.NaN()
	}
	for _, p := range points {
		if math.IsNaN(p[1]) {
			flush(p[0])
			continue
		}
		if steps && !math.IsNaN(prev) {
			pts = append(pts, at(p[0], prev))
		}
		pts = append(pts, at(p[0], p[1]))
		prev = p[1]
	}
	flush(tmax)
	return out
}

func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

type reportData struct {
	Title     string
	Generated string
	Lines     []string
	Charts    []chart
	Events    []reportEvent
}

type reportEvent struct {
	At, Action, Who, Reason, DecidedBy, Evidence string
}

// WriteReport writes the self-contained HTML report of a run: no external
// asset, the timeline as inline SVG, every text escaped.
func WriteReport(path string, rc *Recipe, r *Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ninelives: report: %w", err)
	}
	if err := reportTemplate.Execute(f, reportOf(rc, r)); err != nil {
		f.Close()
		return fmt.Errorf("ninelives: report: %w", err)
	}
	return f.Close()
}

// reportOf lays a run out for the report.
func reportOf(rc *Recipe, r *Result) reportData {
	versions := []string{rc.Baseline, rc.Candidate}
	colors := []string{"#2c7be5", "#e67e22"}
	errs, p99 := make([]line, 2), make([]line, 2)
	for i, v := range versions {
		errs[i], p99[i] = line{name: v, color: colors[i]}, line{name: v, color: colors[i]}
	}
	tmax := 1.0
	for _, t := range r.Ticks {
		at := t.At.Seconds()
		tmax = math.Max(tmax, at)
		for i, v := range versions {
			f := t.Summary.Versions[v]
			e, p := 100*f.ErrorRate, 1000*f.P99
			if f.Calls == 0 {
				e, p = math.NaN(), math.NaN()
			}
			errs[i].points = append(errs[i].points, [2]float64{at, e})
			p99[i].points = append(p99[i].points, [2]float64{at, p})
		}
	}
	marks, events := r.decisions()
	weights := line{name: rc.Candidate, color: colors[1], points: r.weightSteps(rc.Candidate)}
	return reportData{
		Title:     fmt.Sprintf("ninelives %s: %s", rc.Name, r.Phase),
		Generated: time.Now().UTC().Format(time.RFC3339),
		Lines: []string{
			fmt.Sprintf("Regression: %s (%s)", r.Regression, rc.DescribeRegression(r.Regression)),
			fmt.Sprintf("Outcome: %s after %v, %d ticks", r.Phase, r.Elapsed.Round(time.Second), len(r.Ticks)),
			fmt.Sprintf("Calls: %d made, %d failed", r.Calls, r.Failed),
			fmt.Sprintf("%s primary calls before the final decision: %d", rc.Candidate, r.CandidateCalls),
			fmt.Sprintf("Alerts: %d", len(r.Alerts)),
		},
		Charts: []chart{
			newChart(rc.Candidate+" weight", "%", []line{weights}, marks, tmax, true),
			newChart("error rate", "%", errs, marks, tmax, false),
			newChart("p99 latency", "ms", p99, marks, tmax, false),
		},
		Events: events,
	}
}

// weightSteps is version's weight (%) through the run, as points each
// holding until the next: each tick's weights, read before its decision,
// and each decision's at the moment it was taken.
func (r *Result) weightSteps(version string) [][2]float64 {
	start := r.startTime()
	type point struct {
		at    float64
		order int // a tick's weights come before its decision's
		w     float64
	}
	var pts []point
	for _, t := range r.Ticks {
		pts = append(pts, point{t.At.Seconds(), 0, float64(t.Summary.Weights[version]) / 100})
	}
	for _, e := range r.Events {
		pts = append(pts, point{e.Time.Sub(start).Seconds(), 1, float64(e.Weight(version)) / 100})
	}
	slices.SortStableFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.order, b.order))
	})
	out := make([][2]float64, len(pts))
	for i, p := range pts {
		out[i] = [2]float64{p.at, p.w}
	}
	return out
}

// decisions are the run's events as the charts mark them and the table
// lists them, each with the test that decided it.
func (r *Result) decisions() ([]mark, []reportEvent) {
	start := r.startTime()
	var marks []mark
	var events []reportEvent
	for _, e := range r.Events {
		at := e.Time.Sub(start).Seconds()
		color := "#555"
		switch e.Action {
		case sentinel.ActionRollback, sentinel.ActionAbort:
			color = "#c0392b"
		case sentinel.ActionPromote:
			color = "#27ae60"
		}
		marks = append(marks, mark{X: at, Label: string(e.Action), Color: color})
		by, verdict := decidedBy(e)
		events = append(events, reportEvent{At: fmt.Sprintf("%.0fs", at), Action: string(e.Action), Who: e.Who, Reason: e.Reason, DecidedBy: by, Evidence: verdict})
	}
	return marks, events
}

// decidedBy names what decided an event and its verdict: the test the
// verdict names (a strategy's own, such as blue/green's rollback window,
// or the judge's failing test), the judge over all its tests, or, for a
// control used by hand, the person.
func decidedBy(e sentinel.Event) (by, verdict string) {
	switch {
	case e.Who != "sentinel":
		return "by hand", ""
	case e.Verdict == nil:
		return "", ""
	case e.Verdict.Test != "":
		return e.Verdict.Test, e.Verdict.Outcome.String() + ": " + e.Verdict.Reason
	}
	return "the judge", e.Verdict.Outcome.String() + ": " + e.Verdict.Reason
}

var reportTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:900px}
h1{font-size:20px} h2{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
.legend span{margin-right:14px} .sw{display:inline-block;width:10px;height:10px;margin-right:4px}
svg text{font-size:11px;fill:#444}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{range .Lines}}{{.}}<br>{{end}}Generated {{.Generated}}</p>
{{range .Charts}}<h2>{{.Title}}</h2>
<div class="legend">{{range .Series}}<span><i class="sw" style="background:{{.Color}}"></i>{{.Name}}</span>{{end}}</div>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}">
{{$c := .}}{{range .YTicks}}<line x1="{{$c.Left}}" x2="{{$c.W}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#eee"/><text x="4" y="{{.Pos}}">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.Pos}}" y="{{$c.H}}">{{.Label}}</text>
{{end}}{{range .Marks}}<line x1="{{.X}}" x2="{{.X}}" y1="0" y2="{{$c.Bottom}}" stroke="{{.Color}}" stroke-dasharray="4 3"><title>{{.Label}}</title></line><text x="{{.X}}" y="10" style="fill:{{.Color}}">{{.Label}}</text>
{{end}}{{range .Series}}{{$s := .}}{{range .Lines}}<polyline fill="none" stroke="{{$s.Color}}" stroke-width="1.8" points="{{.}}"/>
{{end}}{{end}}</svg>
{{end}}
<h2>Decisions</h2>
<table><tr><th>time</th><th>action</th><th>by</th><th>reason</th><th>decided by</th><th>verdict</th></tr>
{{range .Events}}<tr><td>{{.At}}</td><td>{{.Action}}</td><td>{{.Who}}</td><td>{{.Reason}}</td><td>{{.DecidedBy}}</td><td>{{.Evidence}}</td></tr>
{{end}}</table>
</body></html>
`))
