package shadow

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/ninelives-go/ninelives/internal/call"
	"github.com/ninelives-go/ninelives/internal/config"
)

// Interceptor copies a sample of a client's calls to a candidate version on the
// same connection, compares the replies with the primary's, and counts the
// outcome. Install its interceptors first in the chain
// (grpc.WithChainUnaryInterceptor and grpc.WithChainStreamInterceptor), so
// copies pass through every interceptor after it, telemetry included.
//
// The primary call is never changed: not its result, error or latency.
// Copies run detached from the primary's cancellation with their own
// deadline, a bounded number at a time, and only for methods that are safe
// to repeat. An Interceptor is safe for concurrent use; Close it when done.
type Interceptor struct {
	cfg   *settings
	codec encoding.CodecV2 // the proto codec, for the capture codec

	targets  atomic.Pointer[targets]
	sampling atomic.Pointer[sampling]
	seq      atomic.Uint64

	methods sync.Map // full method name -> *methodInfo

	slots   tracker
	workers workers
	closed  atomic.Bool
	stopCtx context.Context
	stop    context.CancelFunc // cancels stopCtx, once stopped is set
	stopped atomic.Bool        // stopCtx is cancelled, read with no lock

	noise       *noise
	mismatches  mismatchLog
	ignoreTrees ignoreTrees

	results [numResults]atomic.Int64
	drops   [numDrops]atomic.Int64
	skipped atomic.Int64
}

type targets struct{ candidate, baseline string }

// sampling is an immutable sampling setting: a call is sampled when a hash
// falls under threshold (of 2^64), or its sticky point under bp.
type sampling struct {
	rate      float64
	threshold uint64
	all       bool
	bp        int
}

func newSampling(rate float64) *sampling {
	s := &sampling{rate: rate, bp: int(math.Round(rate * call.TotalWeight))}
	if s.bp == 0 && rate > 0 {
		s.bp = 1 // sticky sampling goes by basis points: the least is one
	}
	switch {
	case rate >= 1:
		s.all = true
	case rate > 0:
		s.threshold = uint64(rate * (1 << 64))
	}
	return s
}

func (s *sampling) off() bool { return s.threshold == 0 && !s.all }

var resultNames = [...]string{ResultMatch, ResultMismatch, ResultNoise, ResultShadowError, ResultPrimaryError}

const numResults = len(resultNames)

var dropNames = [...]string{DropUnsafeMethod, DropConcurrency, DropStreamBuffer, DropNoCandidate, DropTimeout}

const numDrops = len(dropNames)

func resultIndex(r string) int { return slices.Index(resultNames[:], r) }
func dropIndex(r string) int   { return slices.Index(dropNames[:], r) }

// New returns an Interceptor with the given configuration, or an error
// naming the first bad field.
func New(cfg Config) (*Interceptor, error) {
	st, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	s := &Interceptor{cfg: st, codec: protoCodec(), noise: newNoise(st.NoiseWindow, st.NoiseMinCount)}
	s.targets.Store(&targets{candidate: st.Candidate, baseline: st.Baseline})
	s.sampling.Store(newSampling(st.Rate))
	s.slots.init(st.MaxConcurrent)
	stopCtx, cancel := context.WithCancel(context.Background())
	s.stopCtx, s.stop = stopCtx, func() { s.stopped.Store(true); cancel() }
	s.workers.init(legsPerCall*st.MaxConcurrent, workerIdle)
	s.mismatches.n = st.MismatchLog
	s.ignoreTrees.paths = st.ignore
	return s, nil
}

// SetRate changes the sampling rate from the next call on.
func (s *Interceptor) SetRate(rate float64) error {
	if err := validRate(rate); err != nil {
		return err
	}
	s.sampling.Store(newSampling(rate))
	return nil
}

// SetCandidate changes the version copies go to, from the next call on.
func (s *Interceptor) SetCandidate(version string) error {
	if err := validVersion("Candidate", version); err != nil {
		return err
	}
	return s.setTargets("Candidate", func(t *targets) { t.candidate = version })
}

// SetBaseline changes the version of the noise copies; "" turns noise
// copies off.
func (s *Interceptor) SetBaseline(version string) error {
	if err := validOptionalVersion("Baseline", version); err != nil {
		return err
	}
	return s.setTargets("Baseline", func(t *targets) { t.baseline = version })
}

// setTargets swaps in the targets change makes of the current ones, unless
// they name one version twice; field is the one the caller set.
func (s *Interceptor) setTargets(field string, change func(*targets)) error {
	for {
		cur := s.targets.Load()
		next := *cur
		change(&next)
		if err := next.distinct(field); err != nil {
			return err
		}
		if s.targets.CompareAndSwap(cur, &next) {
			return nil
		}
	}
}

// distinct checks that the candidate and the baseline differ; field is the
// one to blame.
func (t targets) distinct(field string) error {
	if t.candidate != t.baseline {
		return nil
	}
	other := "Baseline"
	if field == other {
		other = "Candidate"
	}
	return config.Errorf(ErrBadConfig, field, t.candidate, "is the %s too; they must differ", other)
}

// Stats are the Interceptor's counts since it was made. It is ready for
// JSON.
type Stats struct {
	Candidate string  `json:"candidate"`
	Baseline  string  `json:"baseline,omitempty"`
	Rate      float64 `json:"rate"`
	// Comparisons counts the compared copies by result (the Result
	// constants).
	Comparisons map[string]int64 `json:"comparisons"`
	// Dropped counts the copies not made or not compared by reason (the
	// Drop constants).
	Dropped map[string]int64 `json:"dropped"`
	// SkippedOnCandidate counts sampled calls whose primary itself went to
	// the candidate: there is nothing to compare, so no copy is made. They
	// are neither comparisons nor drops.
	SkippedOnCandidate int64 `json:"skipped_on_candidate"`
	// InFlight is the number of shadowed calls holding a slot now.
	InFlight int `json:"in_flight"`
}

// Stats returns the counts so far.
func (s *Interceptor) Stats() Stats {
	t := s.targets.Load()
	st := Stats{
		Candidate:          t.candidate,
		Baseline:           t.baseline,
		Rate:               s.sampling.Load().rate,
		Comparisons:        make(map[string]int64, numResults),
		Dropped:            make(map[string]int64, numDrops),
		SkippedOnCandidate: s.skipped.Load(),
		InFlight:           s.slots.inFlight(),
	}
	for i, n := range resultNames {
		st.Comparisons[n] = s.results[i].Load()
	}
	for i, n := range dropNames {
		st.Dropped[n] = s.drops[i].Load()
	}
	return st
}

// Mismatches returns the last mismatches and shadow errors, oldest first.
func (s *Interceptor) Mismatches() []Mismatch { return s.mismatches.list() }

// NoisyFields returns, per method, the field paths currently learned as
// noise. It is empty without a Baseline.
func (s *Interceptor) NoisyFields() map[string][]string { return s.noise.all() }

// Wait blocks until no copy is in flight or ctx ends.
func (s *Interceptor) Wait(ctx context.Context) error { return s.slots.wait(ctx) }

// Close stops making copies and waits for those in flight until ctx ends;
// then it cancels the rest and waits for them to return, which they do
// promptly. Copies cut short by Close are not counted. The workers that
// make unary copies are gone when it returns. After Close the interceptors
// pass every call straight through.
func (s *Interceptor) Close(ctx context.Context) error {
	s.closed.Store(true)
	s.slots.close()
	err := s.slots.wait(ctx)
	s.stop()
	s.workers.cancelCopies()
	if err != nil {
		_ = s.slots.wait(context.Background())
	}
	s.workers.stop()
	if err != nil {
		return fmt.Errorf("ninelives: closing the shadow: %w", err)
	}
	return nil
}

// drop counts a copy not made; ctx is the primary's.
func (s *Interceptor) drop(ctx context.Context, reason string) {
	s.drops[dropIndex(reason)].Add(1)
	if m := s.cfg.Metrics; m != nil {
		m.RecordShadowDropped(context.WithoutCancel(ctx), reason)
	}
}

// record counts a comparison; ctx is the primary's.
func (s *Interceptor) record(ctx context.Context, version, method, result string) {
	s.results[resultIndex(result)].Add(1)
	if m := s.cfg.Metrics; m != nil {
		m.RecordShadowComparison(context.WithoutCancel(ctx), version, method, result)
	}
}

// sample decides whether a call is copied; calls left out are not counted.
func (s *Interceptor) sample(ctx context.Context, sp *sampling) bool {
	if k := s.cfg.StickyKey; k != "" {
		if v := metadata.ValueFromOutgoingContext(ctx, k); len(v) > 0 {
			// A salt keeps the shadowed users independent of the users
			// the split routes to the candidate by the same key.
			return int(call.StickyPoint(v[0]+"\x00ninelives-shadow")) < sp.bp
		}
	}
	if sp.all {
		return true
	}
	return mix(s.cfg.Seed+s.seq.Add(1)*0x9e3779b97f4a7c15) < sp.threshold
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// methodInfo is the cached decision for one method.
type methodInfo struct {
	safe bool
	// newReply makes an empty reply message, when the registry knows the
	// method; nil otherwise.
	newReply func() proto.Message
	// ignore is the ignore tree of the method's reply type, once looked up.
	ignore atomic.Pointer[ignoreOf]
}

// ignoreOf is the ignore tree of one message type.
type ignoreOf struct {
	md   protoreflect.MessageDescriptor
	node *ignoreNode
}

// method returns the decision for a full method name, from the cache or the
// shared rule.
func (s *Interceptor) method(name string) *methodInfo {
	if mi, ok := s.methods.Load(name); ok {
		return mi.(*methodInfo)
	}
	safe, md := s.cfg.methods.Decide(name)
	mi := &methodInfo{safe: safe}
	if md != nil {
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName()); err == nil {
			mi.newReply = func() proto.Message { return mt.New().Interface() }
		}
	}
	actual, _ := s.methods.LoadOrStore(name, mi)
	return actual.(*methodInfo)
}

// route is where the copies of one call go, decided before the primary.
type route struct {
	method    string
	candidate string
	baseline  string
	info      *methodInfo
	budget    time.Duration
}

// shadowed is one shadowed call, from allow to the end of its copies. Once
// started it holds a slot of the concurrency bound until release.
type shadowed struct {
	route
	s        *Interceptor
	ctx      context.Context // the primary's: copies take its values
	released atomic.Bool
}

// allow is admit for a call that is then shadowed as a whole (a stream):
// the shadowed call, or nil.
func (s *Interceptor) allow(ctx context.Context, method string) *shadowed {
	r, ok := s.admit(ctx, method)
	if !ok {
		return nil
	}
	return &shadowed{route: r, s: s, ctx: ctx}
}

// admit is the first step shared by unary calls and streams, before the
// primary: it decides whether the call is to be copied, and where. It
// returns false when it is not (sampled out, unsafe, not a primary call,
// no time left or the Interceptor closed); drops are counted here.
func (s *Interceptor) admit(ctx context.Context, method string) (route, bool) {
	sp := s.sampling.Load()
	if sp.off() || s.closed.Load() || call.RoleOf(ctx) != call.Primary {
		return route{}, false // closed, or a copy or a warm-up: never copied again
	}
	if !s.sample(ctx, sp) {
		return route{}, false
	}
	info := s.method(method)
	if !info.safe {
		s.drop(ctx, DropUnsafeMethod)
		return route{}, false
	}
	t := s.targets.Load()
	if v, ok := call.ForcedVersion(ctx); ok && v == t.candidate {
		s.skipped.Add(1)
		return route{}, false
	}
	budget, ok := s.budget(ctx)
	if !ok {
		s.drop(ctx, DropTimeout) // the primary has no time left
		return route{}, false
	}
	return route{method: method, candidate: t.candidate, baseline: t.baseline, info: info, budget: budget}, true
}

// budget is the time a copy of a call made with ctx gets: Timeout, or else
// the time the primary has, capped by MaxTimeout. It is false when the
// primary's deadline has passed.
func (s *Interceptor) budget(ctx context.Context) (time.Duration, bool) {
	budget := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return 0, false
		}
		if budget == 0 {
			budget = left
		}
	}
	if budget == 0 {
		budget = s.cfg.MaxTimeout
	}
	return min(budget, s.cfg.MaxTimeout), true
}

// start is the step after the primary has returned (or its stream has
// opened): it takes a slot for the copies. It returns false, with the drop
// counted, when the bound is full, and quietly when the Interceptor is closed.
// The slot is taken only now so that neither the bound nor Close ever waits
// for a primary call.
func (c *shadowed) start() bool {
	switch c.s.slots.tryAcquire() {
	case acquireClosed:
		return false
	case acquireFull:
		c.s.drop(c.ctx, DropConcurrency)
		return false
	}
	return true
}

// release gives the slot back; it is idempotent.
func (c *shadowed) release() {
	if c.released.CompareAndSwap(false, true) {
		c.s.slots.release()
	}
}

// wantBaseline reports whether the call gets a noise copy: there is a
// baseline and the primary went to it (or its version is unknown).
func (c *shadowed) wantBaseline(primaryVersion string) bool {
	return c.baseline != "" && (primaryVersion == "" || primaryVersion == c.baseline)
}

var failFast = []grpc.CallOption{grpc.WaitForReady(false)}

// copyOptions drops the call options that write into the caller's variables
// (header, trailer, peer, on-finish), which a copy must not touch, and makes
// the copy fail fast instead of waiting for a READY candidate.
func copyOptions(opts []grpc.CallOption) []grpc.CallOption {
	if len(opts) == 0 {
		return failFast // grpc reads call options and never writes them
	}
	return filterOptions(opts, failFast...)
}

// filterOptions is copyOptions' filter, with tail appended.
func filterOptions(opts []grpc.CallOption, tail ...grpc.CallOption) []grpc.CallOption {
	return appendOptions(make([]grpc.CallOption, 0, len(opts)+len(tail)), opts, tail)
}

// appendOptions appends to out the options of opts a copy keeps, then tail.
func appendOptions(out, opts, tail []grpc.CallOption) []grpc.CallOption {
	for _, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption, *grpc.HeaderCallOption,
			grpc.TrailerCallOption, *grpc.TrailerCallOption,
			grpc.PeerCallOption, *grpc.PeerCallOption,
			grpc.OnFinishCallOption, *grpc.OnFinishCallOption:
			continue
		}
		out = append(out, o)
	}
	return append(out, tail...)
}

// outcome is what one side of a comparison produced.
type outcome struct {
	err error
	// reached is false when the copy never got to a server of its version.
	reached bool
	diff    differ
	ok      bool // the side ran (a baseline copy may be absent)
}

// done is the second step: it judges the copies against the primary and
// records the result. It runs on the copy's goroutine, never the primary's.
func (c *shadowed) done(primaryErr error, cand, base *outcome) {
	s := c.s
	if s.stopped.Load() {
		return // cut short by Close: not counted
	}
	if !cand.reached && cand.err != nil {
		s.drop(c.ctx, DropNoCandidate)
		return
	}
	pc, sc := status.Code(primaryErr), status.Code(cand.err)
	switch {
	case primaryErr != nil:
		if sc == pc {
			s.record(c.ctx, c.candidate, c.method, ResultMatch)
		} else {
			s.record(c.ctx, c.candidate, c.method, ResultPrimaryError)
		}
		return
	case cand.err != nil:
		s.record(c.ctx, c.candidate, c.method, ResultShadowError)
		s.mismatches.add(Mismatch{
			Time: time.Now(), Method: c.method, Candidate: c.candidate, Result: ResultShadowError,
			PrimaryCode: pc.String(), ShadowCode: sc.String(), ShadowError: status.Convert(cand.err).Message(),
		})
		return
	}
	var baseDiff []string
	if base != nil && base.ok && base.err == nil {
		baseDiff = base.diff.sorted()
		s.noise.observe(c.method, baseDiff)
	}
	diff := cand.diff.sorted()
	if len(diff) == 0 {
		s.record(c.ctx, c.candidate, c.method, ResultMatch)
		return
	}
	noisy := append(baseDiff, s.noise.noisy(c.method)...)
	var real, noise []string
	for _, p := range diff {
		if slices.ContainsFunc(noisy, func(n string) bool { return covered(p, n) }) {
			noise = append(noise, p)
		} else {
			real = append(real, p)
		}
	}
	if len(real) == 0 {
		s.record(c.ctx, c.candidate, c.method, ResultNoise)
		return
	}
	s.record(c.ctx, c.candidate, c.method, ResultMismatch)
	m := Mismatch{
		Time: time.Now(), Method: c.method, Candidate: c.candidate, Result: ResultMismatch,
		Fields: real, Noise: noise, PrimaryCode: codes.OK.String(), ShadowCode: codes.OK.String(),
	}
	if s.cfg.ShowValues {
		for _, v := range cand.diff.values {
			if slices.Contains(real, v.Path) {
				m.Values = append(m.Values, FieldValues{Path: v.Path, Primary: s.cfg.Redact(v.Path, v.Primary), Shadow: s.cfg.Redact(v.Path, v.Shadow)})
			}
		}
	}
	s.mismatches.add(m)
}

// snapshot is a message its caller is about to get back, as a copy needs
// it later: its wire form (cheaper to take than a clone, and no garbage on
// the caller's path) or, for a message with none, a clone. A primary's
// reply is compared with its cleared form, decoded once on first need, by
// copies that may run concurrently.
type snapshot struct {
	wire    []byte // the wire form, when hasWire
	hasWire bool
	buf     *[]byte         // wire's buffer, when it is a pooled one
	from    mem.BufferSlice // the buffers wire is to be read from, not owned
	typ     protoreflect.MessageType
	msg     proto.Message
	clear   sync.Once
}

func takeSnapshot(m proto.Message) *snapshot {
	p := new(snapshot)
	p.take(m)
	return p
}

// take makes p a snapshot of m; p is empty.
func (p *snapshot) take(m proto.Message) {
	p.typ = m.ProtoReflect().Type()
	if p.buf = marshalWire(m); p.buf != nil {
		p.wire, p.hasWire = *p.buf, true
	} else {
		p.msg = proto.Clone(m)
	}
}

// view makes p the snapshot of a message of type typ whose wire form is in
// data, which its owner keeps until p is released; p is empty. The form
// is read from data by settle.
func (p *snapshot) view(typ protoreflect.MessageType, data mem.BufferSlice) {
	p.typ, p.from, p.hasWire = typ, data, true
}

// settle reads the wire form a view left in its buffers: the one buffer
// itself, or a pooled copy of several (a large message comes in pieces).
// It runs before any comparison, on one goroutine.
func (p *snapshot) settle() {
	switch data := p.from; {
	case len(data) == 1:
		p.wire = data[0].ReadOnlyData()
	case len(data) > 1:
		p.buf = getWire()
		*p.buf = (*p.buf)[:0]
		for _, d := range data {
			*p.buf = append(*p.buf, d.ReadOnlyData()...)
		}
		p.wire = *p.buf
	}
	p.from = nil
}

// message returns the message itself: the clone, or a new one decoded from
// the wire form.
func (p *snapshot) message() proto.Message {
	if p.msg != nil {
		return p.msg
	}
	// Bytes the same type just encoded decode without error.
	m := p.typ.New().Interface()
	_ = proto.Unmarshal(p.wire, m)
	return m
}

// cleared returns the message with the ignored fields cleared.
func (p *snapshot) cleared(ignore [][]string) proto.Message {
	p.clear.Do(func() {
		p.msg = p.message()
		clearPaths(p.msg, ignore)
	})
	return p.msg
}

// release gives the wire form's buffer back once nothing reads it.
func (p *snapshot) release() {
	if p != nil {
		putWire(p.buf)
		p.buf, p.wire = nil, nil
	}
}

// compare adds the differences between a primary reply and a copy's reply,
// owned by the caller, to d. Equal wire forms (the ignored fields skipped)
// settle it at once; otherwise the ignored fields are cleared and the
// fields walked.
func (c *shadowed) compare(d *differ, primary *snapshot, shadow proto.Message) {
	if c.byWire(primary) && shadow.ProtoReflect().Descriptor() == primary.typ.Descriptor() {
		if w := marshalWire(shadow); w != nil {
			equal := c.equalWire(primary, *w)
			putWire(w)
			if equal {
				return
			}
		}
	}
	c.walk(d, primary, shadow)
}

// compareWire is compare for a copy's reply in wire form, of the primary's
// type: equal forms settle it, as in compare, and only a difference
// decodes the reply. It fails, as a copy whose reply grpc could not decode
// fails, when the form does not decode.
func (c *shadowed) compareWire(d *differ, primary *snapshot, wire []byte) error {
	if c.byWire(primary) && c.equalWire(primary, wire) {
		return nil
	}
	shadow := primary.typ.New().Interface()
	if err := proto.Unmarshal(wire, shadow); err != nil {
		return status.Errorf(codes.Internal, "ninelives: the copy's reply does not decode as %s: %v", primary.typ.Descriptor().FullName(), err)
	}
	c.walk(d, primary, shadow)
	return nil
}

// byWire reports whether equal wire forms settle a comparison with the
// primary's reply: it has one, and the user compares replies with no
// function of their own.
func (c *shadowed) byWire(primary *snapshot) bool {
	return primary.hasWire && c.s.cfg.Compare == nil
}

// equalWire reports whether the primary's reply, which has a wire form,
// equals w once the ignored fields are skipped.
func (c *shadowed) equalWire(primary *snapshot, w []byte) bool {
	return equalWire(primary.wire, w, c.ignoreTree(primary.typ.Descriptor()))
}

// ignoreTree is the ignore tree of md, the reply type of the call's method:
// kept with the method, so that a call looks it up by name only once.
func (c *shadowed) ignoreTree(md protoreflect.MessageDescriptor) *ignoreNode {
	if c.info == nil {
		return c.s.ignoreTrees.of(md)
	}
	if t := c.info.ignore.Load(); t != nil && t.md == md {
		return t.node
	}
	t := &ignoreOf{md: md, node: c.s.ignoreTrees.of(md)}
	c.info.ignore.Store(t)
	return t.node
}

// walk clears the ignored fields of both replies (the primary's once, in
// its decoded form) and adds the paths of the fields that differ to d.
func (c *shadowed) walk(d *differ, primary *snapshot, shadow proto.Message) {
	cfg := c.s.cfg
	p := primary.cleared(cfg.ignore)
	clearPaths(shadow, cfg.ignore)
	if f := cfg.Compare; f != nil {
		for _, path := range f(c.method, p, shadow) {
			d.add(path, nil, protoreflect.Value{}, protoreflect.Value{})
		}
		return
	}
	d.top(p, shadow)
}

type acquireResult int

const (
	acquired acquireResult = iota
	acquireFull
	acquireClosed
)

// tracker is the concurrency bound and the wait group of the copies in one:
// a counter under a mutex with a channel that is closed while it is zero.
type tracker struct {
	mu     sync.Mutex
	n, max int
	closed bool
	idle   chan struct{}
}

func (t *tracker) init(max int) {
	t.max = max
	t.idle = make(chan struct{})
	close(t.idle)
}

func (t *tracker) tryAcquire() acquireResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return acquireClosed
	case t.n >= t.max:
		return acquireFull
	}
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
	return acquired
}

func (t *tracker) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.idle)
	}
}

func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil // idle already: whatever the state of ctx
	default:
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
