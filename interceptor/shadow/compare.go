package shadow

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Pseudo paths that stand for differences no field path names.
const (
	// PathMessageCount: the two sides of a stream sent a different number
	// of messages.
	PathMessageCount = "(messages)"
	// PathUnknown: the unknown fields of a message differ.
	PathUnknown = "(unknown)"
	// PathType: the two replies are of different message types.
	PathType = "(type)"
)

// FieldValues is one differing field as the mismatch log shows it.
type FieldValues struct {
	Path    string `json:"path"`
	Primary string `json:"primary"`
	Shadow  string `json:"shadow"`
}

// Diff returns the paths of the fields that differ between a and b, sorted,
// each once, with protobuf equality: Diff is empty exactly when proto.Equal
// holds. Paths use the proto field names joined by dots; a difference
// inside a repeated or map field of messages is reported at the element's
// field ("items.price_cents"), a difference in length or keys at the field
// itself. Well-known types (google.protobuf.*) count as one value.
func Diff(a, b proto.Message) []string {
	var d differ
	d.top(a, b)
	return d.sorted()
}

// differ collects the differing paths of one or more message pairs.
type differ struct {
	paths  map[string]struct{}
	values []FieldValues // with capture: the first values seen for each path
	// capture makes the differ render the differing values, up to maxValues.
	capture bool
}

const maxValues = 16

func (d *differ) top(a, b proto.Message) {
	if a == nil || b == nil {
		if a != nil || b != nil {
			d.add(PathType, nil, protoreflect.Value{}, protoreflect.Value{})
		}
		return
	}
	d.messages("", a.ProtoReflect(), b.ProtoReflect())
}

func (d *differ) add(path string, fd protoreflect.FieldDescriptor, va, vb protoreflect.Value) {
	if d.paths == nil {
		d.paths = map[string]struct{}{}
	}
	if _, ok := d.paths[path]; ok {
		return
	}
	d.paths[path] = struct{}{}
	if d.capture && len(d.values) < maxValues {
		d.values = append(d.values, FieldValues{Path: path, Primary: render(fd, va), Shadow: render(fd, vb)})
	}
}

func (d *differ) sorted() []string {
	if len(d.paths) == 0 {
		return nil
	}
	out := make([]string, 0, len(d.paths))
	for p := range d.paths {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func join(prefix string, name protoreflect.Name) string {
	if prefix == "" {
		return string(name)
	}
	return prefix + "." + string(name)
}

func (d *differ) messages(prefix string, a, b protoreflect.Message) {
	if a.Descriptor().FullName() != b.Descriptor().FullName() {
		d.add(join(prefix, PathType), nil, protoreflect.Value{}, protoreflect.Value{})
		return
	}
	if a.IsValid() != b.IsValid() {
		d.add(prefixOr(prefix), nil, protoreflect.ValueOfMessage(a), protoreflect.ValueOfMessage(b))
		return
	}
	// The fields populated on either side (extensions included), in field
	// number order.
	var fds []protoreflect.FieldDescriptor
	collect := func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.ContainsFunc(fds, func(x protoreflect.FieldDescriptor) bool { return x.FullName() == fd.FullName() }) {
			fds = append(fds, fd)
		}
		return true
	}
	a.Range(collect)
	b.Range(collect)
	slices.SortFunc(fds, func(x, y protoreflect.FieldDescriptor) int { return int(x.Number()) - int(y.Number()) })
	for _, fd := range fds {
		path := join(prefix, fd.Name())
		ha, hb := a.Has(fd), b.Has(fd)
		if ha != hb {
			d.add(path, fd, valueIf(a, fd, ha), valueIf(b, fd, hb))
			continue
		}
		d.field(path, fd, a.Get(fd), b.Get(fd))
	}
	if !bytes.Equal(a.GetUnknown(), b.GetUnknown()) {
		d.add(join(prefix, PathUnknown), nil, protoreflect.Value{}, protoreflect.Value{})
	}
}

func prefixOr(p string) string {
	if p == "" {
		return PathType
	}
	return p
}

func valueIf(m protoreflect.Message, fd protoreflect.FieldDescriptor, has bool) protoreflect.Value {
	if !has {
		return protoreflect.Value{}
	}
	return m.Get(fd)
}

func (d *differ) field(path string, fd protoreflect.FieldDescriptor, va, vb protoreflect.Value) {
	switch {
	case fd.IsList():
		la, lb := va.List(), vb.List()
		if la.Len() != lb.Len() {
			d.add(path, fd, va, vb)
			return
		}
		for i := range la.Len() {
			if d.single(path, fd, la.Get(i), lb.Get(i)) {
				d.add(path, fd, va, vb)
				return
			}
		}
	case fd.IsMap():
		ma, mb := va.Map(), vb.Map()
		if ma.Len() != mb.Len() {
			d.add(path, fd, va, vb)
			return
		}
		vd := fd.MapValue()
		differ := false
		ma.Range(func(k protoreflect.MapKey, x protoreflect.Value) bool {
			y := mb.Get(k)
			if !y.IsValid() || d.single(path, vd, x, y) {
				differ = true
				return false
			}
			return true
		})
		if differ {
			d.add(path, fd, va, vb)
		}
	default:
		if d.single(path, fd, va, vb) {
			d.add(path, fd, va, vb)
		}
	}
}

// single compares one value. Messages other than well-known types are
// walked, adding their own paths; for everything else it reports whether the
// values differ and leaves the adding to the caller.
func (d *differ) single(path string, fd protoreflect.FieldDescriptor, va, vb protoreflect.Value) bool {
	if md := fd.Message(); md != nil {
		if atomicMessage(md) {
			return !proto.Equal(va.Message().Interface(), vb.Message().Interface())
		}
		d.messages(path, va.Message(), vb.Message())
		return false
	}
	return !va.Equal(vb)
}

// atomicMessage reports whether a message type is compared and reported as
// one value: the well-known types, whose inner fields (seconds, nanos,
// type_url) mean nothing on their own.
func atomicMessage(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile() != nil && md.ParentFile().Package() == "google.protobuf"
}

// render writes a value for the mismatch log.
func render(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	if !v.IsValid() {
		return "<unset>"
	}
	switch x := v.Interface().(type) {
	case protoreflect.Message:
		return strings.TrimSpace(prototext.MarshalOptions{}.Format(x.Interface()))
	case protoreflect.List:
		parts := make([]string, x.Len())
		for i := range x.Len() {
			parts[i] = render(fd, x.Get(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case protoreflect.Map:
		var parts []string
		x.Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
			parts = append(parts, fmt.Sprintf("%v: %s", k.Interface(), render(fd.MapValue(), e)))
			return true
		})
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case string:
		return fmt.Sprintf("%q", x)
	case []byte:
		return fmt.Sprintf("%q", x)
	case protoreflect.EnumNumber:
		if fd != nil && fd.Enum() != nil {
			if ev := fd.Enum().Values().ByNumber(x); ev != nil {
				return string(ev.Name())
			}
		}
		return fmt.Sprint(int32(x))
	default:
		return fmt.Sprint(x)
	}
}

// clearPaths clears the ignored fields of m in place.
func clearPaths(m proto.Message, paths [][]string) {
	if m == nil {
		return
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	for _, p := range paths {
		clearPath(r, p)
	}
}

func clearPath(m protoreflect.Message, path []string) {
	fields := m.Descriptor().Fields()
	fd := fields.ByName(protoreflect.Name(path[0]))
	if fd == nil {
		fd = fields.ByJSONName(path[0])
	}
	if fd == nil || !m.Has(fd) {
		return
	}
	if len(path) == 1 {
		m.Clear(fd)
		return
	}
	rest := path[1:]
	switch {
	case fd.IsList():
		if fd.Message() == nil {
			return
		}
		l := m.Mutable(fd).List()
		for i := range l.Len() {
			clearPath(l.Get(i).Message(), rest)
		}
	case fd.IsMap():
		if fd.MapValue().Message() == nil {
			return
		}
		m.Mutable(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
			clearPath(v.Message(), rest)
			return true
		})
	case fd.Message() != nil:
		clearPath(m.Mutable(fd).Message(), rest)
	}
}

// covered reports whether path is path p or lies inside it.
func covered(path, p string) bool {
	return path == p || strings.HasPrefix(path, p) && len(path) > len(p) && path[len(p)] == '.'
}

func countValue(n int) protoreflect.Value { return protoreflect.ValueOfInt64(int64(n)) }
