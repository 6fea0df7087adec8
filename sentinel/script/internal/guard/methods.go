package guard

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// costFn is the bytes a method call may allocate, computed before the call.
type costFn func(th *starlark.Thread, recv starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (int64, error)

// callFn replaces a method outright (it charges as it goes).
type callFn func(th *starlark.Thread, recv starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error)

type methodRule struct {
	cost costFn // nil: allocates nothing that grows with its input
	call callFn // non-nil: replaces the method
}

var free = methodRule{}

func linear(_ *starlark.Thread, recv starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	return allocBytes(recv), nil
}

var lin = methodRule{cost: linear}

// methodRules classifies every method of the built-in types. A method the
// table does not know (one added by a newer interpreter) is refused, so
// that an upgrade cannot open a hole unnoticed.
var methodRules = map[string]map[string]methodRule{
	"string": {
		"capitalize": lin, "count": free, "endswith": free, "find": free, "index": free,
		"isalnum": free, "isalpha": free, "isdigit": free, "islower": free, "isspace": free,
		"istitle": free, "isupper": free, "lower": lin, "lstrip": lin, "partition": lin,
		"removeprefix": lin, "removesuffix": lin, "rfind": free, "rindex": free,
		"rpartition": lin, "rstrip": lin, "startswith": free, "strip": lin, "title": lin, "upper": lin,
		// lazy iterables: their elements are made one step at a time
		"elems": free, "codepoints": free, "codepoint_ords": free, "elem_ords": free,
		"join": {cost: joinCost}, "replace": {cost: replaceCost}, "format": {cost: formatMethodCost},
		"split": {cost: splitCost}, "rsplit": {cost: splitCost}, "splitlines": {cost: splitlinesCost},
	},
	"bytes": {"elems": free},
	"list": {
		"append": free, "clear": free, "index": free, "insert": free, "pop": free, "remove": free,
		"extend": {call: listExtend},
	},
	"dict": {
		"clear": free, "get": free, "pop": free, "popitem": free, "setdefault": free,
		"items": {cost: func(_ *starlark.Thread, r starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			return seqBytes(int64(starlark.Len(r))) + mulSat(int64(starlark.Len(r)), tupleBytes), nil
		}},
		"keys":   lin0(seqBytes),
		"values": lin0(seqBytes),
		"update": {cost: updateCost},
	},
	"set": {
		"add": free, "clear": free, "discard": free, "issubset": free, "issuperset": free,
		"pop": free, "remove": free,
		"difference": {cost: setOpCost}, "intersection": {cost: setOpCost}, "update": {cost: setOpCost},
		"symmetric_difference": {cost: setOpCost}, "union": {cost: setOpCost},
	},
}

func lin0(f func(int64) int64) methodRule {
	return methodRule{cost: func(_ *starlark.Thread, r starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
		return f(int64(starlark.Len(r))), nil
	}}
}

// methodNames are the names the rewrite routes through _nl_method or
// _nl_attr: every method name of a built-in type.
var methodNames = map[string]bool{}

func init() {
	samples := map[string]starlark.HasAttrs{
		"string": starlark.String(""), "bytes": starlark.Bytes(""), "list": starlark.NewList(nil),
		"dict": starlark.NewDict(0), "set": starlark.NewSet(0),
	}
	for typ, v := range samples {
		for _, name := range v.AttrNames() {
			methodNames[name] = true
			if _, ok := methodRules[typ][name]; !ok {
				Unclassified = append(Unclassified, typ+"."+name)
			}
		}
	}
}

// Unclassified lists methods of built-in types the rules do not know (a
// test keeps it empty across interpreter upgrades).
var Unclassified []string

func builtinType(v starlark.Value) string {
	switch v.(type) {
	case starlark.String:
		return "string"
	case starlark.Bytes:
		return "bytes"
	case *starlark.List:
		return "list"
	case *starlark.Dict:
		return "dict"
	case *starlark.Set:
		return "set"
	}
	return ""
}

// ruleOf returns the rule of recv.name; ok is false for a method of a
// built-in type that is not classified.
func ruleOf(recv starlark.Value, name string) (methodRule, bool) {
	typ := builtinType(recv)
	if typ == "" {
		return free, true
	}
	r, ok := methodRules[typ][name]
	if !ok {
		if _, isAttr := recv.(starlark.HasAttrs); isAttr {
			if v, _ := recv.(starlark.HasAttrs).Attr(name); v == nil {
				return free, true // no such method: let the interpreter say so
			}
		}
	}
	return r, ok
}

// method is _nl_method(recv, name, args...): recv.name(args...) checked.
func method(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	recv, name := args[0], string(args[1].(starlark.String))
	return callMethod(th, recv, name, args[2:], kw)
}

func callMethod(th *starlark.Thread, recv starlark.Value, name string, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	rule, ok := ruleOf(recv, name)
	if !ok {
		return nil, fmt.Errorf("%s.%s is not allowed in policies", recv.Type(), name)
	}
	if err := checkMethodKeys(recv, name, args); err != nil {
		return nil, err
	}
	if rule.call != nil {
		return rule.call(th, recv, args, kw)
	}
	fn, err := getAttr(recv, name)
	if err != nil {
		return nil, err
	}
	if rule.cost != nil {
		n, err := rule.cost(th, recv, args, kw)
		if err == nil {
			err = Charge(th, recv.Type()+"."+name+"()", n)
		}
		if err != nil {
			return nil, err
		}
	}
	return starlark.Call(th, fn, args, kw)
}

// checkMethodKeys bounds the hashing a dict or set method does: the key
// it is given, or each element of the iterables it is given.
func checkMethodKeys(recv starlark.Value, name string, args starlark.Tuple) error {
	switch recv.(type) {
	case *starlark.Dict, *starlark.Set:
	default:
		return nil
	}
	switch name {
	case "get", "pop", "setdefault", "add", "remove", "discard":
		if len(args) > 0 {
			return checkKey(args[0])
		}
	case "update", "union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset":
		_, isDict := recv.(*starlark.Dict)
		for _, a := range args {
			if err := checkKeys(a, isDict); err != nil {
				return err
			}
		}
	}
	return nil
}

func getAttr(x starlark.Value, name string) (starlark.Value, error) {
	ha, ok := x.(starlark.HasAttrs)
	if !ok {
		return nil, fmt.Errorf("%s has no .%s field or method", x.Type(), name)
	}
	v, err := ha.Attr(name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, starlark.NoSuchAttrError(fmt.Sprintf("%s has no .%s field or method", x.Type(), name))
	}
	return v, nil
}

// attr is _nl_attr(x, name): x.name, the method of a built-in type bound
// to its check.
func attr(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	return boundAttr(args[0], string(args[1].(starlark.String)))
}

func boundAttr(x starlark.Value, name string) (starlark.Value, error) {
	rule, ok := ruleOf(x, name)
	if builtinType(x) == "" || ok && rule.cost == nil && rule.call == nil {
		return getAttr(x, name) // nothing to check: the method itself
	}
	if _, err := getAttr(x, name); err != nil {
		return nil, err
	}
	return starlark.NewBuiltin(name, func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		return callMethod(th, x, name, args, kw)
	}), nil
}

func joinCost(th *starlark.Thread, recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	if len(args) != 1 {
		return 0, nil // the method reports it
	}
	sep := int64(len(recv.(starlark.String)))
	var total, n int64
	it, ok := args[0].(starlark.Iterable)
	if !ok {
		return 0, nil
	}
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	limit := left(th)
	for iter.Next(&x) {
		if s, ok := x.(starlark.String); ok {
			total = addSat(total, int64(len(s)))
		}
		n++
		if addSat(total, mulSat(n, sep)) > limit {
			break // over anyway; stop walking
		}
	}
	return addSat(addSat(total, mulSat(max(n-1, 0), sep)), headerBytes), nil
}

func replaceCost(_ *starlark.Thread, recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	if len(args) < 2 {
		return 0, nil
	}
	s := string(recv.(starlark.String))
	old, ok1 := args[0].(starlark.String)
	nw, ok2 := args[1].(starlark.String)
	if !ok1 || !ok2 {
		return 0, nil
	}
	var occ int64
	if old == "" {
		occ = int64(utf8.RuneCountInString(s)) + 1
	} else {
		occ = int64(strings.Count(s, string(old)))
	}
	if len(args) > 2 {
		if c, err := starlark.AsInt32(args[2]); err == nil && c >= 0 {
			occ = min(occ, int64(c))
		}
	}
	grow := max(int64(len(nw))-int64(len(old)), 0)
	return addSat(addSat(int64(len(s)), mulSat(occ, grow)), headerBytes), nil
}

func formatMethodCost(th *starlark.Thread, recv starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (int64, error) {
	vals := []starlark.Value{args}
	for _, p := range kw {
		vals = append(vals, p[1])
	}
	return formatCost(th, string(recv.(starlark.String)), "{", vals...), nil
}

const partBytes = 2*slotBytes + 8

func splitCost(_ *starlark.Thread, recv starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (int64, error) {
	s := string(recv.(starlark.String))
	parts := int64(len(s)/2 + 1)
	if len(args) > 0 {
		if sep, ok := args[0].(starlark.String); ok && sep != "" {
			parts = int64(strings.Count(s, string(sep))) + 1
		}
	}
	return seqBytes(parts) + mulSat(parts, partBytes), nil
}

func splitlinesCost(_ *starlark.Thread, recv starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	s := string(recv.(starlark.String))
	parts := int64(strings.Count(s, "\n")+strings.Count(s, "\r")) + 1
	return seqBytes(parts) + mulSat(parts, partBytes), nil
}

func listExtend(th *starlark.Thread, recv starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var it starlark.Iterable
	if err := starlark.UnpackPositionalArgs("extend", args, kw, 1, &it); err != nil {
		return nil, err
	}
	if err := extend(th, "list.extend()", recv.(*starlark.List), it); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

func updateCost(_ *starlark.Thread, _ starlark.Value, args starlark.Tuple, kw []starlark.Tuple) (int64, error) {
	n := int64(len(kw))
	for _, a := range args {
		if l := starlark.Len(a); l > 0 {
			n += int64(l)
		} else if _, ok := a.(starlark.Iterable); ok && l < 0 {
			return 0, fmt.Errorf("update: an iterable of unknown length; pass a list or a dict")
		}
	}
	return hashBytes(n), nil
}

func setOpCost(_ *starlark.Thread, recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	n := int64(starlark.Len(recv))
	for _, a := range args {
		if l := starlark.Len(a); l >= 0 {
			n += int64(l)
		} else if _, ok := a.(starlark.Iterable); ok {
			return 0, fmt.Errorf("set operation on an iterable of unknown length; pass a list or a set")
		}
	}
	return hashBytes(n), nil
}
