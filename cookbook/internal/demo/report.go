package demo

import (
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
	"time"
)

// chart is one SVG line chart of the report.
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

// newChart plots values[i][t] against time for each series.
func newChart(title, unit string, times []float64, names, colors []string, values [][]float64, marks []mark, tmax float64) chart {
	ymax := 0.0
	for _, vs := range values {
		for _, v := range vs {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax)
	c := chart{Title: title, Unit: unit, W: chartW, H: chartH, YMax: ymax, Left: padL, Bottom: chartH - padB}
	x := func(t float64) float64 { return padL + (chartW-padL-10)*t/tmax }
	y := func(v float64) float64 { return padT + (chartH-padT-padB)*(1-v/ymax) }
	for i, vs := range values {
		sr := series{Name: names[i], Color: colors[i]}
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				sr.Lines = append(sr.Lines, strings.Join(pts, " "))
				pts = nil
			}
		}
		for k, v := range vs {
			if math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(times[k]), y(v)))
		}
		flush()
		c.Series = append(c.Series, sr)
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
	At, Action, Who, Reason, Evidence string
}

// WriteReport writes the self-contained HTML report of a run: no external
// asset, the timeline as inline SVG, every text escaped.
func WriteReport(path string, rc *Recipe, r *Result) error {
	var times []float64
	var w []float64
	errs := [][]float64{nil, nil}
	p99 := [][]float64{nil, nil}
	versions := []string{rc.Baseline, rc.Candidate}
	for _, t := range r.Ticks {
		times = append(times, t.At.Seconds())
		w = append(w, float64(t.Summary.Weights[rc.Candidate])/100)
		for i, v := range versions {
			f := t.Summary.Versions[v]
			e, p := 100*f.ErrorRate, 1000*f.P99
			if f.Calls == 0 {
				e, p = math.NaN(), math.NaN()
			}
			errs[i] = append(errs[i], e)
			p99[i] = append(p99[i], p)
		}
	}
	tmax := 1.0
	if n := len(times); n > 0 {
		tmax = math.Max(times[n-1], 1)
	}
	start := r.startTime()
	var marks []mark
	var events []reportEvent
	for _, e := range r.Events {
		at := e.Time.Sub(start).Seconds()
		color := "#555"
		switch e.Action {
		case "rollback", "abort":
			color = "#c0392b"
		case "promote":
			color = "#27ae60"
		}
		marks = append(marks, mark{X: at, Label: string(e.Action), Color: color})
		ev := ""
		if e.Verdict != nil {
			ev = e.Verdict.Outcome.String() + ": " + e.Verdict.Reason
		}
		events = append(events, reportEvent{At: fmt.Sprintf("%.0fs", at), Action: string(e.Action), Who: e.Who, Reason: e.Reason, Evidence: ev})
	}
	colors := []string{"#2c7be5", "#e67e22"}
	data := reportData{
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
			newChart(rc.Candidate+" weight", "%", times, []string{rc.Candidate}, colors[1:], [][]float64{w}, marks, tmax),
			newChart("error rate", "%", times, versions, colors, errs, marks, tmax),
			newChart("p99 latency", "ms", times, versions, colors, p99, marks, tmax),
		},
		Events: events,
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ninelives: report: %w", err)
	}
	if err := reportTemplate.Execute(f, data); err != nil {
		f.Close()
		return fmt.Errorf("ninelives: report: %w", err)
	}
	return f.Close()
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
<table><tr><th>time</th><th>action</th><th>by</th><th>reason</th><th>verdict</th></tr>
{{range .Events}}<tr><td>{{.At}}</td><td>{{.Action}}</td><td>{{.Who}}</td><td>{{.Reason}}</td><td>{{.Evidence}}</td></tr>
{{end}}</table>
</body></html>
`))
