package promsource

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// matcher is one label matcher of a PromQL selector.
type matcher struct {
	name, op, value string
}

// String writes the matcher back in PromQL, the value quoted anew.
func (m matcher) String() string { return m.name + m.op + strconv.Quote(m.value) }

// parseSelector reads label matchers as written inside a PromQL selector's
// braces (the braces themselves may be given): name op "value", separated by
// commas.
func parseSelector(s string) ([]matcher, error) {
	in := strings.TrimSpace(s)
	if strings.HasPrefix(in, "{") && strings.HasSuffix(in, "}") {
		in = strings.TrimSpace(in[1 : len(in)-1])
	}
	if in == "" {
		return nil, errors.New("no label matcher")
	}
	var out []matcher
	p := 0
	skip := func() {
		for p < len(in) && (in[p] == ' ' || in[p] == '\t' || in[p] == '\n' || in[p] == '\r') {
			p++
		}
	}
	for {
		skip()
		if p == len(in) {
			break
		}
		start := p
		for p < len(in) && (in[p] == '_' || isLetter(in[p]) || (p > start && isDigit(in[p]))) {
			p++
		}
		if p == start {
			return nil, fmt.Errorf("want a label name at byte %d, have %q", start, rest(in, start))
		}
		name := in[start:p]
		if name == "__name__" {
			return nil, errors.New("the metric name (__name__) is set by the source; match other labels")
		}
		skip()
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(in[p:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("label %s: want an operator (=, !=, =~ or !~) at byte %d, have %q", name, p, rest(in, p))
		}
		p += len(op)
		skip()
		value, n, err := unquote(in[p:])
		if err != nil {
			return nil, fmt.Errorf("label %s: value at byte %d: %w", name, p, err)
		}
		p += n
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				return nil, fmt.Errorf("label %s: regular expression %q: %w", name, value, err)
			}
		}
		out = append(out, matcher{name: name, op: op, value: value})
		skip()
		if p == len(in) {
			break
		}
		if in[p] != ',' {
			return nil, fmt.Errorf("want a comma or the end after label %s at byte %d, have %q", name, p, rest(in, p))
		}
		p++
	}
	return out, nil
}

// unquote reads a PromQL string at the start of s: double- or single-quoted
// with escapes, or raw in backquotes. It returns the value and the bytes it
// used.
func unquote(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("want a quoted value, have nothing")
	}
	q := s[0]
	switch q {
	case '`':
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return "", 0, errors.New("the backquote is not closed")
		}
		return s[1 : 1+end], end + 2, nil
	case '"', '\'':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '\n':
				return "", 0, errors.New("a line break inside a quoted value")
			case q:
				inner := s[1:i]
				if q == '\'' {
					// As a Go string: \' needs no escape, " does.
					inner = strings.ReplaceAll(strings.ReplaceAll(inner, `\'`, `'`), `"`, `\"`)
				}
				v, err := strconv.Unquote(`"` + inner + `"`)
				if err != nil {
					return "", 0, fmt.Errorf("bad escape in %s", s[:i+1])
				}
				return v, i + 1, nil
			}
		}
		return "", 0, fmt.Errorf("the quote %c is not closed", q)
	default:
		return "", 0, fmt.Errorf("want a quoted value, have %q", rest(s, 0))
	}
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }
func isDigit(b byte) bool  { return b >= '0' && b <= '9' }

// rest quotes at most 20 bytes of s from p, for an error.
func rest(s string, p int) string {
	r := s[p:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}
