package shadow

import (
	"bytes"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The fast path of a comparison. Both replies are put in their
// deterministic wire form and compared record by record, skipping the
// ignored fields: equal forms mean equal replies, with no reflection and no
// garbage. Any difference at all (or a form that does not parse) sends the
// pair to the field walk of compare.go, which names the differing fields;
// so the fast path can only say "equal", and only when the walk would too.

// deterministic marshals maps in key order, so that equal replies of one
// type have equal wire forms in this process.
var deterministic = proto.MarshalOptions{Deterministic: true}

var wirePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// marshalWire returns m's deterministic wire form in a pooled buffer, or
// nil when m cannot be marshalled (invalid UTF-8, say). Give it back with
// putWire.
func marshalWire(m proto.Message) *[]byte {
	b := wirePool.Get().(*[]byte)
	out, err := deterministic.MarshalAppend((*b)[:0], m)
	if err != nil {
		wirePool.Put(b)
		return nil
	}
	*b = out
	return b
}

func putWire(b *[]byte) {
	if b != nil && cap(*b) <= 64<<10 {
		wirePool.Put(b)
	}
}

// ignoreNode is the ignored fields of one message type by field number: a
// field is skipped whole, or its message value is compared with ignored
// fields of its own. A nil *ignoreNode ignores nothing.
type ignoreNode struct {
	skip     bool
	children map[protowire.Number]*ignoreNode
}

func (n *ignoreNode) child(num protowire.Number) *ignoreNode {
	if n.children == nil {
		n.children = map[protowire.Number]*ignoreNode{}
	}
	c := n.children[num]
	if c == nil {
		c = new(ignoreNode)
		n.children[num] = c
	}
	return c
}

// ignoreTrees caches the ignore tree of each message type.
type ignoreTrees struct {
	paths [][]string
	trees sync.Map // protoreflect.FullName -> *ignoreNode
}

// of returns the tree for a message type; nil when no ignored path names a
// field of it.
func (t *ignoreTrees) of(md protoreflect.MessageDescriptor) *ignoreNode {
	if len(t.paths) == 0 {
		return nil
	}
	if n, ok := t.trees.Load(md.FullName()); ok {
		return n.(*ignoreNode)
	}
	root := new(ignoreNode)
	for _, p := range t.paths {
		addPath(root, md, p)
	}
	if root.children == nil {
		root = nil
	}
	n, _ := t.trees.LoadOrStore(md.FullName(), root)
	return n.(*ignoreNode)
}

// addPath adds one ignored path to the tree of md, resolving its names as
// clearPath does; a path that names no field of md adds nothing.
func addPath(n *ignoreNode, md protoreflect.MessageDescriptor, path []string) {
	for i, seg := range path {
		fd := fieldByName(md, seg)
		if fd == nil || n.skip {
			return
		}
		if i == len(path)-1 {
			c := n.child(fd.Number())
			c.skip, c.children = true, nil
			return
		}
		switch {
		case fd.IsMap():
			md = fd.MapValue().Message()
			n = n.child(fd.Number()).child(2) // the entry's value field
		default: // a singular or repeated message field
			md = fd.Message()
			n = n.child(fd.Number())
		}
		if md == nil {
			return // a scalar has no fields to ignore
		}
	}
}

// fieldByName finds a field by its proto name or, failing that, its JSON
// name.
func fieldByName(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return fields.ByJSONName(name)
}

// equalWire reports whether two wire forms of one message type have the
// same records in the same order, apart from the fields n ignores.
func equalWire(a, b []byte, n *ignoreNode) bool {
	if n == nil {
		return bytes.Equal(a, b)
	}
	for {
		var ra, rb record
		var okA, okB bool
		a, ra, okA = nextRecord(a, n)
		b, rb, okB = nextRecord(b, n)
		switch {
		case ra.bad || rb.bad:
			return false
		case !okA || !okB:
			return !okA && !okB
		case ra.num != rb.num || ra.typ != rb.typ:
			return false
		}
		if c := n.children[ra.num]; c != nil && ra.typ == protowire.BytesType {
			va, _ := protowire.ConsumeBytes(ra.body)
			vb, _ := protowire.ConsumeBytes(rb.body)
			if !equalWire(va, vb, c) {
				return false
			}
		} else if !bytes.Equal(ra.body, rb.body) {
			return false
		}
	}
}

// record is one field record of a wire form: its number, type and encoded
// value.
type record struct {
	num  protowire.Number
	typ  protowire.Type
	body []byte
	bad  bool
}

// nextRecord returns the first record of b that n does not skip, and the
// rest of b after it; ok is false at the end of b or when b does not parse
// (then bad is set).
func nextRecord(b []byte, n *ignoreNode) (rest []byte, r record, ok bool) {
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return nil, record{bad: true}, false
		}
		vl := protowire.ConsumeFieldValue(num, typ, b[tl:])
		if vl < 0 {
			return nil, record{bad: true}, false
		}
		body := b[tl : tl+vl]
		b = b[tl+vl:]
		if c := n.children[num]; c != nil && c.skip {
			continue
		}
		return b, record{num: num, typ: typ, body: body}, true
	}
	return nil, record{}, false
}
