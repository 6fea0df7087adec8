// Package strictjson decodes JSON that a person wrote, strictly: one value,
// no unknown field, nothing after it, no key given twice in an object, and
// no key that matches a field only when case is ignored. encoding/json
// alone lets {"weight": 1, "weight": 2} through with the last one winning
// and reads "Versions" into the field "versions"; a config that means one
// thing to its author and another to the program is refused here instead.
//
//	err := strictjson.Decode(body, &req) // *config.Error naming the key, or encoding/json's error
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/ninelives-go/ninelives/internal/config"
)

// ErrKey is wrapped by the error for a duplicate or case-folded key.
var ErrKey = errors.New("ninelives: bad JSON key")

// TrailingError is data after the one JSON value.
type TrailingError struct {
	// Offset is where the data begins; Rest is the data, cut at 40 bytes.
	Offset int
	Rest   string
}

func (e *TrailingError) Error() string {
	return fmt.Sprintf("trailing data after the JSON value at offset %d: %q", e.Offset, e.Rest)
}

// Decode decodes the one JSON value in b into v, which must be a non-nil
// pointer. Errors: encoding/json's own (syntax, type, unknown field), a
// *TrailingError, or a *config.Error of kind ErrKey (callers re-home it
// with config.Under) whose Field is the key's path, "versions[1].Name", for
// a duplicate or case-folded key.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(b[end:], " \t\r\n"); len(rest) > 0 {
		off := len(b) - len(rest)
		if len(rest) > 40 {
			rest = append(rest[:40:40], "…"...)
		}
		return &TrailingError{Offset: off, Rest: string(rest)}
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(b[:end]))}
	w.dec.UseNumber()
	return w.value(reflect.TypeOf(v), "")
}

// walker reads the tokens of a value already decoded, beside the type it
// was decoded into, and checks the keys of every object.
type walker struct{ dec *json.Decoder }

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// value checks the value that comes next, decoded into t (nil: a type
// whose keys are its own business, such as an any or an Unmarshaler).
func (w walker) value(t reflect.Type, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	t = plain(t)
	switch tok {
	case json.Delim('{'):
		return w.object(t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // ]
		return err
	}
	return nil
}

// plain is t without its pointers, or nil when t decodes itself.
func plain(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

func (w walker) object(t reflect.Type, path string) error {
	fields, elem, isMap := membersOf(t)
	seen := make(map[string]bool)
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		at := join(path, key, isMap)
		next, err := checkKey(fields, elem, seen, key, at)
		if err != nil {
			return err
		}
		if err := w.value(next, at); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // }
	return err
}

// membersOf says what an object decoded into t holds: a struct's fields
// by JSON name, or a map's element type.
func membersOf(t reflect.Type) (fields map[string]reflect.Type, elem reflect.Type, isMap bool) {
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem, isMap = t.Elem(), true
	}
	return fields, elem, isMap
}

// checkKey refuses a key seen before in the object, or one that matches a
// field only when case is ignored, and returns the type of its value.
func checkKey(fields map[string]reflect.Type, elem reflect.Type, seen map[string]bool, key, at string) (reflect.Type, error) {
	if seen[key] {
		return nil, config.Errorf(ErrKey, at, nil, "duplicate key: the object gives it more than once")
	}
	seen[key] = true
	if fields == nil {
		return elem, nil
	}
	ft, ok := fields[key]
	if !ok {
		if name, folded := foldedField(fields, key); folded {
			return nil, config.Errorf(ErrKey, at, nil, "unknown key; keys are case-sensitive: the field is %q", name)
		}
	}
	return ft, nil
}

// join is the path of key in the object at path; a map's keys are shown
// as an index.
func join(path, key string, mapKey bool) string {
	switch {
	case mapKey:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// foldedField finds the field a key matches only when case is ignored.
func foldedField(fields map[string]reflect.Type, key string) (string, bool) {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

// fieldsOf lists the JSON names of a struct's fields and their types,
// with the fields of embedded structs promoted, as encoding/json does.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if et := derefStruct(ft); et != nil {
				for k, v := range fieldsOf(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

// derefStruct is t's struct type through one pointer, or nil.
func derefStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && !t.Implements(textUnmarshalerType) {
		return t
	}
	return nil
}
