package promsource

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/telemetry"
)

// The series the source reads, as promexport names them.
const (
	metricCalls       = "ninelives_rpc_calls_total"
	metricBuckets     = "ninelives_rpc_duration_seconds_bucket"
	metricSum         = "ninelives_rpc_duration_seconds_sum"
	metricComparisons = "ninelives_shadow_comparisons_total"
	metricFallbacks   = "ninelives_split_fallbacks_total"
	metricUnanswered  = "ninelives_rpc_unanswered_total"
)

// The labels the source reads, as promexport names the attributes.
const (
	labelVersion      = "ninelives_version"
	labelRole         = "ninelives_role"
	labelStatusCode   = "rpc_grpc_status_code"
	labelShadowResult = "ninelives_shadow_result"
	labelMethod       = "rpc_method"
)

// otherMethod is the rpc.method of the calls past telemetry's method cap.
const otherMethod = "other"

// forgetAfter is how long the source remembers a series that has no new
// sample.
const forgetAfter = time.Hour

// Source is a telemetry.MetricSource that reads the figures of the ninelives
// clients Prometheus scrapes: the series promexport exports,
// summed over every scraped client that the selector lets through (see
// WithSelector), into the same per-version windows as the telemetry
// Source's.
//
// A window holds the counter increases between the samples it counted and
// the samples before them, series by series: each Collect asks Prometheus for
// the raw samples since the previous Collect (less the scrape timeout, for
// samples stored late), counts each sample newer than the last one it
// counted of that series, and remembers it. The counts are exact differences
// of the scraped counters, with no extrapolation, and each call is counted
// once, in the window that sees the first scrape after it.
type Source struct {
	endpoint string // …/api/v1/query
	client   *http.Client
	own      bool // the client is the source's own
	cfg      settings
	selector string // {__name__=~"…",matchers}

	mu     sync.Mutex // serialises Collect; guards everything below
	origin time.Time  // NewSource: samples up to it are never counted
	last   time.Time  // the end of the previous window
	based  bool       // the values as of origin are read
	known  map[string]*seriesState
}

// seriesState is the last sample of a series that the source counted. t is
// math.MinInt64 for a value read as of the origin, whose own time is unknown;
// seen is the sample's time, or the origin's, for forgetting the series.
type seriesState struct {
	t, seen int64
	v       float64
}

var _ telemetry.MetricSource = (*Source)(nil)

// NewSource returns a source that reads the Prometheus server at promURL
// ("http://prometheus:9090", with a path prefix if the server has one). The
// first window starts now: what Prometheus saw before is not counted. It
// makes no request before the first Collect.
func NewSource(promURL string, opts ...Option) (*Source, error) {
	u, err := parseURL(promURL)
	if err != nil {
		return nil, err
	}
	cfg, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, client: cfg.client, known: map[string]*seriesState{}}
	if s.client == nil {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.own = true
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	u.RawPath = ""
	s.endpoint = u.String()
	names := []string{metricCalls, metricBuckets, metricSum, metricComparisons, metricFallbacks, metricUnanswered}
	parts := []string{`__name__=~"` + strings.Join(names, "|") + `"`}
	for _, m := range cfg.matchers {
		parts = append(parts, m.String())
	}
	s.selector = "{" + strings.Join(parts, ",") + "}"
	s.origin = cfg.now()
	s.last = s.origin
	return s, nil
}

// parseURL checks the URL of a Prometheus server: http or https, a host, no
// query or fragment.
func parseURL(promURL string) (*url.URL, error) {
	bad := func(format string, args ...any) error {
		return config.Errorf(ErrBadConfig, "promURL", promURL, format, args...)
	}
	u, err := url.Parse(promURL)
	switch {
	case err != nil:
		return nil, &config.Error{Kind: ErrBadConfig, Field: "promURL", Value: promURL, Err: err}
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("scheme %q, want http or https", u.Scheme)
	case u.Host == "":
		return nil, bad("no host")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, bad("want no query or fragment")
	}
	return u, nil
}

// Close releases the idle connections of the source's own HTTP client (not
// those of a client given with WithHTTPClient). The source still works
// afterwards.
func (s *Source) Close() {
	if s.own {
		s.client.CloseIdleConnections()
	}
}

// Collect returns the figures of the samples Prometheus stored since the
// previous Collect: a window from the end of the previous one to now. When
// it fails (Prometheus unreachable, an error, a malformed series), it
// returns an error naming the query and changes nothing, so the next window
// covers this one's time too.
func (s *Source) Collect(ctx context.Context) (*telemetry.Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	if !now.After(s.last) {
		now = s.last.Add(time.Millisecond)
	}
	var base []series
	if !s.based {
		var err error
		if base, err = s.query(ctx, s.selector, s.origin); err != nil {
			return nil, err
		}
	}
	from := s.last.Add(-s.cfg.scrapeTimeout)
	rng := now.Sub(from).Milliseconds()
	if rng < 1 {
		rng = 1
	}
	expr := s.selector + "[" + strconv.FormatInt(rng, 10) + "ms]"
	got, err := s.query(ctx, expr, now)
	if err != nil {
		return nil, err
	}
	c := s.count(base, got)
	w, err := s.window(c)
	if err != nil {
		return nil, &QueryError{URL: s.endpoint, Query: expr, Time: now, Err: err}
	}
	// Nothing failed: keep what was counted.
	for k, st := range c.states {
		s.known[k] = st
	}
	forget := now.Add(-forgetAfter).UnixMilli()
	for k, st := range s.known {
		if st.seen < forget {
			delete(s.known, k)
		}
	}
	s.based = true
	w.Start, w.End = s.last, now
	s.last = now
	return w, nil
}

// counted is one Collect's increases by series, before they are kept.
type counted struct {
	labels map[string]map[string]string // by series key
	deltas map[string]float64           // counters: the increase
	states map[string]*seriesState      // the new last samples
}

// count walks the samples of each series in order and adds up the
// increases of those newer than the last one counted. A value lower than the
// one before is a counter that started again from zero (a restarted client):
// its whole value is the increase. A series never seen before counts from
// zero, except for samples up to the origin, which only set its value.
func (s *Source) count(base, got []series) counted {
	c := counted{labels: map[string]map[string]string{}, deltas: map[string]float64{}, states: map[string]*seriesState{}}
	originMs := s.origin.UnixMilli()
	state := func(k string) *seriesState {
		if st := c.states[k]; st != nil {
			return st
		}
		if st := s.known[k]; st != nil {
			cp := *st
			c.states[k] = &cp
			return &cp
		}
		return nil
	}
	for _, ser := range base {
		if len(ser.samples) == 0 || math.IsNaN(ser.samples[0].v) {
			continue
		}
		k := seriesKey(ser.labels)
		if state(k) == nil {
			c.states[k] = &seriesState{t: math.MinInt64, seen: originMs, v: ser.samples[0].v}
		}
	}
	for _, ser := range got {
		k := seriesKey(ser.labels)
		c.labels[k] = ser.labels
		for _, smp := range ser.samples {
			if math.IsNaN(smp.v) {
				continue
			}
			st := state(k)
			if st != nil && smp.t <= st.t {
				continue // counted before
			}
			if st == nil {
				st = &seriesState{}
				c.states[k] = st
				if smp.t > originMs {
					c.deltas[k] += smp.v
				}
			} else if smp.t > originMs {
				if smp.v >= st.v {
					c.deltas[k] += smp.v - st.v
				} else {
					c.deltas[k] += smp.v
				}
			}
			st.t, st.seen, st.v = smp.t, smp.t, smp.v
		}
	}
	return c
}

// seriesKey identifies a series by all its labels.
func seriesKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return b.String()
}

// histKey is one latency histogram series: its labels but le and the name.
func histKey(labels map[string]string) string {
	rest := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != "le" && k != "__name__" {
			rest[k] = v
		}
	}
	return seriesKey(rest)
}

// histSeries is one latency histogram series of a window: the increases of
// its buckets and of its sum.
type histSeries struct {
	version, role string
	cum           []bucketCount
	sum           float64
}

// window builds the window of a Collect's increases.
func (s *Source) window(c counted) (*telemetry.Window, error) {
	w := &telemetry.Window{}
	hists := map[string]*histSeries{}
	histOf := func(l map[string]string) *histSeries {
		k := histKey(l)
		h := hists[k]
		if h == nil {
			h = &histSeries{version: l[labelVersion], role: l[labelRole]}
			hists[k] = h
		}
		return h
	}
	for k, l := range c.labels {
		d, ok := c.deltas[k]
		if !ok {
			continue
		}
		var err error
		switch l["__name__"] {
		case metricCalls:
			err = s.addCalls(w, l, d)
		case metricBuckets:
			le, perr := strconv.ParseFloat(l["le"], 64)
			if perr != nil || math.IsNaN(le) {
				return nil, fmt.Errorf("series %s: label le = %q is not a bucket bound", describe(l), l["le"])
			}
			h := histOf(l)
			h.cum = append(h.cum, bucketCount{le: le, count: d})
		case metricSum:
			if math.IsNaN(d) {
				return nil, fmt.Errorf("series %s: the sum grew by NaN", describe(l))
			}
			histOf(l).sum += d
		case metricComparisons, metricFallbacks:
			addCount(w, l, d)
		case metricUnanswered:
			// Counted as telemetry's Source counts them: only while
			// Unavailable is an error.
			if s.cfg.errorCodes.Has(codes.Unavailable) {
				w.MutableVersion(l[labelVersion]).Unanswered += int64(math.Round(d))
			}
		}
		if err != nil {
			return nil, err
		}
	}
	addLatencies(w, hists)
	return w, nil
}

// addCalls adds the calls of a series of the calls counter.
func (s *Source) addCalls(w *telemetry.Window, l map[string]string, d float64) error {
	n := int64(math.Round(d))
	if n == 0 {
		return nil
	}
	cs, err := strconv.ParseUint(l[labelStatusCode], 10, 32)
	if err != nil {
		return fmt.Errorf("series %s: label %s = %q is not a status code", describe(l), labelStatusCode, l[labelStatusCode])
	}
	code := codes.Code(cs)
	r := w.MutableVersion(l[labelVersion]).MutableRole(balancer.Role(l[labelRole]))
	r.Calls += n
	if r.Codes == nil {
		r.Codes = map[codes.Code]int64{}
	}
	r.Codes[code] += n
	if s.cfg.errorCodes.Has(code) {
		r.Errors += n
	}
	if l[labelMethod] == otherMethod {
		w.Overflow.OtherMethods += n
	}
	return nil
}

// addCount adds a series of the comparisons or the fallbacks counter.
func addCount(w *telemetry.Window, l map[string]string, d float64) {
	n := int64(math.Round(d))
	if n == 0 {
		return
	}
	v := w.MutableVersion(l[labelVersion])
	if l["__name__"] == metricFallbacks {
		v.Fallbacks += n
		return
	}
	if v.Shadow == nil {
		v.Shadow = map[string]int64{}
	}
	v.Shadow[l[labelShadowResult]] += n
}

// addLatencies sets one histogram per version and role from the series of
// every method, code and client.
func addLatencies(w *telemetry.Window, hists map[string]*histSeries) {
	type vr struct{ version, role string }
	byRole := map[vr]*expHist{}
	for _, h := range hists {
		if len(h.cum) == 0 {
			continue
		}
		k := vr{h.version, h.role}
		e := byRole[k]
		if e == nil {
			e = &expHist{}
			byRole[k] = e
		}
		e.add(h.cum, h.sum)
	}
	for k, e := range byRole {
		if hist := e.histogram(); !hist.Empty() {
			w.MutableVersion(k.version).MutableRole(balancer.Role(k.role)).Latency = hist
		}
	}
}

// describe writes a series as PromQL for an error.
func describe(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Quote(l[k]))
	}
	return l["__name__"] + "{" + strings.Join(parts, ",") + "}"
}
