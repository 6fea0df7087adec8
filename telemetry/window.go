package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
)

// MetricSource gives the sentinel the figures of each tick. Collect returns
// what happened since its previous call.
type MetricSource interface {
	Collect(ctx context.Context) (*Window, error)
}

// Window holds what the instruments recorded over [Start, End): per version
// and role the calls, errors, status codes and latencies; per version the
// shadow comparisons and fallbacks. It owns all its data (nothing is shared
// with the SDK), and it encodes to and from JSON.
//
// The split's weights, the dropped shadow copies and the sentinel's
// decisions are recorded for dashboards but are not part of a window: the
// sentinel knows the weights from the split it steers.
//
// Accessors never return nil: w.Version("canary").Role(balancer.RolePrimary)
// is a zero RoleStats when the window saw no such calls.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Versions maps a version to its figures.
	Versions map[string]*VersionStats `json:"versions,omitempty"`
	// Overflow counts the calls of the window that are recorded in a
	// coarser form than their own; they are in Versions all the same.
	Overflow Overflow `json:"overflow,omitzero"`
}

// Overflow counts the calls of a window that the bounds on the series
// (WithMethodCap) folded together. No call is dropped: each is counted in
// its version and role, only its own series is lost to dashboards. A
// sentinel may alert when a window's overflow is not zero.
type Overflow struct {
	// OtherMethods counts the calls of methods past the method cap,
	// recorded with rpc.method "other".
	OtherMethods int64 `json:"otherMethods,omitempty"`
}

// VersionStats are the figures of one version in a window.
type VersionStats struct {
	// Roles maps a role (primary, shadow, warmup, rescue) to its calls.
	Roles map[balancer.Role]*RoleStats `json:"roles,omitempty"`
	// Shadow counts the comparisons of this version's shadow replies by
	// result (ShadowMatch, ShadowMismatch, …).
	Shadow map[string]int64 `json:"shadow,omitempty"`
	// Fallbacks counts the picks that chose this version while it had no
	// ready endpoint.
	Fallbacks int64 `json:"fallbacks,omitempty"`
	// Unanswered counts the primary attempts, among the primary role's
	// Errors, that failed with Unavailable before the server sent anything:
	// the connection was lost or refused, as when the version's servers die
	// with calls in flight (balancer.Attempt.Unanswered). They are counted
	// only while Unavailable is an error code (WithErrorCodes); otherwise
	// they are calls like any other. The sentinel tells them apart from
	// the errors a server answers with.
	Unanswered int64 `json:"unanswered,omitempty"`
}

// RoleStats are the calls of one version in one role.
type RoleStats struct {
	// Calls is the number of attempts.
	Calls int64 `json:"calls"`
	// Errors is the number of attempts whose status code is in the source's
	// error set (see WithErrorCodes).
	Errors int64 `json:"errors"`
	// Codes counts the attempts by status code, OK included.
	Codes map[codes.Code]int64 `json:"codes,omitempty"`
	// Latency is the distribution of the attempts' durations in seconds.
	Latency Histogram `json:"latency"`
}

// Version returns the figures of a version, a zero value when it is absent.
func (w *Window) Version(version string) VersionStats {
	if w == nil {
		return VersionStats{}
	}
	if v := w.Versions[version]; v != nil {
		return *v
	}
	return VersionStats{}
}

// VersionNames returns the versions of the window, sorted.
func (w *Window) VersionNames() []string {
	if w == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(w.Versions))
}

// Role returns the calls of a role, a zero value when there were none.
func (v VersionStats) Role(role balancer.Role) RoleStats {
	if r := v.Roles[role]; r != nil {
		return *r
	}
	return RoleStats{}
}

// Clone returns a deep copy of the window.
func (w *Window) Clone() *Window {
	if w == nil {
		return nil
	}
	c := new(Window)
	c.add(w)
	return c
}

// ErrBadWindow is the kind of the error Merge returns for a window that
// cannot be right, such as one decoded from a checkpoint or a replica's
// report: errors.Is(err, ErrBadWindow) holds for it, and errors.As finds a
// *config.Error-shaped field path such as
// versions["canary"].roles["primary"].latency.scale.
var ErrBadWindow = errors.New("ninelives: bad telemetry window")

// Merge adds o into w: counts, status codes and histogram buckets add up
// (histograms of different scales are brought to the lower one) and the time
// range widens to cover both. It checks o's histograms first and leaves w
// unchanged when one is invalid, with an error of kind ErrBadWindow naming
// the field. Nothing of o is shared with w afterwards.
func (w *Window) Merge(o *Window) error {
	if w == nil {
		return config.Errorf(ErrBadWindow, "Merge", nil, "the window merged into is nil")
	}
	if o == nil {
		return nil
	}
	for name, v := range o.Versions {
		if v == nil {
			continue
		}
		for role, r := range v.Roles {
			if r == nil {
				continue
			}
			field := fmt.Sprintf("versions[%q].roles[%q].latency", name, role)
			if err := config.Under(ErrBadWindow, field, r.Latency.validate()); err != nil {
				return err
			}
		}
	}
	w.add(o)
	return nil
}

// add is Merge without the checks.
func (w *Window) add(o *Window) {
	if !o.Start.IsZero() && (w.Start.IsZero() || o.Start.Before(w.Start)) {
		w.Start = o.Start
	}
	if o.End.After(w.End) {
		w.End = o.End
	}
	w.Overflow.OtherMethods += o.Overflow.OtherMethods
	for name, ov := range o.Versions {
		if ov == nil {
			continue
		}
		wv := w.MutableVersion(name)
		wv.Fallbacks += ov.Fallbacks
		wv.Unanswered += ov.Unanswered
		wv.Shadow = addCounts(wv.Shadow, ov.Shadow)
		for role, or := range ov.Roles {
			if or == nil {
				continue
			}
			wr := wv.MutableRole(role)
			wr.Calls += or.Calls
			wr.Errors += or.Errors
			wr.Codes = addCounts(wr.Codes, or.Codes)
			wr.Latency.merge(or.Latency)
		}
	}
}

// MutableVersion returns the version's figures for writing, adding them
// if absent. A MetricSource of its own fills in a window with it.
func (w *Window) MutableVersion(name string) *VersionStats {
	if w.Versions == nil {
		w.Versions = map[string]*VersionStats{}
	}
	v := w.Versions[name]
	if v == nil {
		v = &VersionStats{}
		w.Versions[name] = v
	}
	return v
}

// MutableRole returns the role's figures for writing, adding them if
// absent.
func (v *VersionStats) MutableRole(role balancer.Role) *RoleStats {
	if v.Roles == nil {
		v.Roles = map[balancer.Role]*RoleStats{}
	}
	r := v.Roles[role]
	if r == nil {
		r = &RoleStats{}
		v.Roles[role] = r
	}
	return r
}

func addCounts[K comparable](dst, src map[K]int64) map[K]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[K]int64, len(src))
	}
	for k, n := range src {
		dst[k] += n
	}
	return dst
}
