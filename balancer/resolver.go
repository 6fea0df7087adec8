package balancer

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
)

// Scheme is the scheme of the composite resolver:
//
//	ninelives:///stable=dns:///orders-v1:50051;canary=dns:///orders-v2:50051
//
// Each VERSION=TARGET pair names a version and any gRPC target, which the
// resolver of the target's own scheme resolves; its endpoints are labelled
// with the version. A TARGET without a scheme, such as "orders-v1:50051", is
// resolved by dns, as grpc.NewClient resolves such a target (or by the
// default scheme the program set with resolver.SetDefaultScheme, unless that
// is "passthrough"). A version may repeat to add targets. A TARGET holding
// ';', '?', '#' or '%' is percent-encoded; CompositeTarget does it.
const Scheme = "ninelives"

// ErrBadTarget is the kind of every composite target that cannot be parsed:
// errors.Is(err, ErrBadTarget) holds for them.
var ErrBadTarget = errors.New("ninelives: bad composite target")

// VersionTarget is one VERSION=TARGET pair of a composite target.
type VersionTarget struct {
	Version string `json:"version"`
	Target  string `json:"target"`
}

// CompositeTarget returns the dial target that resolves each pair's target
// and labels its endpoints with the pair's version, in the text form
// ParseCompositeTarget reads.
func CompositeTarget(pairs ...VersionTarget) string {
	var b strings.Builder
	b.WriteString(Scheme + ":///")
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(p.Version)
		b.WriteByte('=')
		b.WriteString(escapeTarget(p.Target))
	}
	return b.String()
}

// escapeTarget percent-encodes every byte of a TARGET that is not an
// unreserved character, one of the sub-delimiters "!$'()*", ':', '@' or
// '/': ';' separates pairs, and '=', ',', '&' and '+' could read as a
// mistaken separator (see strayPair).
func escapeTarget(t string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$'()*:@/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ParseCompositeTarget reads the text form of a composite target: either a
// whole "ninelives:///…" target or just its "VERSION=TARGET;…" part, as in a
// config file. It checks every pair and every TARGET's scheme.
func ParseCompositeTarget(s string) ([]VersionTarget, error) {
	if !strings.HasPrefix(s, Scheme+":") {
		if strings.ContainsAny(s, "?#") {
			return nil, config.Errorf(ErrBadTarget, "target", s, "has a raw '?' or '#'; percent-encode them as %%3F and %%23")
		}
		return parsePairs(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, &config.Error{Kind: ErrBadTarget, Field: "target", Value: s, Err: err}
	}
	return pairsFromURL(u, s)
}

// pairsFromURL reads the pairs of a parsed target from its escaped text, so
// percent-encoded separators stay encoded until each TARGET is decoded, once.
// u.Path is already decoded and u.RawPath is often empty (whenever the text
// is the default encoding of the path), so neither will do: EscapedPath
// gives the text either way.
func pairsFromURL(u *url.URL, s string) ([]VersionTarget, error) {
	if u.RawQuery != "" || u.ForceQuery {
		return nil, config.Errorf(ErrBadTarget, "target", s, "has a raw '?'; percent-encode it as %%3F inside a TARGET")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return nil, config.Errorf(ErrBadTarget, "target", s, "has a raw '#'; percent-encode it as %%23 inside a TARGET")
	}
	if u.Host != "" || u.User != nil {
		return nil, config.Errorf(ErrBadTarget, "target", s, "write %s:///VERSION=TARGET;… with three slashes, not an authority %q", Scheme, u.Host)
	}
	// The body as written: RawPath when the text differs from the default
	// encoding of Path. EscapedPath alone would rebuild the text from the
	// decoded Path whenever the text holds a character such as a space,
	// turning an escaped %3B back into a separator.
	body := u.Opaque
	if body == "" {
		body = u.RawPath
		if body == "" {
			body = u.EscapedPath()
		}
		body = strings.TrimPrefix(body, "/")
	}
	return parsePairs(body)
}

func parsePairs(body string) ([]VersionTarget, error) {
	if strings.TrimSpace(body) == "" {
		return nil, config.Errorf(ErrBadTarget, "target", nil, "no VERSION=TARGET pairs")
	}
	var out []VersionTarget
	for i, pair := range strings.Split(body, ";") {
		vt, err := parsePair(pair)
		if err != nil {
			return nil, &config.Error{Kind: ErrBadTarget, Field: fmt.Sprintf("pair %d", i+1), Value: pair, Err: err}
		}
		out = append(out, vt)
	}
	return out, nil
}

// parsePair reads one VERSION=TARGET pair and checks its version name and
// its TARGET's scheme.
func parsePair(pair string) (VersionTarget, error) {
	v, t, ok := strings.Cut(pair, "=")
	if !ok {
		return VersionTarget{}, errors.New("no '=' between VERSION and TARGET")
	}
	v, err := url.PathUnescape(v)
	if err != nil {
		return VersionTarget{}, fmt.Errorf("bad percent-encoding: %w", err)
	}
	if err := names.Version(v); err != nil {
		return VersionTarget{}, err
	}
	if err := strayPair(t); err != nil {
		return VersionTarget{}, err
	}
	target, err := url.PathUnescape(t)
	if err != nil {
		return VersionTarget{}, fmt.Errorf("bad percent-encoding: %w", err)
	}
	if target == "" {
		return VersionTarget{}, errors.New("TARGET is empty")
	}
	if _, _, err := childTarget(target); err != nil {
		return VersionTarget{}, err
	}
	return VersionTarget{Version: v, Target: target}, nil
}

// separators are the characters a user may mistake for the ';' between
// pairs, with their percent-encoding.
var separators = map[byte]string{',': "%2C", '|': "%7C", '&': "%26", '+': "%2B", ' ': "%20", '\t': "%09", '\n': "%0A", '\r': "%0D"}

// strayPair finds another pair inside a raw TARGET, joined by a separator
// other than ';': "dns:///a:1,canary=dns:///b:2" would otherwise be one
// address with "too many colons". A separator followed by VERSION= or by a
// scheme's "://" is taken for one; the error says which.
func strayPair(raw string) error {
	for i := 0; i < len(raw); i++ {
		enc, ok := separators[raw[i]]
		if !ok {
			continue
		}
		rest := strings.TrimLeft(raw[i+1:], " ")
		if found := pairStart(rest); found != "" {
			sep := raw[i : i+1]
			return fmt.Errorf("VERSION=TARGET pairs are separated by ';', not %q (found %q); percent-encode a %q that belongs to the TARGET as %s",
				sep, sep+found, sep, enc)
		}
	}
	return nil
}

// pairStart returns the "VERSION=" or "scheme://" that s starts with, if
// any.
func pairStart(s string) string {
	if name, _, ok := strings.Cut(s, "="); ok && names.Version(name) == nil {
		return name + "="
	}
	scheme, _, ok := strings.Cut(s, "://")
	if ok && scheme != "" && (scheme[0] >= 'a' && scheme[0] <= 'z' || scheme[0] >= 'A' && scheme[0] <= 'Z') && strings.IndexFunc(scheme, notSchemeChar) < 0 {
		return scheme + "://"
	}
	return ""
}

// notSchemeChar reports whether r cannot be part of a URL scheme.
func notSchemeChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
}

// childTarget parses a TARGET as grpc.NewClient does: a registered scheme is
// used as it is; no scheme means the scheme defaultChildScheme gives, "dns"
// unless the program changed grpc's default. Unlike grpc.NewClient, a
// TARGET that spells out an unregistered scheme with "://" is an error
// rather than a host name for the default resolver.
func childTarget(t string) (resolver.Target, resolver.Builder, error) {
	if u, err := url.Parse(t); err == nil && u.Scheme != "" {
		if b := resolver.Get(u.Scheme); b != nil {
			if u.Scheme == Scheme {
				return resolver.Target{}, nil, fmt.Errorf("TARGET %q nests a %s target", t, Scheme)
			}
			return resolver.Target{URL: *u}, b, nil
		}
		if strings.Contains(t, "://") {
			return resolver.Target{}, nil, fmt.Errorf("no resolver is registered for scheme %q of TARGET %q", u.Scheme, t)
		}
	}
	def := defaultChildScheme(resolver.GetDefaultScheme())
	u, err := url.Parse(def + ":///" + t)
	if err != nil {
		return resolver.Target{}, nil, fmt.Errorf("TARGET %q: %v", t, err)
	}
	b := resolver.Get(def)
	if b == nil {
		return resolver.Target{}, nil, fmt.Errorf("TARGET %q has no scheme and the default scheme %q has no resolver", t, def)
	}
	return resolver.Target{URL: *u}, b, nil
}

// defaultChildScheme is the scheme of a TARGET without one, given grpc's
// global default scheme. grpc.NewClient uses "dns" unless the program has
// called resolver.SetDefaultScheme, and then the scheme it set. Whether it
// was called is not public: grpc's own initial default is "passthrough"
// (kept for the deprecated grpc.Dial), so any other global default was set
// by the program, and "passthrough" is taken to be grpc's own. A program
// that sets "passthrough" as its default still gets "dns" here, and
// writes "passthrough:///" in the TARGET to have it.
func defaultChildScheme(global string) string {
	if global == "" || global == "passthrough" {
		return "dns"
	}
	return global
}

type compositeBuilder struct{}

func (compositeBuilder) Scheme() string { return Scheme }

// OverrideAuthority gives the channel the authority of the first TARGET, so
// the :authority header is a host name, not the composite text.
func (compositeBuilder) OverrideAuthority(t resolver.Target) string {
	pairs, err := pairsFromURL(&t.URL, t.String())
	if err != nil || len(pairs) == 0 {
		return "localhost"
	}
	ct, _, err := childTarget(pairs[0].Target)
	if err != nil {
		return "localhost"
	}
	if ct.URL.Scheme == "unix" || ct.URL.Scheme == "unix-abstract" {
		return "localhost"
	}
	if ep := ct.Endpoint(); ep != "" {
		return ep
	}
	return "localhost"
}

func (compositeBuilder) Build(t resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	pairs, err := pairsFromURL(&t.URL, t.String())
	if err != nil {
		return nil, err
	}
	info, err := askPolicy(t, cc, pairs)
	if err != nil {
		slog.Warn(err.Error())
		cc.ReportError(err)
		return inertResolver{}, nil
	}
	r := &compositeResolver{cc: cc, info: info, building: true}
	r.children = make([]*childResolver, len(pairs))
	for i, p := range pairs {
		r.children[i] = &childResolver{parent: r, version: p.Version, target: p.Target}
	}
	for i, p := range pairs {
		ct, b, err := childTarget(p.Target)
		if err == nil {
			var child resolver.Resolver
			child, err = b.Build(ct, r.children[i], opts)
			r.mu.Lock()
			r.children[i].r = child
			r.mu.Unlock()
		}
		if err != nil {
			// One version's resolver failing must not take the others down.
			r.children[i].report(fmt.Errorf("ninelives: version %q target %q: %w", p.Version, p.Target, err))
		}
	}
	r.mu.Lock()
	r.building = false
	r.mu.Unlock()
	_ = r.push()
	return r, nil
}

// inertResolver is the resolver of a channel that cannot use its target:
// the error is reported, and nothing is resolved.
type inertResolver struct{}

func (inertResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (inertResolver) Close()                                {}

// compositeResolver merges the states of its children into one.
type compositeResolver struct {
	cc   resolver.ClientConn
	info *targetInfo // the target's versions, told to the policy with every state

	mu       sync.Mutex // guards the fields below; held while pushing to cc, so pushes keep their order
	children []*childResolver
	building bool
	closed   bool
}

// childResolver is the ClientConn one child resolver reports to.
type childResolver struct {
	parent          *compositeResolver
	version, target string
	r               resolver.Resolver

	// guarded by parent.mu
	endpoints []resolver.Endpoint
	err       error
	reported  bool
}

func (c *childResolver) UpdateState(s resolver.State) error {
	eps := s.Endpoints
	if len(eps) == 0 {
		for _, a := range s.Addresses {
			eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{a}})
		}
	}
	tagged := make([]resolver.Endpoint, len(eps))
	for i, ep := range eps {
		tagged[i] = SetVersion(ep, c.version)
	}
	c.parent.mu.Lock()
	c.endpoints, c.err, c.reported = tagged, nil, true
	c.parent.mu.Unlock()
	return c.parent.push()
}

func (c *childResolver) ReportError(err error) {
	c.report(fmt.Errorf("ninelives: version %q target %q: %w", c.version, c.target, err))
	_ = c.parent.push()
}

// report records a child's error; its last good endpoints stay in use.
func (c *childResolver) report(err error) {
	c.parent.mu.Lock()
	c.err, c.reported = err, true
	c.parent.mu.Unlock()
}

// NewAddress is the deprecated form of UpdateState.
func (c *childResolver) NewAddress(addrs []resolver.Address) {
	_ = c.UpdateState(resolver.State{Addresses: addrs})
}

func (c *childResolver) ParseServiceConfig(js string) *serviceconfig.ParseResult {
	return c.parent.cc.ParseServiceConfig(js)
}

// push sends the merged endpoints of every child to the channel. With none at
// all, it reports the children's errors instead, once every child has
// reported.
func (r *compositeResolver) push() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.building || r.closed {
		return nil
	}
	var eps []resolver.Endpoint
	var errs []error
	all := true
	for _, c := range r.children {
		eps = append(eps, c.endpoints...)
		if c.err != nil {
			errs = append(errs, c.err)
		}
		all = all && c.reported
	}
	if len(eps) > 0 {
		return r.cc.UpdateState(resolver.State{Endpoints: eps, Attributes: attributes.New(targetKey{}, r.info)})
	}
	if all {
		if len(errs) == 0 {
			errs = append(errs, errors.New("ninelives: no version's target resolved to any endpoint"))
		}
		r.cc.ReportError(errors.Join(errs...))
	}
	return nil
}

func (r *compositeResolver) ResolveNow(o resolver.ResolveNowOptions) {
	for _, c := range r.snapshot() {
		c.ResolveNow(o)
	}
}

func (r *compositeResolver) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for _, c := range r.snapshot() {
		c.Close()
	}
}

func (r *compositeResolver) snapshot() []resolver.Resolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []resolver.Resolver
	for _, c := range r.children {
		if c.r != nil {
			out = append(out, c.r)
		}
	}
	return out
}
