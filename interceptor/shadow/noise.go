package shadow

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// noise learns, per method, which field paths differ between two replies of
// the baseline. A path is noisy while it differed in at least minCount of
// the last window baseline comparisons of its method.
type noise struct {
	window, minCount int

	mu      sync.Mutex
	methods map[string]*methodNoise
}

type methodNoise struct {
	ring   [][]string // the diff paths of the last comparisons
	next   int
	counts map[string]int
}

func newNoise(window, minCount int) *noise {
	return &noise{window: window, minCount: minCount, methods: map[string]*methodNoise{}}
}

// observe adds one baseline comparison of method.
func (n *noise) observe(method string, paths []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mn := n.methods[method]
	if mn == nil {
		mn = &methodNoise{counts: map[string]int{}}
		n.methods[method] = mn
	}
	if len(mn.ring) < n.window {
		mn.ring = append(mn.ring, paths)
	} else {
		for _, p := range mn.ring[mn.next] {
			if mn.counts[p]--; mn.counts[p] <= 0 {
				delete(mn.counts, p)
			}
		}
		mn.ring[mn.next] = paths
		mn.next = (mn.next + 1) % n.window
	}
	for _, p := range paths {
		mn.counts[p]++
	}
}

// noisy returns the paths of method that are noisy now.
func (n *noise) noisy(method string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	mn := n.methods[method]
	if mn == nil {
		return nil
	}
	var out []string
	for p, c := range mn.counts {
		if c >= n.minCount {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// all returns the noisy paths of every method that has any.
func (n *noise) all() map[string][]string {
	n.mu.Lock()
	methods := slices.Sorted(maps.Keys(n.methods))
	n.mu.Unlock()
	out := map[string][]string{}
	for _, m := range methods {
		if p := n.noisy(m); len(p) > 0 {
			out[m] = p
		}
	}
	return out
}

// Mismatch is one comparison the mismatch log keeps: a mismatch or a shadow
// error. It is ready for JSON.
type Mismatch struct {
	Time time.Time `json:"time"`
	// Method is the full method name.
	Method string `json:"method"`
	// Candidate is the version the copy went to.
	Candidate string `json:"candidate"`
	// Result is ResultMismatch or ResultShadowError.
	Result string `json:"result"`
	// Fields are the differing field paths, noise and ignored fields left
	// out.
	Fields []string `json:"fields,omitempty"`
	// Noise are the differing paths that were taken for noise.
	Noise []string `json:"noise,omitempty"`
	// PrimaryCode and ShadowCode are the status codes of the two calls.
	PrimaryCode string `json:"primary_code"`
	ShadowCode  string `json:"shadow_code"`
	// ShadowError is the copy's error message, for shadow errors.
	ShadowError string `json:"shadow_error,omitempty"`
	// Values are the differing values, redacted, when ShowValues is on.
	Values []FieldValues `json:"values,omitempty"`
}

// mismatchLog keeps the last n records.
type mismatchLog struct {
	mu   sync.Mutex
	buf  []Mismatch
	next int
	n    int
}

func (l *mismatchLog) add(m Mismatch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) < l.n {
		l.buf = append(l.buf, m)
		return
	}
	l.buf[l.next] = m
	l.next = (l.next + 1) % l.n
}

// list returns the records, oldest first.
func (l *mismatchLog) list() []Mismatch {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Mismatch, 0, len(l.buf))
	out = append(out, l.buf[l.next:]...)
	return append(out, l.buf[:l.next]...)
}
