package statuspage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/ninelives-go/ninelives/interceptor/shadow"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
	"github.com/ninelives-go/ninelives/sentinel"
	"github.com/ninelives-go/ninelives/sentinel/plan"
	"github.com/ninelives-go/ninelives/sentinel/release"
)

// Rollout is what the page shows and steers; *sentinel.Sentinel is one.
type Rollout interface {
	Status() sentinel.Status
	Pause(ctx context.Context, who, reason string) error
	Resume(ctx context.Context, who, reason string) error
	Promote(ctx context.Context, who, reason string) error
	Abort(ctx context.Context, who, reason string) error
	SetWeight(ctx context.Context, who, reason string, candidateWeight int) error
}

// ErrBadOption is returned, wrapped, for everything New rejects.
var ErrBadOption = errors.New("ninelives: bad status page option")

// MinTokenLen is the shortest control token New accepts.
const MinTokenLen = 16

// MaxBodyBytes bounds a control request's body.
const MaxBodyBytes = 4 << 10

// OperatorHeader names the person behind a control call when the body does
// not ("who").
const OperatorHeader = "X-Ninelives-Operator"

// The limits of the operator's name and the reason a control call records.
const (
	MaxWhoLen    = names.MaxWhoLen
	MaxReasonLen = names.MaxReasonLen
)

// ContentSecurityPolicy is sent with every response: the page runs only its
// own script file (no inline script, no eval), loads nothing from elsewhere
// and cannot be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// NewToken returns a random control token (128 bits from crypto/rand, 26
// characters of base32).
func NewToken() string { return rand.Text() }

// Option configures a Handler.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(c *options) { f(c) }

type options struct {
	protectReads bool
	title        string
	prefix       string
	shadow       ShadowReporter
}

// ShadowReporter gives the page the shadow traffic's figures, its mismatch
// samples and the fields it learned are noise; interceptor's *Shadow is
// one.
type ShadowReporter interface {
	Mismatches() []shadow.Mismatch
	NoisyFields() map[string][]string
	Stats() shadow.Stats
}

// WithShadow adds a shadow interceptor's figures, mismatch samples and
// noisy fields to the page and to the status JSON (as "shadow").
func WithShadow(sh ShadowReporter) Option { return optionFunc(func(c *options) { c.shadow = sh }) }

// status is the status JSON: the rollout's, the release lifecycle's and
// the shadow traffic's.
type status struct {
	sentinel.Status
	Release *release.Status `json:"release,omitempty"`
	Shadow  *shadowStatus   `json:"shadow,omitempty"`
}

// Releaser is a Rollout that runs release after release, such as a
// *release.Lifecycle or a fleet's Controller: the status JSON then carries
// where the lifecycle stands, as "release", when Continuous.
type Releaser interface {
	Continuous() bool
	Release() release.Status
}

// shadowStatus is the shadow traffic's part of the status.
type shadowStatus struct {
	Stats       shadow.Stats        `json:"stats"`
	Mismatches  []shadow.Mismatch   `json:"mismatches"`
	NoisyFields map[string][]string `json:"noisyFields"`
}

// status returns the rollout's status with the shadow traffic's.
func (h *Handler) status() status {
	st := status{Status: h.rollout.Status()}
	if r, ok := h.rollout.(Releaser); ok && r.Continuous() {
		rel := r.Release()
		st.Release = &rel
	}
	if sh := h.cfg.shadow; sh != nil {
		st.Shadow = &shadowStatus{Stats: sh.Stats(), Mismatches: sh.Mismatches(), NoisyFields: sh.NoisyFields()}
	}
	return st
}

// WithProtectedReads makes the status JSON ask for the control token too.
// The page itself (markup, script, style) holds no figures and stays open;
// it asks for the token before it shows anything. By default reads are
// open: mount the handler on an address only the right people reach.
func WithProtectedReads(on bool) Option {
	return optionFunc(func(c *options) { c.protectReads = on })
}

// WithTitle sets the page's title (default "ninelives rollout").
func WithTitle(title string) Option { return optionFunc(func(c *options) { c.title = title }) }

// WithPrefix tells the handler the path it is mounted under when the
// program does not strip it (mux.Handle("/rollout/", h) with
// WithPrefix("/rollout")). With http.StripPrefix no option is needed.
func WithPrefix(prefix string) Option { return optionFunc(func(c *options) { c.prefix = prefix }) }

func newOptions(opts []Option) (options, error) {
	c := options{title: "ninelives rollout"}
	for i, o := range opts {
		if o == nil {
			return c, config.Errorf(ErrBadOption, fmt.Sprintf("opts[%d]", i), nil, "the option is nil")
		}
		o.apply(&c)
	}
	if c.title == "" || len(c.title) > 200 {
		return c, config.Errorf(ErrBadOption, "WithTitle", c.title, "want 1..200 bytes")
	}
	if c.prefix != "" {
		p := strings.TrimSuffix(c.prefix, "/")
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") || path.Clean(p) != p || p == "/" {
			return c, config.Errorf(ErrBadOption, "WithPrefix", c.prefix, `want a clean path such as "/rollout"`)
		}
		c.prefix = p
	}
	return c, nil
}

// Handler serves the status page, the status JSON and the control
// endpoints of one rollout. It is safe for concurrent use.
type Handler struct {
	rollout Rollout
	cfg     options
	// tokenSum is the token's SHA-256: comparing fixed-length digests
	// keeps the comparison constant-time whatever the length of the guess.
	tokenSum [sha256.Size]byte
	page     *template.Template
}

//go:embed assets
var assets embed.FS

// New returns the handler of rollout's page and API, whose control
// endpoints take token as a bearer token. The token must be at least
// MinTokenLen printable ASCII characters without spaces (NewToken makes
// one).
func New(rollout Rollout, token string, opts ...Option) (*Handler, error) {
	if rollout == nil {
		return nil, config.Errorf(ErrBadOption, "rollout", nil, "the rollout is nil")
	}
	if len(token) < MinTokenLen {
		return nil, config.Errorf(ErrBadOption, "token", nil, "%d characters, want at least %d", len(token), MinTokenLen)
	}
	for i := range len(token) {
		if c := token[i]; c <= ' ' || c > '~' {
			return nil, config.Errorf(ErrBadOption, "token", nil, "a character 0x%02x at byte %d, want printable ASCII without spaces", c, i)
		}
	}
	cfg, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	page, err := template.New("index.html").Funcs(template.FuncMap{
		"pct":   plan.Label,
		"clock": func(e sentinel.Event) string { return e.Time.UTC().Format("15:04:05") },
	}).ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("ninelives: status page template: %w", err)
	}
	return &Handler{rollout: rollout, cfg: cfg, tokenSum: sha256.Sum256([]byte(token)), page: page}, nil
}

// The routes, relative to where the handler is mounted.
const (
	RouteStatus  = "/api/status"
	RoutePause   = "/api/pause"
	RouteResume  = "/api/resume"
	RoutePromote = "/api/promote"
	RouteAbort   = "/api/abort"
	RouteWeights = "/api/weights"
)

var staticFiles = map[string]string{
	"/static/app.js":  "text/javascript; charset=utf-8",
	"/static/app.css": "text/css; charset=utf-8",
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")

	p, ok := h.route(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "ninelives: no such page: %q", r.URL.Path)
		return
	}
	switch p {
	case "":
		h.redirectToDir(w, r)
	case "/":
		if readMethod(w, r) {
			h.servePage(w)
		}
	case RouteStatus:
		if readMethod(w, r) && (!h.cfg.protectReads || h.authorize(w, r)) {
			h.serveStatus(w)
		}
	case RoutePause, RouteResume, RoutePromote, RouteAbort, RouteWeights:
		if r.Method != http.MethodPost {
			hd.Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "ninelives: %s takes POST, not %s", p, r.Method)
			return
		}
		if h.authorize(w, r) {
			h.control(w, r, p)
		}
	default:
		ctype, ok := staticFiles[p]
		if !ok {
			writeError(w, http.StatusNotFound, "ninelives: no such page: %q", r.URL.Path)
			return
		}
		if readMethod(w, r) {
			h.serveAsset(w, p, ctype)
		}
	}
}

// route returns the request's path relative to the mount point: "" for the
// mount point without its slash.
func (h *Handler) route(p string) (string, bool) {
	if h.cfg.prefix == "" {
		return p, true
	}
	if p == h.cfg.prefix {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, h.cfg.prefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}

// redirectToDir sends ".../rollout" to ".../rollout/", so that the page's
// relative links resolve under the mount point. The location is relative
// (the last segment and a slash), so it never leaves the site and survives
// proxies that add prefixes.
func (h *Handler) redirectToDir(w http.ResponseWriter, r *http.Request) {
	orig := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		orig = u.Path
	}
	last := path.Base(orig)
	if last == "/" || last == "." || last == "" {
		last = "."
	}
	target := (&url.URL{Path: last + "/"}).EscapedPath()
	if strings.Contains(target, ":") && !strings.HasPrefix(target, "./") {
		target = "./" + target // a segment with a colon would read as a scheme
	}
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusMovedPermanently)
}

// readMethod answers 405 to anything but GET and HEAD.
func readMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "ninelives: %s takes GET or HEAD, not %s", r.URL.Path, r.Method)
	return false
}

// authorize checks the bearer token in constant time and answers 401 when
// it is missing or wrong. Cookies are never looked at, so a cross-site
// request, which cannot set the header, cannot pass.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) bool {
	const realm = `Bearer realm="ninelives"`
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		w.Header().Set("WWW-Authenticate", realm)
		writeError(w, http.StatusUnauthorized, "ninelives: Authorization: missing; send \"Authorization: Bearer <token>\"")
		return false
	}
	scheme, tok, _ := strings.Cut(vals[0], " ")
	if len(vals) > 1 || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_request"`)
		writeError(w, http.StatusUnauthorized, "ninelives: Authorization: want one \"Bearer <token>\" header")
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "ninelives: Authorization: wrong token")
		return false
	}
	return true
}

func (h *Handler) serveStatus(w http.ResponseWriter) {
	b, err := json.Marshal(h.status())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "ninelives: status: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

func (h *Handler) serveAsset(w http.ResponseWriter, name, ctype string) {
	b, err := assets.ReadFile("assets" + name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "ninelives: asset %s: %v", name, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// pageData is what index.html renders on the server. Every string in it is
// escaped by html/template.
type pageData struct {
	Title        string
	ProtectReads bool
	Status       *status
	Events       []sentinel.Event // newest first
}

func (h *Handler) servePage(w http.ResponseWriter) {
	d := pageData{Title: h.cfg.title, ProtectReads: h.cfg.protectReads}
	if !h.cfg.protectReads {
		st := h.status()
		d.Status = &st
		d.Events = slices.Clone(st.Events)
		slices.Reverse(d.Events)
		d.Events = d.Events[:min(len(d.Events), 50)]
	}
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, d); err != nil {
		writeError(w, http.StatusInternalServerError, "ninelives: status page: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: "ninelives: encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
