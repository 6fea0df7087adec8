package guard

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

type builtinFn = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// binop is the checked form of x op y.
func binop(op syntax.Token) builtinFn {
	what := "x " + op.String() + " y"
	return func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		x, y := args[0], args[1]
		if n, err := binCost(th, op, x, y); err != nil {
			return nil, err
		} else if n > 0 {
			if err := Charge(th, what, n); err != nil {
				return nil, err
			}
		}
		return starlark.Binary(op, x, y)
	}
}

// binCost is the bytes x op y may allocate, or an error when its result
// would break a limit that is not a byte budget (an integer's size).
func binCost(th *starlark.Thread, op syntax.Token, x, y starlark.Value) (int64, error) {
	if xi, ok := x.(starlark.Int); ok {
		if yi, ok := y.(starlark.Int); ok {
			return intCost(op, xi, yi)
		}
	}
	switch op {
	case syntax.PLUS:
		return concatCost(x, y), nil
	case syntax.STAR:
		if n, ok := y.(starlark.Int); ok {
			return repeatCost(x, n), nil
		}
		if n, ok := x.(starlark.Int); ok {
			return repeatCost(y, n), nil
		}
	case syntax.PERCENT:
		if f, ok := x.(starlark.String); ok {
			return formatCost(th, string(f), "%", y), nil
		}
	case syntax.PIPE, syntax.AMP, syntax.CIRCUMFLEX, syntax.MINUS:
		return hashBytes(int64(starlark.Len(x)) + int64(max(starlark.Len(y), 0))), nil
	}
	return 0, nil
}

// intCost checks the size of an integer result.
func intCost(op syntax.Token, x, y starlark.Int) (int64, error) {
	xb, yb := intBits(x), intBits(y)
	var bits int
	switch op {
	case syntax.STAR:
		bits = xb + yb
	case syntax.LTLT:
		n, ok := y.Int64()
		if !ok || n < 0 || n >= 512 {
			return 0, nil // the interpreter refuses it
		}
		bits = xb + int(n)
	default:
		bits = max(xb, yb) + 1
	}
	if bits > MaxIntBits && bits > 64 {
		return 0, &LimitError{Msg: fmt.Sprintf("integer result of up to %d bits, over the limit of %d", bits, MaxIntBits)}
	}
	if bits <= 64 {
		return 0, nil
	}
	return int64(bits/8) + headerBytes, nil
}

func concatCost(x, y starlark.Value) int64 {
	switch x.(type) {
	case starlark.String, starlark.Bytes:
		return int64(starlark.Len(x)+max(starlark.Len(y), 0)) + headerBytes
	case *starlark.List, starlark.Tuple:
		return seqBytes(int64(starlark.Len(x) + max(starlark.Len(y), 0)))
	}
	return 0
}

func repeatCost(seq starlark.Value, n starlark.Int) int64 {
	k, ok := n.Int64()
	if !ok || k <= 0 {
		return 0 // a negative count gives an empty result; a huge one is refused
	}
	switch seq.(type) {
	case starlark.String, starlark.Bytes:
		return addSat(mulSat(int64(starlark.Len(seq)), k), headerBytes)
	case *starlark.List, starlark.Tuple:
		return seqBytes(mulSat(int64(starlark.Len(seq)), k))
	}
	return 0
}

// formatCost bounds format % args or format.format(args): every
// conversion prints at most all of the arguments.
func formatCost(th *starlark.Thread, format, verb string, args ...starlark.Value) int64 {
	n := int64(strings.Count(format, verb))
	if n == 0 {
		return int64(len(format)) + headerBytes
	}
	var size int64
	for _, a := range args {
		b, ok := ReprBound(a, left(th)/n+1)
		if !ok {
			return 1 << 62 // past the budget: refused by the charge
		}
		size = addSat(size, b)
	}
	return addSat(addSat(int64(len(format)), mulSat(n, size)), headerBytes)
}

// growBytes is the charge per element appended to a list in place.
const growBytes = 10 * slotBytes

// iadd is the checked x += y: lists grow in place, as the interpreter does.
func iadd(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	x, y := args[0], args[1]
	l, ok := x.(*starlark.List)
	if !ok {
		return binop(syntax.PLUS)(th, b, args, kw)
	}
	it, ok := y.(starlark.Iterable)
	if !ok {
		return binop(syntax.PLUS)(th, b, args, kw)
	}
	if err := extend(th, "x += y", l, it); err != nil {
		// The interpreter's wording for a list that cannot change.
		return nil, errors.New(strings.Replace(err.Error(), "cannot append to", "cannot apply += to", 1))
	}
	return l, nil
}

// extend appends the elements of it to l, charging as it goes.
func extend(th *starlark.Thread, what string, l *starlark.List, it starlark.Iterable) error {
	if n := starlark.Len(it); n >= 0 {
		// Appending one at a time, the list's array is reallocated every
		// time it grows by a quarter: the arrays it goes through add up to
		// at most ~10 times the elements appended (a list made earlier is
		// charged for what its first growth adds when it was made).
		if err := Charge(th, what, mulSat(int64(n), growBytes)); err != nil {
			return err
		}
		if src, ok := it.(*starlark.List); ok && src == l {
			for i := range n {
				if err := l.Append(l.Index(i)); err != nil {
					return err
				}
			}
			return nil
		}
		return appendAll(l, it)
	}
	return chargedIterate(th, what, it, growBytes, func(v starlark.Value) error { return l.Append(v) })
}

func appendAll(l *starlark.List, it starlark.Iterable) error {
	iter := it.Iterate()
	defer iter.Done()
	var v starlark.Value
	for iter.Next(&v) {
		if err := l.Append(v); err != nil {
			return err
		}
	}
	return nil
}

// chargedIterate calls f on each element of it, charging per element: for
// iterables of unknown length.
func chargedIterate(th *starlark.Thread, what string, it starlark.Iterable, per int64, f func(starlark.Value) error) error {
	iter := it.Iterate()
	defer iter.Done()
	var v starlark.Value
	for i := 0; iter.Next(&v); i++ {
		if i%1024 == 0 {
			if err := Charge(th, what, 1024*per); err != nil {
				return err
			}
		}
		if err := f(v); err != nil {
			return err
		}
	}
	return nil
}

// ior is the checked x |= y: dicts update in place.
func ior(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kw []starlark.Tuple) (starlark.Value, error) {
	x, y := args[0], args[1]
	xd, ok1 := x.(*starlark.Dict)
	yd, ok2 := y.(*starlark.Dict)
	if !ok1 || !ok2 {
		return binop(syntax.PIPE)(th, b, args, kw)
	}
	if err := Charge(th, "x |= y", hashBytes(int64(yd.Len()))); err != nil {
		return nil, err
	}
	for _, kv := range yd.Items() {
		if err := xd.SetKey(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return xd, nil
}

// sliceOp is the checked x[lo:hi:step]; args are x, a mask of the parts
// present, and the parts present.
func sliceOp(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	x := args[0]
	mask, _ := starlark.AsInt32(args[1])
	parts := [3]starlark.Value{starlark.None, starlark.None, starlark.None}
	rest := args[2:]
	for i := range parts {
		if mask&(1<<i) != 0 {
			parts[i], rest = rest[0], rest[1:]
		}
	}
	sl, ok := x.(starlark.Sliceable)
	if !ok {
		return nil, fmt.Errorf("invalid slice operand %s", x.Type())
	}
	start, end, step, err := sliceIndices(sl.Len(), parts[0], parts[1], parts[2])
	if err != nil {
		return nil, err
	}
	n := int64(0)
	if step > 0 && end > start {
		n = int64((end - start + step - 1) / step)
	} else if step < 0 && start > end {
		n = int64((start - end - step - 1) / -step)
	}
	switch x.(type) {
	case starlark.String, starlark.Bytes:
		if step != 1 {
			err = Charge(th, "x[i:j:k]", n+headerBytes)
		}
	case *starlark.List, starlark.Tuple:
		err = Charge(th, "x[i:j:k]", seqBytes(n))
	default: // a range's slice is a range; host values size their own
	}
	if err != nil {
		return nil, err
	}
	return sl.Slice(start, end, step), nil
}

// sliceIndices is the interpreter's normalisation of slice indices.
func sliceIndices(n int, lo, hi, step starlark.Value) (start, end, stride int, err error) {
	stride = 1
	if step != starlark.None {
		if stride, err = starlark.AsInt32(step); err != nil {
			return 0, 0, 0, fmt.Errorf("invalid slice step: %s", err)
		}
		if stride == 0 {
			return 0, 0, 0, fmt.Errorf("zero is not a valid slice step")
		}
	}
	if stride > 0 {
		start, end = 0, n
		if err = asIndex(lo, n, &start); err != nil {
			return 0, 0, 0, fmt.Errorf("invalid start index: %s", err)
		}
		if err = asIndex(hi, n, &end); err != nil {
			return 0, 0, 0, fmt.Errorf("invalid end index: %s", err)
		}
		start, end = clamp(start, 0, n), clamp(end, 0, n)
		if end < start {
			end = start
		}
		return start, end, stride, nil
	}
	start, end = n-1, -1
	if err = asIndex(lo, n, &start); err != nil {
		return 0, 0, 0, fmt.Errorf("invalid start index: %s", err)
	}
	if err = asIndex(hi, n, &end); err != nil {
		return 0, 0, 0, fmt.Errorf("invalid end index: %s", err)
	}
	start, end = min(start, n-1), max(end, -1)
	if start < end {
		start = end
	}
	return start, end, stride, nil
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func asIndex(v starlark.Value, n int, result *int) error {
	if v == starlark.None {
		return nil
	}
	i, err := starlark.AsInt32(v)
	if err != nil {
		return err
	}
	if i < 0 {
		i += n
	}
	*result = i
	return nil
}

// spread is the checked *x or **x of a call: the interpreter copies x into
// the call's arguments.
func spread(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	x := args[0]
	n := int64(starlark.Len(x))
	if _, ok := x.(*starlark.Dict); ok {
		n = hashBytes(n)
	} else if n >= 0 {
		n = seqBytes(n)
	} else if it, ok := x.(starlark.Iterable); ok { // unknown length: materialise under charge
		var elems []starlark.Value
		err := chargedIterate(th, "f(*x)", it, 2*slotBytes, func(v starlark.Value) error {
			elems = append(elems, v)
			return nil
		})
		return starlark.NewList(elems), err
	}
	if err := Charge(th, "f(*x)", n); err != nil {
		return nil, err
	}
	return x, nil
}

// index is the checked x[k]: a missing key's error prints a bounded key.
func index(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	x, k := args[0], args[1]
	if m, ok := x.(starlark.Mapping); ok {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		v, found, err := m.Get(k)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("key %s not in %s", Bounded(k, 256), x.Type())
		}
		return v, nil
	}
	if ix, ok := x.(starlark.Indexable); ok {
		i, err := seqIndex(x, ix.Len(), k)
		if err != nil {
			return nil, err
		}
		return ix.Index(i), nil
	}
	return nil, fmt.Errorf("unhandled index operation %s[%s]", x.Type(), k.Type())
}

// seqIndex is the index k of a sequence x of n elements, counted from the
// end when negative, with the interpreter's errors.
func seqIndex(x starlark.Value, n int, k starlark.Value) (int, error) {
	i, err := starlark.AsInt32(k)
	if err != nil {
		return 0, fmt.Errorf("%s index: %s", x.Type(), err)
	}
	orig := i
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		if n == 0 {
			return 0, fmt.Errorf("index %d out of range: empty %s", orig, x.Type())
		}
		return 0, fmt.Errorf("%s index %d out of range [%d:%d]", x.Type(), orig, -n, n-1)
	}
	return i, nil
}

// maxKeyNodes bounds the work of hashing one key (a tuple that shares its
// parts hashes in time exponential in its depth).
const maxKeyNodes = 1 << 16

func checkKey(k starlark.Value) error {
	switch k.(type) {
	case starlark.Tuple, *starlarkstruct.Struct:
	default:
		return nil // hashes in time linear in its size
	}
	n := 0
	var walk func(v starlark.Value) bool
	walk = func(v starlark.Value) bool {
		n++
		if n > maxKeyNodes {
			return false
		}
		switch v := v.(type) {
		case starlark.Tuple:
			for _, e := range v {
				if !walk(e) {
					return false
				}
			}
		case *starlarkstruct.Struct:
			for _, name := range v.AttrNames() {
				f, _ := v.Attr(name)
				if !walk(f) {
					return false
				}
			}
		}
		return true
	}
	if !walk(k) {
		return &LimitError{Msg: fmt.Sprintf("key of more than %d parts", maxKeyNodes)}
	}
	return nil
}

// checkKeys checks each element of an iterable that will be hashed (the
// elements of set(x), the keys of dict(pairs)); pairs takes each
// element's first item.
func checkKeys(x starlark.Value, pairs bool) error {
	it, ok := x.(starlark.Iterable)
	if !ok {
		return nil
	}
	iter := it.Iterate()
	defer iter.Done()
	var v starlark.Value
	for iter.Next(&v) {
		if p, ok := v.(starlark.Tuple); ok && pairs && len(p) > 0 {
			v = p[0]
		}
		if err := checkKey(v); err != nil {
			return err
		}
	}
	return nil
}

// inOp is the checked x in y (and x not in y) when x is not a constant.
func inOp(op syntax.Token) builtinFn {
	return func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		switch args[1].(type) {
		case *starlark.Dict, *starlark.Set:
			if err := checkKey(args[0]); err != nil {
				return nil, err
			}
		}
		return starlark.Binary(op, args[0], args[1])
	}
}

// setIndexOp is the checked x[k] = v.
func setIndexOp(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	x, k, v := args[0], args[1], args[2]
	switch x := x.(type) {
	case starlark.HasSetKey:
		if err := checkKey(k); err != nil {
			return nil, err
		}
		return starlark.None, x.SetKey(k, v)
	case starlark.HasSetIndex:
		i, err := seqIndex(x, x.Len(), k)
		if err != nil {
			return nil, err
		}
		return starlark.None, x.SetIndex(i, v)
	}
	return nil, fmt.Errorf("%s value does not support item assignment", x.Type())
}

// keyOp is _nl_key(k): a dict comprehension's key, checked.
func keyOp(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	if err := checkKey(args[0]); err != nil {
		return nil, err
	}
	return args[0], nil
}

// bounded prints v, cut at about limit bytes.
func Bounded(v starlark.Value, limit int64) string {
	if n, ok := ReprBound(v, limit); ok && n <= limit {
		return v.String()
	}
	return "<" + v.Type() + " too large to print>"
}

// dictLit is the checked {k1: v1, ...} with keys that are not constants.
func dictLit(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	d := starlark.NewDict(len(args) / 2)
	for i := 0; i+1 < len(args); i += 2 {
		k := args[i]
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if _, found, _ := d.Get(k); found {
			return nil, fmt.Errorf("duplicate key: %s", Bounded(k, 256))
		}
		if err := d.SetKey(k, args[i+1]); err != nil {
			return nil, err
		}
	}
	return d, nil
}
