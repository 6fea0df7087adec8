package guard

import (
	"fmt"
	"math/big"
	"strings"

	"go.starlark.net/syntax"
)

// reserved prefixes the names of the checked operations the rewrite calls;
// a script may not use it.
const reserved = "_nl_"

// opNames are the binary operators routed through a checked operation: the
// ones whose result can be larger than their operands (sequences, sets,
// dicts, integers, string formatting). Comparisons, in, and, or, /, // and
// >> cannot grow anything and stay as they are.
var opNames = map[syntax.Token]string{
	syntax.PLUS:       "_nl_add",
	syntax.MINUS:      "_nl_sub",
	syntax.STAR:       "_nl_mul",
	syntax.PERCENT:    "_nl_mod",
	syntax.PIPE:       "_nl_or",
	syntax.AMP:        "_nl_and",
	syntax.CIRCUMFLEX: "_nl_xor",
	syntax.LTLT:       "_nl_shl",
}

// augOps maps x op= y to the operation; += and |= update lists and dicts
// in place, as the interpreter does.
var augOps = map[syntax.Token]string{
	syntax.PLUS_EQ:       "_nl_iadd",
	syntax.MINUS_EQ:      "_nl_sub",
	syntax.STAR_EQ:       "_nl_mul",
	syntax.PERCENT_EQ:    "_nl_mod",
	syntax.PIPE_EQ:       "_nl_ior",
	syntax.AMP_EQ:        "_nl_and",
	syntax.CIRCUMFLEX_EQ: "_nl_xor",
	syntax.LTLT_EQ:       "_nl_shl",
}

// Limits of the language the guard accepts.
const (
	// MaxSourceBytes bounds a file's source.
	MaxSourceBytes = 1 << 20
	// MaxIntBits bounds every integer, literal or made by a checked
	// operation, so that the operations left unchecked (unary minus, //,
	// comparisons) stay small.
	MaxIntBits = 4096
)

// Rewrite checks a parsed file and rewrites it so that every operation that
// can allocate in proportion to its operands (or more) calls a checked
// operation of the guard's predeclared set.
func Rewrite(f *syntax.File) error {
	r := new(rewriter)
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Ident:
			if strings.HasPrefix(n.Name, reserved) {
				r.fail(n.NamePos, "names beginning %q are reserved", reserved)
			}
		case *syntax.Literal:
			r.literal(n)
		}
		return r.err == nil
	})
	if r.err != nil {
		return r.err
	}
	f.Stmts = r.stmts(f.Stmts)
	return r.err
}

type rewriter struct {
	err error
	tmp int
}

func (r *rewriter) fail(pos syntax.Position, format string, args ...any) {
	if r.err == nil {
		r.err = syntax.Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *rewriter) stmts(ss []syntax.Stmt) []syntax.Stmt {
	out := make([]syntax.Stmt, 0, len(ss))
	for _, s := range ss {
		out = append(out, r.stmt(s)...)
	}
	return out
}

func (r *rewriter) stmt(s syntax.Stmt) []syntax.Stmt {
	switch s := s.(type) {
	case *syntax.AssignStmt:
		if s.Op != syntax.EQ {
			return r.augmented(s)
		}
		if ix, ok := s.LHS.(*syntax.IndexExpr); ok {
			if _, lit := ix.Y.(*syntax.Literal); !lit {
				return r.setIndex(s, ix)
			}
		}
		s.LHS, s.RHS = r.target(s.LHS), r.expr(s.RHS)
	case *syntax.DefStmt:
		s.Params = r.params(s.Params)
		s.Body = r.stmts(s.Body)
	case *syntax.ExprStmt:
		s.X = r.expr(s.X)
	case *syntax.ForStmt:
		s.Vars, s.X = r.target(s.Vars), r.expr(s.X)
		s.Body = r.stmts(s.Body)
	case *syntax.WhileStmt:
		s.Cond = r.expr(s.Cond)
		s.Body = r.stmts(s.Body)
	case *syntax.IfStmt:
		s.Cond = r.expr(s.Cond)
		s.True, s.False = r.stmts(s.True), r.stmts(s.False)
	case *syntax.ReturnStmt:
		if s.Result != nil {
			s.Result = r.expr(s.Result)
		}
	}
	return []syntax.Stmt{s}
}

// augmented rewrites x op= y as x = op(x, y), evaluating the operands of x
// once: a[i] op= y becomes t1 = a; t2 = i; t1[t2] = op(t1[t2], y).
func (r *rewriter) augmented(s *syntax.AssignStmt) []syntax.Stmt {
	name, ok := augOps[s.Op]
	rhs := r.expr(s.RHS)
	if !ok { // /=, //=, >>=: cannot grow anything
		s.LHS, s.RHS = r.target(s.LHS), rhs
		return []syntax.Stmt{s}
	}
	var pre []syntax.Stmt
	lhs := s.LHS
	for {
		p, ok := lhs.(*syntax.ParenExpr)
		if !ok {
			break
		}
		lhs = p.X
	}
	switch x := lhs.(type) {
	case *syntax.Ident: // read and written as it is
	case *syntax.IndexExpr:
		var a, i syntax.Expr
		pre, a = r.hoist(pre, r.expr(x.X), x.Lbrack)
		pre, i = r.hoist(pre, r.expr(x.Y), x.Lbrack)
		lhs = &syntax.IndexExpr{X: a, Lbrack: x.Lbrack, Y: i, Rbrack: x.Rbrack}
	case *syntax.DotExpr:
		var a syntax.Expr
		pre, a = r.hoist(pre, r.expr(x.X), x.Dot)
		lhs = &syntax.DotExpr{X: a, Dot: x.Dot, NamePos: x.NamePos, Name: x.Name}
	default:
		r.fail(s.OpPos, "cannot apply %s to %T", s.Op, lhs)
		return nil
	}
	read := r.expr(cloneRead(lhs))
	call := r.call(name, s.OpPos, read, rhs)
	return append(pre, &syntax.AssignStmt{OpPos: s.OpPos, Op: syntax.EQ, LHS: lhs, RHS: call})
}

// setIndex rewrites x[k] = v (k not a constant) into _nl_setindex(x, k, v),
// which bounds the work of hashing k; v is evaluated first, as the
// interpreter does.
func (r *rewriter) setIndex(s *syntax.AssignStmt, ix *syntax.IndexExpr) []syntax.Stmt {
	pre, v := r.hoist(nil, r.expr(s.RHS), s.OpPos)
	call := r.call("_nl_setindex", ix.Lbrack, r.expr(ix.X), r.expr(ix.Y), v)
	return append(pre, &syntax.ExprStmt{X: call})
}

// cloneRead copies a target so it can also be read (the rewrite of reads
// must not change the target itself).
func cloneRead(x syntax.Expr) syntax.Expr {
	switch x := x.(type) {
	case *syntax.Ident:
		c := *x
		return &c
	case *syntax.Literal:
		c := *x
		return &c
	case *syntax.IndexExpr:
		c := *x
		c.X, c.Y = cloneRead(x.X), cloneRead(x.Y)
		return &c
	case *syntax.DotExpr:
		c := *x
		c.X = cloneRead(x.X)
		n := *x.Name
		c.Name = &n
		return &c
	}
	return x
}

// hoist evaluates x once into a fresh temporary, unless it is a plain name
// or a constant.
func (r *rewriter) hoist(pre []syntax.Stmt, x syntax.Expr, pos syntax.Position) ([]syntax.Stmt, syntax.Expr) {
	switch x.(type) {
	case *syntax.Ident, *syntax.Literal:
		return pre, x
	}
	r.tmp++
	name := fmt.Sprintf("%stmp%d", reserved, r.tmp)
	pre = append(pre, &syntax.AssignStmt{OpPos: pos, Op: syntax.EQ, LHS: r.name(name, pos), RHS: x})
	return pre, r.name(name, pos)
}

func (r *rewriter) name(n string, pos syntax.Position) *syntax.Ident {
	return &syntax.Ident{NamePos: pos, Name: n}
}

func (r *rewriter) call(fn string, pos syntax.Position, args ...syntax.Expr) *syntax.CallExpr {
	return &syntax.CallExpr{Fn: r.name(fn, pos), Lparen: pos, Args: args, Rparen: pos}
}

func (r *rewriter) str(s string, pos syntax.Position) *syntax.Literal {
	return &syntax.Literal{Token: syntax.STRING, TokenPos: pos, Raw: fmt.Sprintf("%q", s), Value: s}
}

// target rewrites the operands inside an assignment target, keeping the
// target's own form.
func (r *rewriter) target(x syntax.Expr) syntax.Expr {
	switch x := x.(type) {
	case *syntax.IndexExpr:
		x.X, x.Y = r.expr(x.X), r.expr(x.Y)
	case *syntax.DotExpr:
		x.X = r.expr(x.X)
	case *syntax.TupleExpr:
		for i := range x.List {
			x.List[i] = r.target(x.List[i])
		}
	case *syntax.ListExpr:
		for i := range x.List {
			x.List[i] = r.target(x.List[i])
		}
	case *syntax.ParenExpr:
		x.X = r.target(x.X)
	}
	return x
}

// params rewrites the default values of parameters.
func (r *rewriter) params(ps []syntax.Expr) []syntax.Expr {
	for _, p := range ps {
		if d, ok := p.(*syntax.BinaryExpr); ok { // name=default
			d.Y = r.expr(d.Y)
		}
	}
	return ps
}

func (r *rewriter) exprs(xs []syntax.Expr) {
	for i := range xs {
		xs[i] = r.expr(xs[i])
	}
}

func (r *rewriter) expr(x syntax.Expr) syntax.Expr {
	switch x := x.(type) {
	case *syntax.BinaryExpr:
		return r.binary(x)
	case *syntax.UnaryExpr:
		if x.X != nil {
			x.X = r.expr(x.X)
		}
	case *syntax.ParenExpr:
		x.X = r.expr(x.X)
	case *syntax.CallExpr:
		return r.callExpr(x)
	case *syntax.DotExpr:
		x.X = r.expr(x.X)
		if methodNames[x.Name.Name] {
			return r.call("_nl_attr", x.Dot, x.X, r.str(x.Name.Name, x.NamePos))
		}
	case *syntax.IndexExpr:
		x.X, x.Y = r.expr(x.X), r.expr(x.Y)
		if !isLiteral(x.Y) { // a constant key is small
			return r.call("_nl_index", x.Lbrack, x.X, x.Y)
		}
	case *syntax.SliceExpr:
		return r.slice(x)
	case *syntax.Comprehension:
		r.comprehension(x)
	case *syntax.CondExpr:
		x.Cond, x.True, x.False = r.expr(x.Cond), r.expr(x.True), r.expr(x.False)
	case *syntax.DictExpr:
		return r.dict(x)
	case *syntax.DictEntry:
		x.Key, x.Value = r.expr(x.Key), r.expr(x.Value)
	case *syntax.ListExpr:
		r.exprs(x.List)
	case *syntax.TupleExpr:
		r.exprs(x.List)
	case *syntax.LambdaExpr:
		x.Params = r.params(x.Params)
		x.Body = r.expr(x.Body)
	}
	return x
}

func isLiteral(x syntax.Expr) bool {
	_, ok := x.(*syntax.Literal)
	return ok
}

// binary rewrites x op y into a checked operation: the operators that can
// grow their result, and membership tests with a key that is not a
// constant (a constant key hashes fast).
func (r *rewriter) binary(x *syntax.BinaryExpr) syntax.Expr {
	x.X, x.Y = r.expr(x.X), r.expr(x.Y)
	if name, ok := opNames[x.Op]; ok {
		return r.call(name, x.OpPos, x.X, x.Y)
	}
	switch {
	case x.Op == syntax.IN && !isLiteral(x.X):
		return r.call("_nl_in", x.OpPos, x.X, x.Y)
	case x.Op == syntax.NOT_IN && !isLiteral(x.X):
		return r.call("_nl_notin", x.OpPos, x.X, x.Y)
	}
	return x
}

// comprehension rewrites a comprehension's parts; a dict comprehension's
// key that is not a constant is checked.
func (r *rewriter) comprehension(x *syntax.Comprehension) {
	x.Body = r.expr(x.Body)
	if e, ok := x.Body.(*syntax.DictEntry); ok && !isLiteral(e.Key) {
		e.Key = r.call("_nl_key", e.Colon, e.Key)
	}
	for _, c := range x.Clauses {
		switch c := c.(type) {
		case *syntax.ForClause:
			c.Vars, c.X = r.target(c.Vars), r.expr(c.X)
		case *syntax.IfClause:
			c.Cond = r.expr(c.Cond)
		}
	}
}

// callExpr rewrites x.m(args) into _nl_method(x, "m", args) for the
// methods of built-in types, and the arguments of every call.
func (r *rewriter) callExpr(x *syntax.CallExpr) syntax.Expr {
	for i, a := range x.Args {
		if kw, ok := a.(*syntax.BinaryExpr); ok && kw.Op == syntax.EQ {
			kw.Y = r.expr(kw.Y)
			continue
		}
		if sp, ok := a.(*syntax.UnaryExpr); ok && (sp.Op == syntax.STAR || sp.Op == syntax.STARSTAR) {
			sp.X = r.call("_nl_spread", sp.OpPos, r.expr(sp.X))
			continue
		}
		x.Args[i] = r.expr(a)
	}
	if dot, ok := x.Fn.(*syntax.DotExpr); ok && methodNames[dot.Name.Name] {
		recv := r.expr(dot.X)
		args := append([]syntax.Expr{recv, r.str(dot.Name.Name, dot.NamePos)}, x.Args...)
		return &syntax.CallExpr{Fn: r.name("_nl_method", dot.Dot), Lparen: x.Lparen, Args: args, Rparen: x.Rparen}
	}
	x.Fn = r.expr(x.Fn)
	return x
}

// slice rewrites x[lo:hi:step] into _nl_slice(x, mask, present...), mask
// saying which of lo, hi, step are present.
func (r *rewriter) slice(x *syntax.SliceExpr) syntax.Expr {
	args := []syntax.Expr{r.expr(x.X), nil}
	mask := 0
	for i, p := range []syntax.Expr{x.Lo, x.Hi, x.Step} {
		if p != nil {
			mask |= 1 << i
			args = append(args, r.expr(p))
		}
	}
	args[1] = &syntax.Literal{Token: syntax.INT, TokenPos: x.Lbrack, Raw: fmt.Sprint(mask), Value: int64(mask)}
	return r.call("_nl_slice", x.Lbrack, args...)
}

// dict rewrites a dict literal whose keys are not all constants into
// _nl_dict(k1, v1, ...), whose duplicate-key error prints a bounded key.
func (r *rewriter) dict(x *syntax.DictExpr) syntax.Expr {
	constant := true
	for _, e := range x.List {
		e := e.(*syntax.DictEntry)
		e.Key, e.Value = r.expr(e.Key), r.expr(e.Value)
		if _, ok := e.Key.(*syntax.Literal); !ok {
			constant = false
		}
	}
	if constant {
		return x
	}
	args := make([]syntax.Expr, 0, 2*len(x.List))
	for _, e := range x.List {
		e := e.(*syntax.DictEntry)
		args = append(args, e.Key, e.Value)
	}
	return r.call("_nl_dict", x.Lbrace, args...)
}

func (r *rewriter) literal(x *syntax.Literal) {
	if b, ok := x.Value.(*big.Int); ok && b.BitLen() > MaxIntBits {
		r.fail(x.TokenPos, "integer literal of %d bits, over the limit of %d", b.BitLen(), MaxIntBits)
	}
}
