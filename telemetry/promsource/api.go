package promsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds the body of one query's answer.
const maxResponse = 256 << 20

// series is one series of a query's answer: its labels and its samples,
// oldest first. An instant query gives one sample, stamped with the query's
// time rather than the sample's own.
type series struct {
	labels  map[string]string
	samples []sample
}

// sample is one value of a series at a time in milliseconds.
type sample struct {
	t int64
	v float64
}

// apiResponse is the envelope of Prometheus' HTTP API.
type apiResponse struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// QueryError is a query that failed: Prometheus answered with an error, an
// unexpected answer, or not at all. Query is the PromQL and Time the time it
// was evaluated at.
type QueryError struct {
	URL   string
	Query string
	Time  time.Time
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Type is Prometheus' errorType ("bad_data", "timeout", …), empty
	// when the answer did not say.
	Type string
	Err  error
}

func (e *QueryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ninelives: Prometheus query %s at %s on %s", e.Query, e.Time.UTC().Format(time.RFC3339Nano), e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, ": %s", e.Type)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *QueryError) Unwrap() error { return e.Err }

// query evaluates expr at t through /api/v1/query and returns the series of
// its vector or matrix.
func (s *Source) query(ctx context.Context, expr string, t time.Time) ([]series, error) {
	qerr := func(status int, typ string, err error) error {
		return &QueryError{URL: s.endpoint, Query: expr, Time: t, Status: status, Type: typ, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	form := url.Values{}
	form.Set("query", expr)
	form.Set("time", formatTime(t))
	form.Set("timeout", strconv.FormatInt(s.cfg.timeout.Milliseconds(), 10)+"ms")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, qerr(0, "", err)
	}
	for k, vs := range s.cfg.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, qerr(0, "", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, qerr(resp.StatusCode, "", fmt.Errorf("reading the answer: %w", err))
	}
	if len(body) > maxResponse {
		return nil, qerr(resp.StatusCode, "", fmt.Errorf("the answer is larger than %d bytes", maxResponse))
	}
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		if resp.StatusCode/100 != 2 {
			return nil, qerr(resp.StatusCode, "", fmt.Errorf("not Prometheus' query API: %q", snippet(body)))
		}
		return nil, qerr(resp.StatusCode, "", fmt.Errorf("decoding the answer: %w", err))
	}
	if ar.Status != "success" {
		msg := ar.Error
		if msg == "" {
			msg = fmt.Sprintf("status %q without an error message", ar.Status)
		}
		return nil, qerr(resp.StatusCode, ar.ErrorType, errors.New(msg))
	}
	out, err := decodeResult(ar.Data.ResultType, ar.Data.Result)
	if err != nil {
		return nil, qerr(resp.StatusCode, "", err)
	}
	return out, nil
}

// decodeResult reads a vector or a matrix; values are [seconds, "value"].
func decodeResult(kind string, raw json.RawMessage) ([]series, error) {
	switch kind {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoding the vector: %w", err)
		}
		out := make([]series, 0, len(v))
		for _, e := range v {
			smp, err := decodeSample(e.Value)
			if err != nil {
				return nil, fmt.Errorf("series %v: %w", e.Metric, err)
			}
			out = append(out, series{labels: e.Metric, samples: []sample{smp}})
		}
		return out, nil
	case "matrix":
		var m []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decoding the matrix: %w", err)
		}
		out := make([]series, 0, len(m))
		for _, e := range m {
			ser := series{labels: e.Metric, samples: make([]sample, 0, len(e.Values))}
			for _, pair := range e.Values {
				smp, err := decodeSample(pair)
				if err != nil {
					return nil, fmt.Errorf("series %v: %w", e.Metric, err)
				}
				ser.samples = append(ser.samples, smp)
			}
			out = append(out, ser)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("result type %q, want a vector or a matrix", kind)
	}
}

func decodeSample(pair [2]any) (sample, error) {
	ts, ok := pair[0].(float64)
	if !ok {
		return sample{}, fmt.Errorf("sample time %v is not a number", pair[0])
	}
	vs, ok := pair[1].(string)
	if !ok {
		return sample{}, fmt.Errorf("sample value %v is not a string", pair[1])
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return sample{}, fmt.Errorf("sample value %q: %w", vs, err)
	}
	return sample{t: int64(math.Round(ts * 1000)), v: v}, nil
}

// formatTime writes t as Unix seconds with milliseconds, as the API reads it.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
