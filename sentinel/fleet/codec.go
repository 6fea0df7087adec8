package fleet

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// Reports travel in a compact binary form: the leader reads every
// replica's report each tick, and decoding JSON cost it about 0.1 ms a
// replica (a report is mostly a latency histogram's bucket counts). The
// form is a marker byte, then varints, strings as a length and bytes, and
// floats as their 8 bytes; maps are written in key order. A value that
// starts with '{' is a report in JSON, as earlier versions wrote them, and
// is still read.
//
// A report whose windows count calls past telemetry's method cap
// (Window.Overflow) starts with overflowMarker, and each of its windows
// ends with that count. Others keep reportMarker and the form of versions
// before it, so a leader of such a version still reads them, and fails
// loudly on the rare report whose overflow it could not carry. A report
// whose windows count unanswered calls (VersionStats.Unanswered: a
// version's servers died with calls in flight) goes in JSON: every leader
// reads it, one of an earlier version without those counts, so that the
// rest of the report (the baseline's calls, the candidate's answered
// errors) is not lost when it matters most; such ticks are few, and their
// JSON costs the leader ~0.1 ms a report.
const (
	reportMarker   = 0x01
	overflowMarker = 0x02
)

// Limits a decoded report must keep, so a malformed one cannot make the
// leader allocate without bound.
const (
	maxCodecString = 1 << 10
	maxCodecItems  = 1 << 16
)

var errTruncated = errors.New("the report ends too soon")

// encodeReport renders r in the binary form, or in JSON when its windows
// count unanswered calls.
func encodeReport(r *report) []byte {
	if hasUnanswered(r) {
		b, err := json.Marshal(r)
		if err == nil {
			return b
		}
	}
	e := encoder{b: make([]byte, 0, 512), overflow: hasOverflow(r)}
	e.b = append(e.b, reportMarker)
	if e.overflow {
		e.b[0] = overflowMarker
	}
	e.uint(uint64(r.Format))
	e.str(r.Replica)
	e.str(r.Epoch)
	e.uint(r.Seq)
	e.str(r.SourceError)
	e.uint(uint64(len(r.Segments)))
	for _, s := range r.Segments {
		e.uint(s.State)
		e.bool(s.Mixed)
		e.window(s.Window)
	}
	return e.b
}

// hasOverflow says whether a window of r counts calls past the method cap.
func hasOverflow(r *report) bool {
	return slices.ContainsFunc(r.Segments, func(s segment) bool {
		return s.Window != nil && s.Window.Overflow != (telemetry.Overflow{})
	})
}

// hasUnanswered says whether a window of r counts unanswered calls.
func hasUnanswered(r *report) bool {
	for _, s := range r.Segments {
		if s.Window == nil {
			continue
		}
		for _, v := range s.Window.Versions {
			if v != nil && v.Unanswered != 0 {
				return true
			}
		}
	}
	return false
}

// encoder writes the binary form; overflow: the windows carry Overflow.
type encoder struct {
	b        []byte
	overflow bool
}

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) float(f float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.int(0)
		return
	}
	e.int(t.UnixNano())
}

func (e *encoder) window(w *telemetry.Window) {
	if w == nil {
		w = &telemetry.Window{}
	}
	e.time(w.Start)
	e.time(w.End)
	encodeMap(e, w.Versions, (*encoder).str, func(e *encoder, v *telemetry.VersionStats) {
		if v == nil {
			v = &telemetry.VersionStats{}
		}
		e.int(v.Fallbacks)
		encodeMap(e, v.Shadow, (*encoder).str, (*encoder).int)
		encodeMap(e, v.Roles, func(e *encoder, r balancer.Role) { e.str(string(r)) }, (*encoder).role)
	})
	if e.overflow {
		e.int(w.Overflow.OtherMethods)
	}
}

// encodeMap writes m's size, then each key and value in key order.
func encodeMap[K cmp.Ordered, V any](e *encoder, m map[K]V, key func(*encoder, K), val func(*encoder, V)) {
	e.uint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key(e, k)
		val(e, m[k])
	}
}

func (e *encoder) role(r *telemetry.RoleStats) {
	if r == nil {
		r = &telemetry.RoleStats{}
	}
	e.int(r.Calls)
	e.int(r.Errors)
	encodeMap(e, r.Codes, func(e *encoder, c codes.Code) { e.uint(uint64(c)) }, (*encoder).int)
	h := r.Latency
	e.uint(h.Count)
	e.float(h.Sum)
	e.float(h.Min)
	e.float(h.Max)
	e.int(int64(h.Scale))
	e.uint(h.ZeroCount)
	e.int(int64(h.Offset))
	e.uint(uint64(len(h.Counts)))
	for _, c := range h.Counts {
		e.uint(c)
	}
}

// decoder reads the binary form; the first error sticks, and every read
// after it returns zero values. It moves an offset, not the slice, so
// that reading writes no pointer (and pays no GC write barrier).
type decoder struct {
	b        []byte
	off      int
	err      error
	overflow bool // the windows carry Overflow
}

// rest is what is left to read.
func (d *decoder) rest() []byte { return d.b[d.off:] }

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uint() uint64 { return varint(d, binary.Uvarint) }
func (d *decoder) int() int64   { return varint(d, binary.Varint) }

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.rest())
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.off += n
	return v
}

// items reads a count of what follows, bounded by maxCodecItems.
func (d *decoder) items(what string) int {
	n := d.uint()
	if n > maxCodecItems {
		d.fail(fmt.Errorf("%d %s, want at most %d", n, what, maxCodecItems))
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uint()
	switch {
	case d.err != nil:
		return ""
	case n > maxCodecString || n > uint64(len(d.rest())):
		d.fail(fmt.Errorf("a string of %d bytes, want at most %d and what is left", n, min(maxCodecString, len(d.rest()))))
		return ""
	}
	s := string(d.rest()[:n])
	d.off += int(n)
	return s
}

func (d *decoder) float() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.rest()) < 8 {
		d.fail(errTruncated)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.rest()))
	d.off += 8
	return f
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.rest()) < 1 || d.b[d.off] > 1 {
		d.fail(errors.New("a flag that is neither 0 nor 1"))
		return false
	}
	v := d.b[d.off] == 1
	d.off++
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.int()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(fmt.Errorf("%s %d is outside the 32-bit range", what, v))
		return 0
	}
	return int32(v)
}

func (d *decoder) time() time.Time {
	ns := d.int()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// decodeBinaryReport reads a report in the binary form into r, reusing
// r's segments' windows: the leader decodes a report per replica per tick
// into one scratch report, so a tick allocates almost nothing.
func decodeBinaryReport(b []byte, r *report) error {
	if len(b) == 0 || b[0] != reportMarker && b[0] != overflowMarker {
		return errors.New("not a report: the first byte is not a report marker")
	}
	d := &decoder{b: b, off: 1, overflow: b[0] == overflowMarker}
	r.Format, r.Replica, r.Epoch, r.Seq, r.SourceError = int(d.uint()), d.str(), d.str(), d.uint(), d.str()
	n := d.items("segments")
	segs := r.Segments[:0]
	for i := range n {
		var w *telemetry.Window
		if i < cap(segs) {
			w = segs[:i+1][i].Window
		}
		if w == nil {
			w = new(telemetry.Window)
		}
		seg := segment{State: d.uint(), Mixed: d.bool(), Window: w}
		d.window(w)
		segs = append(segs, seg)
	}
	r.Segments = segs
	if d.err == nil && len(d.rest()) > 0 {
		d.fail(fmt.Errorf("%d bytes after the report", len(d.rest())))
	}
	return d.err
}

// window reads a window into w, reusing its maps and buckets. When w holds
// a version or a role that the report does not, it reads the window again
// into a fresh one.
func (d *decoder) window(w *telemetry.Window) {
	start := d.off
	if d.windowInto(w) || d.err != nil {
		return
	}
	*w = telemetry.Window{}
	d.off = start
	if !d.windowInto(w) {
		d.fail(errors.New("a version or a role appears twice"))
	}
}

// windowInto reads a window over w and reports whether w now holds only
// what was read.
func (d *decoder) windowInto(w *telemetry.Window) bool {
	w.Start, w.End = d.time(), d.time()
	n := d.items("versions")
	clean := len(w.Versions) <= n
	for range n {
		v := d.version(w)
		v.Fallbacks = d.int()
		v.Unanswered = 0 // such reports go in JSON
		v.Shadow = d.counts(v.Shadow)
		nr := d.items("roles")
		clean = clean && len(v.Roles) <= nr
		for range nr {
			d.role(d.roleOf(v))
		}
		clean = clean && len(v.Roles) == nr
	}
	w.Overflow = telemetry.Overflow{}
	if d.overflow {
		w.Overflow.OtherMethods = d.int()
	}
	return clean && len(w.Versions) == n
}

// name reads a string and looks it up in m without making a string of it,
// unless it is new.
func name[V any](d *decoder, m map[string]V) (string, V, bool) {
	n := d.uint()
	var zero V
	if d.err != nil || n > maxCodecString || n > uint64(len(d.rest())) {
		d.fail(fmt.Errorf("a name of %d bytes, want at most %d and what is left", n, min(maxCodecString, len(d.rest()))))
		return "", zero, false
	}
	b := d.rest()[:n]
	d.off += int(n)
	if v, ok := m[string(b)]; ok {
		return "", v, true
	}
	return string(b), zero, false
}

func (d *decoder) version(w *telemetry.Window) *telemetry.VersionStats {
	key, v, ok := name(d, w.Versions)
	if ok && v != nil {
		return v
	}
	return w.MutableVersion(key)
}

func (d *decoder) roleOf(v *telemetry.VersionStats) *telemetry.RoleStats {
	n := d.uint()
	if d.err != nil || n > maxCodecString || n > uint64(len(d.rest())) {
		d.fail(fmt.Errorf("a role of %d bytes, want at most %d and what is left", n, min(maxCodecString, len(d.rest()))))
		return new(telemetry.RoleStats)
	}
	b := d.rest()[:n]
	d.off += int(n)
	if r := v.Roles[balancer.Role(b)]; r != nil {
		return r
	}
	return v.MutableRole(balancer.Role(b))
}

// counts reads a map of counts into m, cleared.
func (d *decoder) counts(m map[string]int64) map[string]int64 {
	clear(m)
	n := d.items("counts")
	if n > 0 && m == nil {
		m = make(map[string]int64, n)
	}
	for range n {
		k := d.str()
		m[k] = d.int()
	}
	return m
}

// role reads a role's figures over r, reusing its status codes' map and
// its buckets.
func (d *decoder) role(r *telemetry.RoleStats) {
	r.Calls, r.Errors = d.int(), d.int()
	clear(r.Codes)
	if n := d.items("status codes"); n > 0 {
		if r.Codes == nil {
			r.Codes = make(map[codes.Code]int64, n)
		}
		for range n {
			c := codes.Code(d.uint())
			r.Codes[c] = d.int()
		}
	}
	h := &r.Latency
	h.Count, h.Sum, h.Min, h.Max = d.uint(), d.float(), d.float(), d.float()
	h.Scale, h.ZeroCount, h.Offset = d.int32("scale"), d.uint(), d.int32("offset")
	n := d.items("buckets")
	h.Counts = slices.Grow(h.Counts[:0], n)[:n]
	for i := range h.Counts {
		h.Counts[i] = d.uint()
	}
	if n == 0 {
		h.Counts = nil
	}
}
