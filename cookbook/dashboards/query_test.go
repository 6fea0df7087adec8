package dashboards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dashboard is the part of ninelives.json the test reads.
type dashboard struct {
	Panels      []panel `json:"panels"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name     string          `json:"name"`
			Type     string          `json:"type"`
			AllValue string          `json:"allValue"`
			Query    json.RawMessage `json:"query"` // a string, or an object with the query

		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func loadDashboard(path string) (*dashboard, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := new(dashboard)
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// queries lists every panel's queries (rows' nested panels too) and every
// annotation's, by where they stand: "panel Title (A)", "annotation Name".
func (d *dashboard) queries() (where, exprs []string) {
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				where = append(where, fmt.Sprintf("panel %q (%s)", p.Title, tg.RefID))
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			where = append(where, fmt.Sprintf("annotation %q", a.Name))
			exprs = append(exprs, a.Expr)
		}
	}
	return where, exprs
}

// grafana substitutes Grafana's variables in a query as Grafana does for
// a Prometheus data source whose scrape interval is scrape, at a step
// (Grafana's $__interval) of step: $__rate_interval is the larger of
// $__interval plus one scrape interval and four scrape intervals, and
// each dashboard variable takes the value vars gives it.
type grafana struct {
	step, scrape time.Duration
	vars         map[string]string
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// expand returns expr with every variable substituted, or an error naming
// one it does not know.
func (g grafana) expand(expr string) (string, error) {
	var unknown []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := grafanaVar.FindStringSubmatch(m)[1]
		switch name {
		case "__interval":
			return promDuration(g.step)
		case "__rate_interval":
			return promDuration(max(g.step+g.scrape, 4*g.scrape))
		}
		if v, ok := g.vars[name]; ok {
			return v
		}
		unknown = append(unknown, m)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown Grafana variable %s in %s", strings.Join(unknown, ", "), expr)
	}
	return out, nil
}

func promDuration(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// series is one series of a range query: its labels and its values, NaN
// where the query gave NaN.
type series struct {
	labels map[string]string
	values []float64
}

// max is the series' largest value that is a number, NaN if none is.
func (s series) max() float64 {
	m := math.NaN()
	for _, v := range s.values {
		if !math.IsNaN(v) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// prom queries a Prometheus server's HTTP API.
type prom struct {
	url    string
	client *http.Client
}

// queryRange evaluates expr from start to end at step, as a Grafana time
// series panel does.
func (p prom) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]series, error) {
	form := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', 3, 64)},
	}
	var matrix []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	if err := p.get(ctx, "/api/v1/query_range", form, "matrix", &matrix); err != nil {
		return nil, err
	}
	out := make([]series, len(matrix))
	for i, m := range matrix {
		out[i].labels = m.Metric
		for _, v := range m.Values {
			s, _ := v[1].(string)
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("value %q of %v: %w", s, m.Metric, err)
			}
			out[i].values = append(out[i].values, f)
		}
	}
	return out, nil
}

// labelValues lists the values of label on the series of match, as
// Grafana's label_values(match, label) does.
func (p prom) labelValues(ctx context.Context, match, label string, start, end time.Time) ([]string, error) {
	form := url.Values{
		"match[]": {match},
		"start":   {strconv.FormatInt(start.Unix(), 10)},
		"end":     {strconv.FormatInt(end.Unix()+1, 10)},
	}
	var values []string
	err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", form, "", &values)
	return values, err
}

// get calls an endpoint of the API and decodes its data into out; with
// resultType set, the data is a query's result of that type.
func (p prom) get(ctx context.Context, path string, form url.Values, resultType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+form.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var ar struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if ar.Status != "success" {
		return fmt.Errorf("Prometheus: %s", ar.Error)
	}
	if resultType == "" {
		return json.Unmarshal(ar.Data, out)
	}
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(ar.Data, &data); err != nil {
		return err
	}
	if data.ResultType != resultType {
		return fmt.Errorf("a %s, want a %s", data.ResultType, resultType)
	}
	return json.Unmarshal(data.Result, out)
}
