package fleet

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/telemetry"
)

// full is a window with every field set.
func full() *telemetry.Window {
	w := &telemetry.Window{Start: time.Unix(100, 5).UTC(), End: time.Unix(101, 7).UTC()}
	v := w.MutableVersion("canary")
	v.Fallbacks, v.Shadow = 3, map[string]int64{telemetry.ShadowMatch: 9, telemetry.ShadowMismatch: 1}
	r := v.MutableRole(balancer.RolePrimary)
	r.Calls, r.Errors, r.Codes = 20, 2, map[codes.Code]int64{codes.OK: 18, codes.Unavailable: 2}
	r.Latency = telemetry.Histogram{Count: 20, Sum: 0.4, Min: 0.001, Max: 0.09, Scale: 3, ZeroCount: 1, Offset: -60, Counts: []uint64{4, 0, 15}}
	s := w.MutableVersion("stable").MutableRole(balancer.RoleShadow)
	s.Calls = 5
	w.Overflow.OtherMethods = 6
	return w
}

// The binary form carries every field of a report: what JSON carries.
func TestCodecRoundTrip(t *testing.T) {
	in := &report{Format: StateFormat, Replica: "r-1", Epoch: "e9", Seq: 42, SourceError: "scrape failed",
		Segments: []segment{{State: 3, Window: full()}, {State: 4, Mixed: true, Window: &telemetry.Window{}}}}
	var out report
	require.NoError(t, decodeBinaryReport(encodeReport(in), &out))
	assert.Equal(t, jsonOf(t, in), jsonOf(t, &out))
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// A field added to a window's types must be given a place in the binary
// form: this counts the fields the codec knows (VersionStats.Unanswered
// travels in JSON: TestCodecSendsReportsWithUnansweredCallsInJSON).
func TestCodecCoversEveryField(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[telemetry.Window]():       4,
		reflect.TypeFor[telemetry.VersionStats](): 4,
		reflect.TypeFor[telemetry.RoleStats]():    4,
		reflect.TypeFor[telemetry.Histogram]():    8,
		reflect.TypeFor[report]():                 6,
		reflect.TypeFor[segment]():                3,
		reflect.TypeFor[telemetry.Overflow]():     1,
	} {
		assert.Equal(t, n, typ.NumField(), "%v has a field the binary form does not carry: add it to codec.go", typ)
	}
}

// A report without overflow keeps the form of versions before Overflow,
// byte for byte, so their leaders still read it; one with overflow is
// marked apart and carries it.
func TestCodecMarksOnlyReportsWithOverflow(t *testing.T) {
	plain := full()
	plain.Overflow = telemetry.Overflow{}
	withOverflow := &report{Format: StateFormat, Segments: []segment{{Window: plain}, {Window: full()}}}
	b := encodeReport(&report{Format: StateFormat, Segments: []segment{{Window: plain}}})
	assert.Equal(t, byte(reportMarker), b[0])
	assert.Equal(t, byte(overflowMarker), encodeReport(withOverflow)[0])
	var out report
	require.NoError(t, decodeBinaryReport(encodeReport(withOverflow), &out))
	assert.Zero(t, out.Segments[0].Window.Overflow)
	assert.EqualValues(t, 6, out.Segments[1].Window.Overflow.OtherMethods)
	require.NoError(t, decodeBinaryReport(encodeReport(&report{Format: StateFormat, Segments: []segment{{Window: plain}, {Window: plain}}}), &out),
		"into a scratch report that held overflow")
	assert.Equal(t, jsonOf(t, plain), jsonOf(t, out.Segments[1].Window))
}

// A report with unanswered calls goes in JSON, which leaders of every
// version read (decodeReport), with the counts; one without keeps the
// binary forms.
func TestCodecSendsReportsWithUnansweredCallsInJSON(t *testing.T) {
	plain := full()
	assert.Equal(t, byte(overflowMarker), encodeReport(&report{Format: StateFormat, Segments: []segment{{Window: plain}}})[0])
	lost := full()
	lost.Versions["canary"].Unanswered = 2
	both := &report{Format: StateFormat, Replica: "r", Epoch: "e", Seq: 3, Segments: []segment{{Window: plain}, {Window: lost}}}
	b := encodeReport(both)
	require.Equal(t, byte('{'), b[0])
	out, err := decodeReport(b, "r", "e", 3, new(report))
	require.NoError(t, err)
	assert.Equal(t, jsonOf(t, both), jsonOf(t, out))
	assert.EqualValues(t, 2, out.Segments[1].Window.Version("canary").Unanswered)
}

// Decoding into a scratch report that held another report's figures
// leaves none of them behind.
func TestCodecScratchHoldsOnlyTheLastReport(t *testing.T) {
	var scratch report
	require.NoError(t, decodeBinaryReport(encodeReport(&report{Format: StateFormat, Segments: []segment{{Window: full()}, {Window: full()}}}), &scratch))
	small := &telemetry.Window{}
	small.MutableVersion("stable").MutableRole(balancer.RolePrimary).Calls = 7
	require.NoError(t, decodeBinaryReport(encodeReport(&report{Format: StateFormat, Segments: []segment{{Window: small}}}), &scratch))
	require.Len(t, scratch.Segments, 1)
	assert.Equal(t, jsonOf(t, small), jsonOf(t, scratch.Segments[0].Window))
}

// A malformed report is refused with the reason, never a panic.
func TestCodecRefusesMalformedReports(t *testing.T) {
	good := encodeReport(&report{Format: StateFormat, Replica: "r", Epoch: "e", Seq: 1, Segments: []segment{{Window: full()}}})
	for name, b := range map[string][]byte{
		"empty":       nil,
		"no marker":   {'x'},
		"truncated":   good[:len(good)-3],
		"trailing":    append(append([]byte{}, good...), 0),
		"many items":  {reportMarker, 1, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0x7f},
		"long string": {reportMarker, 1, 0xff, 0x7f},
		"bad flag":    {reportMarker, 1, 0, 0, 1, 0, 1, 0, 7},
	} {
		var r report
		assert.Error(t, decodeBinaryReport(b, &r), name)
	}
	_, err := decodeReport(good[:5], "r", "e", 1, &report{})
	assert.ErrorIs(t, err, ErrBadState)
}
