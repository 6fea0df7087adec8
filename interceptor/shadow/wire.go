package shadow

import (
	"bytes"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
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

// wirePool holds the buffers of wire forms. They start above grpc's
// pooling threshold, so that grpc counts the references to a request's.
var wirePool = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

func getWire() *[]byte { return wirePool.Get().(*[]byte) }

// marshalWire returns m's deterministic wire form in a pooled buffer, or
// nil when m cannot be marshalled (invalid UTF-8, say). Give it back with
// putWire.
func marshalWire(m proto.Message) *[]byte {
	b := getWire()
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
// fields of its own. A nil *ignoreNode ignores nothing. Its children are
// few (the ignored paths through it), so a slice finds them faster than a
// map.
type ignoreNode struct {
	skip     bool
	children []ignoreChild
}

// ignoreChild is the ignored fields under one field number.
type ignoreChild struct {
	num  protowire.Number
	node *ignoreNode
}

// get returns the node of field num, or nil.
func (n *ignoreNode) get(num protowire.Number) *ignoreNode {
	for _, c := range n.children {
		if c.num == num {
			return c.node
		}
	}
	return nil
}

// child returns the node of field num, made if need be.
func (n *ignoreNode) child(num protowire.Number) *ignoreNode {
	if c := n.get(num); c != nil {
		return c
	}
	c := new(ignoreNode)
	n.children = append(n.children, ignoreChild{num: num, node: c})
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
// same records in the same order, apart from the fields n ignores. Equal
// bytes settle it at once.
func equalWire(a, b []byte, n *ignoreNode) bool {
	switch {
	case bytes.Equal(a, b):
		return true
	case n == nil:
		return false
	}
	return equalRecords(a, b, n)
}

// equalRecords is equalWire record by record.
func equalRecords(a, b []byte, n *ignoreNode) bool {
	ra, rb := recordReader{b: a, n: n}, recordReader{b: b, n: n}
	for {
		okA, badA := ra.next()
		okB, badB := rb.next()
		switch {
		case badA || badB:
			return false
		case !okA || !okB:
			return !okA && !okB
		case ra.tag != rb.tag:
			return false
		case ra.node != nil && ra.tag&7 == uint64(protowire.BytesType):
			if !equalWire(ra.body, rb.body, ra.node) {
				return false
			}
		case !bytes.Equal(ra.body, rb.body):
			return false
		}
	}
}

// recordReader reads the field records of a wire form that n does not
// skip.
type recordReader struct {
	b []byte // what is left to read
	n *ignoreNode
	// The record read: its tag (number and type), its value (of a
	// length-delimited field, what follows the length; of any other, the
	// value as encoded) and the ignore node of its field.
	tag  uint64
	body []byte
	node *ignoreNode
}

// next reads the next record: false at the end of the form, and with bad
// when the form does not parse.
func (r *recordReader) next() (ok, bad bool) {
	for len(r.b) > 0 {
		num, typ, body, size := readRecord(r.b)
		if size < 0 {
			return false, true
		}
		r.b = r.b[size:]
		c := r.n.get(num)
		if c != nil && c.skip {
			continue
		}
		r.tag, r.body, r.node = uint64(protowire.EncodeTag(num, typ)), body, c
		return true, false
	}
	return false, false
}

// readRecord reads the record at the start of b, not empty: its field
// number and type, its value as recordReader keeps it, and its size in b,
// negative when b does not parse. A record whose tag and length (or
// varint) take a byte each, as most do, is read here; any other by
// protowire.
func readRecord(b []byte) (protowire.Number, protowire.Type, []byte, int) {
	if len(b) >= 2 && b[0] >= 1<<3 && b[0] < 0x80 && b[1] < 0x80 {
		num, typ, l := protowire.Number(b[0]>>3), protowire.Type(b[0]&7), int(b[1])
		switch {
		case typ == protowire.VarintType:
			return num, typ, b[1:2], 2
		case typ == protowire.BytesType && l <= len(b)-2:
			return num, typ, b[2 : 2+l], 2 + l
		}
	}
	return readRecordSlowly(b)
}

// readRecordSlowly is readRecord by protowire.
func readRecordSlowly(b []byte) (protowire.Number, protowire.Type, []byte, int) {
	num, typ, tl := protowire.ConsumeTag(b)
	if tl < 0 {
		return 0, 0, nil, tl
	}
	if typ == protowire.BytesType {
		v, vl := protowire.ConsumeBytes(b[tl:])
		if vl < 0 {
			return 0, 0, nil, vl
		}
		return num, typ, v, tl + vl
	}
	vl := protowire.ConsumeFieldValue(num, typ, b[tl:])
	if vl < 0 {
		return 0, 0, nil, vl
	}
	return num, typ, b[tl : tl+vl], tl + vl
}

// The copies of a unary call send its request and take their replies in
// wire form. The request is marshalled once, by grpc for the primary, and
// every leg sends the same bytes; a reply is kept as the bytes that came,
// compared with the primary's wire form as it is, and decoded only when it
// differs. A codec of this package, forced on the copies, passes both
// through; another, forced on the primary, hands the copies the buffers
// grpc marshalled the request into and received the reply in. A call whose
// options choose a codec of their own is copied with messages instead.

// wireCodec passes a *wireRequest and a *wireReply through as they are, and
// hands anything else to the registered proto codec.
type wireCodec struct{}

// Name is empty, so a copy is sent with the content type of a call with no
// codec option: the same as its primary's.
func (wireCodec) Name() string { return "" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*wireRequest); ok {
		r.data.Ref() // grpc frees what it is given
		return r.data, nil
	}
	return protoCodec().Marshal(v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*wireReply); ok {
		r.fill(data)
		return nil
	}
	return protoCodec().Unmarshal(data, v)
}

// protoCodec is the codec registered for protocol buffers: grpc's, or one
// the program registered in its place (in an init function, as grpc
// requires: an Interceptor looks it up once, when it is made).
func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2(grpcproto.Name) }

var (
	wireCodecOption = grpc.ForceCodecV2(wireCodec{})
	failFastWire    = []grpc.CallOption{grpc.WaitForReady(false), wireCodecOption}
)

// wireOptions is copyOptions with the wire codec.
func wireOptions(opts []grpc.CallOption) []grpc.CallOption {
	if len(opts) == 0 {
		return failFastWire
	}
	return filterOptions(opts, failFastWire...)
}

// plainCodec reports whether a call with opts uses the proto codec: no
// option chooses a codec or a content subtype other than proto.
func plainCodec(opts []grpc.CallOption) bool {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.ForceCodecCallOption, grpc.ForceCodecV2CallOption, grpc.CustomCodecCallOption:
			return false
		case grpc.ContentSubtypeCallOption:
			if o.ContentSubtype != grpcproto.Name {
				return false
			}
		}
	}
	return true
}

// wireRequest is a request's wire form, shared by the legs that send it.
// Its buffers count their references (grpc's transport may still hold them
// when a call returns early) and go back to their pool with the last. The
// slice itself is never written once set, and never reused: grpc reads it
// after a call may have returned.
type wireRequest struct{ data mem.BufferSlice }

// take marshals m into a pooled buffer; false if m does not marshal.
func (r *wireRequest) take(m proto.Message) bool {
	b := getWire()
	out, err := proto.MarshalOptions{}.MarshalAppend((*b)[:0], m)
	if err != nil {
		putWire(b)
		return false
	}
	*b = out
	r.data = mem.BufferSlice{mem.NewBuffer(b, wireBuffers{})}
	return true
}

// hold makes data, which r now holds a reference to, the wire form; false
// when there is none.
func (r *wireRequest) hold(data mem.BufferSlice) bool {
	r.data = data
	return data != nil
}

// release gives up this call's reference to the buffers.
func (r *wireRequest) release() {
	r.data.Free()
	r.data = nil
}

// capture is the codec a shadowed unary primary is sent with when it uses
// the proto codec. It hands every message to the proto codec and keeps,
// for the copies, references to the buffers grpc marshalled the request
// into and received the reply in, so that the primary's path marshals and
// copies nothing for them. An interceptor further down the chain that
// sends the call more than once leaves the last request and reply.
type capture struct {
	codec    encoding.CodecV2 // the proto codec
	mu       sync.Mutex
	req      mem.BufferSlice // the codec's own slice, which nobody writes
	reply    mem.BufferSlice // ours, over grpc's buffers
	gotReply bool
}

// Name is empty, so the primary is sent with the content type it has
// without this codec.
func (*capture) Name() string { return "" }

func (c *capture) Marshal(v any) (mem.BufferSlice, error) {
	data, err := c.codec.Marshal(v)
	if err != nil {
		return nil, err
	}
	data.Ref()
	c.mu.Lock()
	c.req.Free()
	c.req = data
	c.mu.Unlock()
	return data, nil
}

func (c *capture) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.codec.Unmarshal(data, v); err != nil {
		return err
	}
	data.Ref() // grpc frees data when this returns
	c.mu.Lock()
	c.reply.Free()
	clear(c.reply)
	c.reply = append(c.reply[:0], data...)
	c.gotReply = true
	c.mu.Unlock()
	return nil
}

// takeRequest hands over the last request's buffers and the reference to
// them; nil when grpc marshalled none since, or c is nil.
func (c *capture) takeRequest() mem.BufferSlice {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data := c.req
	c.req = nil
	return data
}

// takeReply hands over the last reply's buffers and the reference to
// them; kept is false when none came since, or c is nil.
func (c *capture) takeReply() (data mem.BufferSlice, kept bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, kept = c.reply, c.gotReply
	c.reply, c.gotReply = nil, false
	return data, kept
}

// release gives up the references still held, and keeps the reply's slice
// for the next call.
func (c *capture) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.req.Free()
	c.reply.Free()
	clear(c.reply)
	c.req, c.reply, c.gotReply = nil, c.reply[:0], false
}

// wireReply is a copy's reply as the bytes that came: grpc's one buffer
// itself, kept by a reference of its own, or a pooled copy of several (a
// large reply comes in pieces).
type wireReply struct {
	one    mem.Buffer
	joined *[]byte
}

func (r *wireReply) fill(data mem.BufferSlice) {
	r.release() // a call sent again by an interceptor further down
	if len(data) == 1 {
		data[0].Ref() // grpc frees data when Unmarshal returns
		r.one = data[0]
		return
	}
	r.joined = getWire()
	buf := (*r.joined)[:0]
	for _, d := range data {
		buf = append(buf, d.ReadOnlyData()...)
	}
	*r.joined = buf
}

// bytes returns the reply's wire form.
func (r *wireReply) bytes() []byte {
	switch {
	case r.one != nil:
		return r.one.ReadOnlyData()
	case r.joined != nil:
		return *r.joined
	}
	return nil
}

// release gives the reference or the copy back.
func (r *wireReply) release() {
	if r.one != nil {
		r.one.Free()
	}
	putWire(r.joined)
	r.one, r.joined = nil, nil
}

// wireBuffers is the pool of wire forms as grpc's mem package takes it.
type wireBuffers struct{}

func (wireBuffers) Get(n int) *[]byte {
	b := getWire()
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

func (wireBuffers) Put(b *[]byte) { putWire(b) }
