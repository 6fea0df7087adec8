package statuspage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/ninelives-go/ninelives/balancer"
	"github.com/ninelives-go/ninelives/internal/config"
	"github.com/ninelives-go/ninelives/internal/names"
	"github.com/ninelives-go/ninelives/internal/strictjson"
	"github.com/ninelives-go/ninelives/sentinel"
)

// ControlRequest is the body of the pause, resume, promote and abort
// endpoints. Both fields are optional; the body may be empty.
type ControlRequest struct {
	// Who is recorded in the sentinel's event; the X-Ninelives-Operator
	// header may give it instead.
	Who    string `json:"who,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WeightsRequest is the body of the weights endpoint: the candidate's weight
// in basis points (the baseline gets the rest). The rollout is paused there.
type WeightsRequest struct {
	Weight *int   `json:"weight"`
	Who    string `json:"who,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ControlResult is the answer to a control call that was carried out.
type ControlResult struct {
	Phase   sentinel.Phase    `json:"phase"`
	Step    int               `json:"step"`
	Weights []balancer.Weight `json:"weights"`
	// Event is the decision the call recorded.
	Event *sentinel.Event `json:"event,omitempty"`
}

// requestError is a bad request: its status code and message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, msg: "ninelives: " + fmt.Sprintf(format, args...)}
}

func (h *Handler) control(w http.ResponseWriter, r *http.Request, route string) {
	var (
		who, reason string
		weight      = -1
		rerr        *requestError
	)
	if route == RouteWeights {
		var body WeightsRequest
		if rerr = decodeBody(w, r, &body, true); rerr == nil {
			switch {
			case body.Weight == nil:
				rerr = badRequest("weight: missing; want the candidate's weight in basis points, 0..%d", balancer.TotalWeight)
			case *body.Weight < 0 || *body.Weight > balancer.TotalWeight:
				rerr = badRequest("weight: %d is outside 0..%d", *body.Weight, balancer.TotalWeight)
			default:
				weight = *body.Weight
			}
			who, reason = body.Who, body.Reason
		}
	} else {
		var body ControlRequest
		rerr = decodeBody(w, r, &body, false)
		who, reason = body.Who, body.Reason
	}
	if rerr == nil {
		who, rerr = operator(who, r.Header.Values(OperatorHeader))
	}
	if rerr == nil {
		rerr = checkText("reason", reason, MaxReasonLen)
	}
	if rerr != nil {
		writeError(w, rerr.code, "%s", rerr.msg)
		return
	}

	ctx := r.Context()
	var err error
	var action sentinel.Action
	switch route {
	case RoutePause:
		action, err = sentinel.ActionPause, h.rollout.Pause(ctx, who, reason)
	case RouteResume:
		action, err = sentinel.ActionResume, h.rollout.Resume(ctx, who, reason)
	case RoutePromote:
		action, err = sentinel.ActionPromote, h.rollout.Promote(ctx, who, reason)
	case RouteAbort:
		action, err = sentinel.ActionAbort, h.rollout.Abort(ctx, who, reason)
	case RouteWeights:
		action, err = sentinel.ActionSetWeights, h.rollout.SetWeight(ctx, who, reason, weight)
	}
	switch {
	case errors.Is(err, sentinel.ErrTransition), errors.Is(err, sentinel.ErrClosed):
		writeError(w, http.StatusConflict, "%s", err.Error())
		return
	case errors.Is(err, balancer.ErrBadWeights):
		writeError(w, http.StatusBadRequest, "%s", err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%s", err.Error())
		return
	}
	st := h.rollout.Status()
	res := ControlResult{Phase: st.Phase, Step: st.Step, Weights: st.Weights}
	// The newest event of this action is the call's (the sentinel fills in
	// "operator" for an empty name).
	for i := len(st.Events) - 1; i >= 0; i-- {
		if e := st.Events[i]; e.Action == action && (who == "" || e.Who == who) {
			res.Event = &e
			break
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// decodeBody reads a bounded JSON body into v, rejecting unknown fields,
// keys given twice or in another case, trailing data and a wrong
// Content-Type. An empty body is fine unless
// required.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, required bool) *requestError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &requestError{code: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("ninelives: Content-Type: %q, want application/json", ct)}
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return &requestError{code: http.StatusUnsupportedMediaType, msg: fmt.Sprintf("ninelives: Content-Type: charset %q, want utf-8", cs)}
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &requestError{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("ninelives: body: larger than %d bytes", MaxBodyBytes)}
		}
		return badRequest("body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if required {
			return badRequest("body: empty; want a JSON object such as {\"weight\": 2500}")
		}
		return nil
	}
	if r.Header.Get("Content-Type") == "" {
		return &requestError{code: http.StatusUnsupportedMediaType, msg: "ninelives: Content-Type: missing, want application/json"}
	}
	if !utf8.Valid(b) {
		return badRequest("body: not valid UTF-8")
	}
	if err := strictjson.Decode(b, v); err != nil {
		return jsonError(err, v)
	}
	return nil
}

// jsonError names the field a decoding error is about.
func jsonError(err error, v any) *requestError {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		tr *strictjson.TrailingError
		ke *config.Error
	)
	switch {
	case errors.As(err, &tr) && strings.ContainsAny(tr.Rest[:1], `{["`):
		return badRequest("body: more than one JSON value")
	case errors.As(err, &tr):
		return badRequest("body: data after the JSON object at byte %d", tr.Offset)
	case errors.As(err, &ke):
		return badRequest("%s: %s", ke.Field, ke.Reason)
	case errors.As(err, &se):
		return badRequest("body: not valid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field == "" {
			return badRequest("body: %s, want a JSON object", te.Value)
		}
		want := te.Type.String()
		switch te.Type.Kind() {
		case reflect.Int:
			want = "an integer"
		case reflect.String:
			want = "a string"
		}
		return badRequest("%s: %s, want %s", te.Field, te.Value, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("body: the JSON ends too soon")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		known := "who, reason"
		if _, isWeights := v.(*WeightsRequest); isWeights {
			known = "weight, who, reason"
		}
		return badRequest("%s: unknown field; want %s", strings.Trim(name, `"`), known)
	}
	return badRequest("body: %v", err)
}

// operator picks the operator's name from the body or the header; when both
// give one they must agree.
func operator(body string, header []string) (string, *requestError) {
	if len(header) > 1 {
		return "", badRequest("%s: %d headers, want one", OperatorHeader, len(header))
	}
	who := strings.TrimSpace(body)
	if len(header) == 1 {
		hv := strings.TrimSpace(header[0])
		if err := checkText(OperatorHeader, hv, MaxWhoLen); err != nil {
			return "", err
		}
		if who != "" && hv != "" && who != hv {
			return "", badRequest("who: %q in the body, but %s says %q", who, OperatorHeader, hv)
		}
		if who == "" {
			who = hv
		}
	}
	if err := checkText("who", who, MaxWhoLen); err != nil {
		return "", err
	}
	return who, nil
}

// checkText accepts printable UTF-8 text of at most max characters.
func checkText(field, s string, max int) *requestError {
	if err := names.Text(s, max); err != nil {
		return badRequest("%s: %v", field, err)
	}
	return nil
}
