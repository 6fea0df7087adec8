// Package config builds the errors every ninelives package returns for a bad
// setting: one type that names the field, the value and what was wanted, and
// wraps the package's own sentinel error so callers can branch with
// errors.Is. Messages carry the "ninelives:" prefix once, from the sentinel
// error; an error re-homed under another field (Under) never repeats it.
package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a bad setting. Its message is
//
//	<Kind>: <Field> = <Value>: <Reason>
//
// with the value left out when Value is nil, and the reason taken from Err
// when Reason is empty.
type Error struct {
	// Kind is the package's sentinel error (balancer.ErrBadConfig,
	// sentinel.ErrBadOption, …); its text leads the message.
	Kind error
	// Field names the setting as the user wrote it: "CanaryConfig.Steps[2]",
	// "versions[1].weight".
	Field string
	// Value is the value given; nil leaves it out of the message.
	Value any
	// Reason says what was wanted: "want a positive duration".
	Reason string
	// Err is the cause, when another check found the fault.
	Err error
	// kinds are the sentinel errors of errors re-homed under this one.
	kinds []error
}

// Errorf returns an *Error of kind for field and value, with the reason
// formatted from format and args.
func Errorf(kind error, field string, value any, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	}
	if e.Field != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Field)
		if e.Value != nil {
			b.WriteString(" = ")
			b.WriteString(Value(e.Value))
		}
	}
	reason := e.Reason
	if reason == "" && e.Err != nil {
		reason = e.Err.Error()
	}
	if reason != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(reason)
	}
	return b.String()
}

// Unwrap returns the kinds and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2+len(e.kinds))
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	out = append(out, e.kinds...)
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Value renders a setting's value for a message: strings quoted, the rest
// as %v.
func Value(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	}
	return fmt.Sprintf("%v", v)
}

// Under re-homes err under kind, with its field prefixed by prefix (a
// struct or list the field belongs to: "Checkpoint.Judge"). An *Error keeps
// its field, value and reason, and its own kind stays visible to errors.Is
// without repeating in the message; any other error becomes the cause of a
// new *Error for prefix. Under returns nil for a nil err.
func Under(kind error, prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if !errors.As(err, &ce) {
		return &Error{Kind: kind, Field: prefix, Err: err}
	}
	out := *ce
	out.Kind = kind
	out.kinds = append(append([]error(nil), ce.kinds...), ce.Kind)
	out.Field = join(prefix, ce.Field)
	return &out
}

// join joins two parts of a field path with a dot, or none before an index.
func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// Number is the type of a setting whose zero value takes a default: an int
// or a time.Duration.
type Number interface{ ~int | ~int64 }

// Setting is one such setting, for FillDefaults: its field name, where it
// is kept and its default.
type Setting[T Number] struct {
	Field   string
	V       *T
	Default T
}

// FillDefaults gives each setting left at 0 its default. A negative one is
// an error of kind: "<Field> = <value>: want 0 (the default) or more".
func FillDefaults[T Number](kind error, settings ...Setting[T]) error {
	for _, s := range settings {
		switch {
		case *s.V < 0:
			return Errorf(kind, s.Field, *s.V, "want 0 (the default) or more")
		case *s.V == 0:
			*s.V = s.Default
		}
	}
	return nil
}
