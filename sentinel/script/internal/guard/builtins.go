package guard

import (
	"fmt"
	"math/bits"
	"strings"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// checkedBuiltins replace the universal builtins that can allocate in
// proportion to their input, and add the operations the rewrite calls.
func checkedBuiltins() starlark.StringDict {
	d := starlark.StringDict{
		"_nl_iadd":     starlark.NewBuiltin("+=", iadd),
		"_nl_ior":      starlark.NewBuiltin("|=", ior),
		"_nl_method":   starlark.NewBuiltin("method", method),
		"_nl_attr":     starlark.NewBuiltin("attr", attr),
		"_nl_slice":    starlark.NewBuiltin("slice", sliceOp),
		"_nl_spread":   starlark.NewBuiltin("spread", spread),
		"_nl_index":    starlark.NewBuiltin("index", index),
		"_nl_dict":     starlark.NewBuiltin("dict", dictLit),
		"_nl_in":       starlark.NewBuiltin("in", inOp(syntax.IN)),
		"_nl_notin":    starlark.NewBuiltin("not in", inOp(syntax.NOT_IN)),
		"_nl_setindex": starlark.NewBuiltin("setindex", setIndexOp),
		"_nl_key":      starlark.NewBuiltin("key", keyOp),
	}
	for op, name := range opNames {
		d[name] = starlark.NewBuiltin(op.String(), binop(op))
	}
	for name, cost := range sizedBuiltins {
		d[name] = sizedBuiltin(name, cost)
	}
	d["str"] = starlark.NewBuiltin("str", strBuiltin)
	d["repr"] = starlark.NewBuiltin("repr", reprBuiltin)
	d["print"] = printLike("print")
	d["fail"] = printLike("fail")
	d["getattr"] = starlark.NewBuiltin("getattr", getattrBuiltin)
	d["int"] = starlark.NewBuiltin("int", intBuiltin)
	d["float"] = starlark.NewBuiltin("float", floatBuiltin)
	d["json"] = checkedJSON()
	d["struct"] = starlark.NewBuiltin("struct", structBuiltin)
	d["hash"] = starlark.NewBuiltin("hash", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			if err := checkKey(args[0]); err != nil {
				return nil, err
			}
		}
		return starlark.Universe["hash"].(*starlark.Builtin).CallInternal(th, args, kw)
	})
	return d
}

// sizedBuiltins are builtins whose result grows with the length of their
// first argument: per gives the bytes per element.
var sizedBuiltins = map[string]int64{
	"list":      slotBytes,
	"tuple":     slotBytes,
	"sorted":    2 * slotBytes,
	"reversed":  slotBytes,
	"set":       entryBytes,
	"dict":      entryBytes,
	"enumerate": slotBytes + tupleBytes,
	"zip":       slotBytes + tupleBytes, // per row; columns added below
	"bytes":     1,
}

// sizedBuiltin charges the result of a universal builtin from the length
// of its arguments; an argument of unknown length is first materialised
// under charge.
func sizedBuiltin(name string, per int64) *starlark.Builtin {
	orig := starlark.Universe[name].(*starlark.Builtin)
	return starlark.NewBuiltin(name, func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		args, n, err := sizedArgs(th, name, args)
		if err != nil {
			return nil, err
		}
		n += int64(len(kw))
		cost := mulSat(n, per) + headerBytes
		if name == "zip" {
			cost = addSat(cost, mulSat(n, mulSat(int64(len(args)), slotBytes)))
		}
		if err := Charge(th, name+"()", cost); err != nil {
			return nil, err
		}
		if name == "set" || name == "dict" {
			if len(args) > 0 {
				if err := checkKeys(args[0], name == "dict"); err != nil {
					return nil, err
				}
			}
		}
		if name == "sorted" && n > 1 {
			// n log n comparisons, each the cost of a step or more.
			if err := chargeSteps(th, "sorted()", uint64(n)*uint64(bits.Len64(uint64(n)))); err != nil {
				return nil, err
			}
		}
		return orig.CallInternal(th, args, kw)
	})
}

// sizedArgs returns the length that sizes the result (the first argument's;
// zip's shortest) and the arguments, an iterable of unknown length
// replaced by a list of its elements.
func sizedArgs(th *starlark.Thread, name string, args starlark.Tuple) (starlark.Tuple, int64, error) {
	if len(args) == 0 {
		return args, 0, nil
	}
	if s, ok := args[0].(starlark.String); ok && name == "bytes" {
		return args, int64(len(s)), nil
	}
	count := 1
	if name == "zip" {
		count = len(args)
	}
	out := args
	n := int64(-1)
	for i := range count {
		l := int64(starlark.Len(args[i]))
		if it, ok := args[i].(starlark.Iterable); ok && l < 0 {
			var elems []starlark.Value
			err := chargedIterate(th, name+"()", it, 2*slotBytes, func(v starlark.Value) error {
				elems = append(elems, v)
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
			if &out[0] == &args[0] {
				out = append(starlark.Tuple(nil), args...)
			}
			out[i], l = starlark.NewList(elems), int64(len(elems))
		}
		if n < 0 || l < n {
			n = l
		}
	}
	return out, max(n, 0), nil
}

func strBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("str", args, kw, 1, &x); err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case starlark.String:
		return x, nil
	case starlark.Bytes:
		return starlark.Universe["str"].(*starlark.Builtin).CallInternal(th, args, kw)
	}
	if err := chargePrint(th, "str()", x); err != nil {
		return nil, err
	}
	return starlark.String(x.String()), nil
}

func reprBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("repr", args, kw, 1, &x); err != nil {
		return nil, err
	}
	if err := chargePrint(th, "repr()", x); err != nil {
		return nil, err
	}
	return starlark.String(x.String()), nil
}

// chargePrint charges the printed size of x, refusing it when its walk
// passes the budget.
func chargePrint(th *starlark.Thread, what string, xs ...starlark.Value) error {
	var total int64
	for _, x := range xs {
		n, ok := ReprBound(x, left(th)-total)
		if !ok {
			return refuse(th, what)
		}
		total = addSat(total, n)
	}
	return Charge(th, what, total+headerBytes)
}

func printLike(name string) *starlark.Builtin {
	orig := starlark.Universe[name].(*starlark.Builtin)
	return starlark.NewBuiltin(name, func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		vals := append([]starlark.Value(nil), args...)
		for _, p := range kw {
			vals = append(vals, p[1])
		}
		if err := chargePrint(th, name+"()", mulVals(vals, len(args))...); err != nil {
			return nil, err
		}
		return orig.CallInternal(th, args, kw)
	})
}

// mulVals repeats the keyword values (sep) once per positional argument.
func mulVals(vals []starlark.Value, n int) []starlark.Value {
	out := vals[:n]
	for _, v := range vals[n:] {
		for range max(n, 1) {
			out = append(out, v)
		}
	}
	return out
}

func getattrBuiltin(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	var x, dflt starlark.Value
	var name string
	if err := starlark.UnpackPositionalArgs("getattr", args, kw, 2, &x, &name, &dflt); err != nil {
		return nil, err
	}
	v, err := boundAttr(x, name)
	if err != nil && dflt != nil {
		return dflt, nil
	}
	return v, err
}

func intBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		if s, ok := args[0].(starlark.String); ok && len(s) > MaxIntBits+64 {
			return nil, &LimitError{Msg: fmt.Sprintf("int: a string of %d characters, too long for an integer of at most %d bits", len(s), MaxIntBits)}
		}
	}
	v, err := starlark.Universe["int"].(*starlark.Builtin).CallInternal(th, args, kw)
	if err != nil {
		return nil, err
	}
	if i, ok := v.(starlark.Int); ok && intBits(i) > MaxIntBits {
		return nil, &LimitError{Msg: fmt.Sprintf("int: %d bits, over the limit of %d", intBits(i), MaxIntBits)}
	}
	return v, nil
}

func floatBuiltin(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		if s, ok := args[0].(starlark.String); ok && len(s) > 1024 {
			return nil, &LimitError{Msg: fmt.Sprintf("float: a string of %d characters, too long for a number", len(s))}
		}
	}
	return starlark.Universe["float"].(*starlark.Builtin).CallInternal(th, args, kw)
}

func structBuiltin(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	if err := Charge(th, "struct()", hashBytes(int64(len(kw)))); err != nil {
		return nil, err
	}
	return starlarkstruct.Make(th, b, args, kw)
}

// checkedJSON is the json module with its functions charged.
func checkedJSON() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "json", Members: starlark.StringDict{
		"encode":        checkedJSONFn("encode", jsonEncodeCost),
		"decode":        checkedJSONFn("decode", jsonDecodeCost),
		"indent":        checkedJSONFn("indent", chargeIndent),
		"encode_indent": checkedJSONFn("encode_indent", jsonEncodeIndentCost),
	}}
}

// checkedJSONFn is json.name, charged by check before it runs.
func checkedJSONFn(name string, check func(*starlark.Thread, starlark.Tuple, []starlark.Tuple) error) *starlark.Builtin {
	orig := json.Module.Members[name].(*starlark.Builtin)
	return starlark.NewBuiltin("json."+name, func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
		if err := check(th, args, kw); err != nil {
			return nil, err
		}
		return orig.CallInternal(th, args, kw)
	})
}

func jsonEncodeCost(th *starlark.Thread, args starlark.Tuple, _ []starlark.Tuple) error {
	if len(args) != 1 {
		return nil // the function reports it
	}
	return chargeJSON(th, "json.encode()", args[0])
}

// jsonDecodeCost refuses numbers longer than an integer may be, and
// charges what the values may take: a byte of JSON makes at most ~20
// bytes of values ("[],").
func jsonDecodeCost(th *starlark.Thread, args starlark.Tuple, _ []starlark.Tuple) error {
	s, ok := firstString(args)
	if !ok {
		return nil // the function reports it
	}
	if err := checkDigits(string(s)); err != nil {
		return err
	}
	return Charge(th, "json.decode()", mulSat(int64(len(s)), 32))
}

// jsonEncodeIndentCost charges the encoding, then every token on a line
// of its own.
func jsonEncodeIndentCost(th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) error {
	if len(args) != 1 {
		return nil
	}
	n, _ := ReprBound(args[0], left(th)/2+1)
	return chargeIndent(th, starlark.Tuple{starlark.String(strings.Repeat("[", int(min(n, 1<<16))))}, kw)
}

func chargeJSON(th *starlark.Thread, what string, x starlark.Value) error {
	n, ok := ReprBound(x, left(th)/2)
	if !ok {
		return refuse(th, what)
	}
	return Charge(th, what, mulSat(n, 2)+headerBytes) // \u00XX escapes: 6 bytes per byte, repr counts 4
}

// firstString is a call's first argument, when it is a string.
func firstString(args starlark.Tuple) (starlark.String, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(starlark.String)
	return s, ok
}

// checkDigits refuses JSON numbers longer than an integer may be.
func checkDigits(s string) error {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			if run > MaxIntBits/3+16 {
				return &LimitError{Msg: fmt.Sprintf("json.decode: a number of more than %d digits", MaxIntBits/3+16)}
			}
		} else {
			run = 0
		}
	}
	return nil
}

// chargeIndent bounds json.indent: every token may go on a line of its
// own, indented by prefix and depth × indent.
func chargeIndent(th *starlark.Thread, args starlark.Tuple, kw []starlark.Tuple) error {
	s, ok := firstString(args)
	if !ok {
		return nil // the function reports it
	}
	var prefix, indent string
	for _, p := range kw {
		v, _ := starlark.AsString(p[1])
		switch string(p[0].(starlark.String)) {
		case "prefix":
			prefix = v
		case "indent":
			indent = v
		}
	}
	depth, d := 0, 0
	for _, c := range []byte(s) {
		switch c {
		case '[', '{':
			d++
			depth = max(depth, d)
		case ']', '}':
			d--
		}
	}
	perLine := addSat(int64(len(prefix)+2), mulSat(int64(depth), int64(len(indent))))
	return Charge(th, "json.indent()", addSat(mulSat(int64(len(s)), perLine), headerBytes))
}

// Compile parses src with the dialect fo, checks and rewrites it, and
// compiles it against predeclared (which Predeclared has extended). Its
// errors are syntax.Error (the source's size too, at line 1), or a
// resolve.ErrorList.
func Compile(fo *syntax.FileOptions, filename, src string, predeclared starlark.StringDict) (*starlark.Program, error) {
	if len(src) > MaxSourceBytes {
		return nil, syntax.Error{Pos: syntax.MakePosition(&filename, 1, 1),
			Msg: fmt.Sprintf("the source has %d bytes, over the limit of %d", len(src), MaxSourceBytes)}
	}
	f, err := fo.Parse(filename, src, 0)
	if err != nil {
		return nil, err
	}
	if err := Rewrite(f); err != nil {
		return nil, err
	}
	return starlark.FileProgram(f, predeclared.Has)
}

// Predeclared returns base with the guard's checked builtins added
// (replacing the universal ones they check, and base's json and struct).
func Predeclared(base starlark.StringDict) starlark.StringDict {
	d := make(starlark.StringDict, len(base)+40)
	for k, v := range base {
		d[k] = v
	}
	for k, v := range checkedBuiltins() {
		d[k] = v
	}
	return d
}
