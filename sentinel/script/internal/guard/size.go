package guard

import (
	"math/bits"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Estimated bytes the interpreter allocates per element of each kind of
// result. They are upper bounds of what go.starlark.net allocates on amd64
// (a Value is two words; a hashtable entry holds a hash, a key, a value and
// two links, in buckets of 8 at a load of at most 6.5/8, doubled on growth).
const (
	slotBytes   = 16 // one Value in a list or tuple
	entryBytes  = 96 // one entry of a dict or set
	headerBytes = 64 // a list, tuple, string or dict header and its boxing
	tupleBytes  = 3*slotBytes + headerBytes
)

// seqBytes is the estimated cost of a list or tuple of n elements.
func seqBytes(n int64) int64 { return mulSat(n, slotBytes) + headerBytes }

// hashBytes is the estimated cost of a dict or set of n entries.
func hashBytes(n int64) int64 { return mulSat(n, entryBytes) + headerBytes }

// mulSat multiplies non-negative a and b, saturating at MaxInt64.
func mulSat(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<62 {
		return 1 << 62
	}
	return int64(lo)
}

func addSat(a, b int64) int64 {
	if s := a + b; s >= a && s <= 1<<62 {
		return s
	}
	return 1 << 62
}

// ReprBound returns an upper bound of the length of repr(v) (or str(v):
// never longer), walking v but stopping as soon as the bound passes limit.
// A value that shares its parts prints exponentially larger than it is;
// the walk sizes each shared list or tuple once, so it costs O(distinct
// parts + limit/2). ok is false past limit.
func ReprBound(v starlark.Value, limit int64) (n int64, ok bool) {
	w := reprWalker{limit: limit}
	n = w.size(v)
	return n, n <= limit
}

type reprWalker struct {
	limit   int64
	path    []starlark.Value // lists and dicts being printed, for cycles
	memo    map[any]int64    // sizes of lists and tuples already walked
	cycled  bool             // the walk met a cycle (its sizes are not memoised)
	mutable bool             // the walk met a list, dict, set or host value
	cache   *SizeCache       // set for a persistent value: strings count their bytes
}

// SizeCache keeps, from one walk of a persistent value to the next, the
// sizes of the structs and tuples that hold no mutable part (they cannot
// change). A script's memory is walked after every tick; most of it is
// usually such records, kept from earlier ticks.
type SizeCache struct{ prev, cur map[any]int64 }

// PersistentBound bounds what a value kept from run to run takes, such as
// state.memory after each tick: its printed size, with strings counted by
// their bytes (not their worst-case escapes, as ReprBound does). It
// reuses the sizes of its immutable records from the previous walk.
func PersistentBound(v starlark.Value, limit int64, c *SizeCache) (int64, bool) {
	if c.cur == nil {
		c.cur = make(map[any]int64)
	}
	w := reprWalker{limit: limit, cache: c}
	n := w.size(v)
	c.prev, c.cur = c.cur, c.prev
	if c.cur == nil {
		c.cur = make(map[any]int64)
	}
	clear(c.cur)
	return n, n <= limit
}

// cached returns a record's size from the cache.
func (w *reprWalker) cached(k any) (int64, bool) {
	if w.cache == nil || k == nil {
		return 0, false
	}
	if n, ok := w.cache.cur[k]; ok {
		return n, true
	}
	if n, ok := w.cache.prev[k]; ok {
		w.cache.cur[k] = n
		return n, true
	}
	return 0, false
}

// record walks an immutable record (a struct or tuple) through the cache.
func (w *reprWalker) record(k any, walk func() int64) int64 {
	if n, ok := w.cached(k); ok {
		return n
	}
	outer := w.mutable
	w.mutable = false
	n := walk()
	if w.cache != nil && k != nil && !w.mutable && !w.cycled && n <= w.limit {
		w.cache.cur[k] = n
	}
	w.mutable = w.mutable || outer
	return n
}

// size returns the printed size of v, or a number past the limit.
func (w *reprWalker) size(v starlark.Value) int64 {
	switch v := v.(type) {
	case starlark.String:
		if w.cache != nil {
			return int64(len(v)) + 2
		}
		return 4*int64(len(v)) + 2 // \xNN at worst, quotes
	case starlark.Bytes:
		if w.cache != nil {
			return int64(len(v)) + 3
		}
		return 4*int64(len(v)) + 3
	case starlark.Int:
		return int64(intBits(v))*31/100 + 2
	case starlark.Float, starlark.Bool, starlark.NoneType:
		return 32
	case *starlark.List:
		w.mutable = true
		return w.seq(v, v.Len(), v.Index, true)
	case starlark.Tuple:
		return w.record(w.key(v), func() int64 { return w.seq(v, len(v), v.Index, false) })
	case *starlark.Dict:
		w.mutable = true
		return w.dict(v)
	case *starlark.Set:
		w.mutable = true
		return w.set(v)
	case *starlarkstruct.Struct:
		return w.record(v, func() int64 { return w.strct(v) })
	case Sizer:
		w.mutable = true
		return v.SizeBound()
	}
	// Functions, builtins, ranges, iterables: their repr is their name.
	return int64(len(v.Type())) + 64
}

// tupleKey identifies a tuple: slices of a tuple share its array, so the
// length is part of it.
type tupleKey struct {
	first *starlark.Value
	n     int
}

func (w *reprWalker) key(v starlark.Value) any {
	if t, ok := v.(starlark.Tuple); ok {
		if len(t) == 0 {
			return nil
		}
		return tupleKey{&t[0], len(t)}
	}
	return v
}

// seq sizes a list or tuple: 2 brackets, 2 for each separator.
func (w *reprWalker) seq(v starlark.Value, n int, at func(int) starlark.Value, mutable bool) int64 {
	k := w.key(v)
	if k != nil {
		if s, ok := w.memo[k]; ok {
			return s
		}
	}
	if mutable && w.onPath(v) {
		w.cycled = true
		return 5 // [...]
	}
	cycled := w.cycled
	w.cycled = false
	w.path = append(w.path, v)
	total := int64(2)
	for i := 0; i < n && total <= w.limit; i++ {
		total = addSat(total, 2+w.size(at(i)))
	}
	w.path = w.path[:len(w.path)-1]
	if k != nil && !w.cycled {
		if w.memo == nil {
			w.memo = make(map[any]int64)
		}
		w.memo[k] = total
	}
	w.cycled = w.cycled || cycled
	return total
}

func (w *reprWalker) onPath(v starlark.Value) bool {
	for _, p := range w.path {
		if p == v {
			return true
		}
	}
	return false
}

func (w *reprWalker) dict(d *starlark.Dict) int64 {
	if w.onPath(d) {
		w.cycled = true
		return 5
	}
	w.path = append(w.path, d)
	defer func() { w.path = w.path[:len(w.path)-1] }()
	total := int64(2)
	it := d.Iterate()
	defer it.Done()
	var k starlark.Value
	for total <= w.limit && it.Next(&k) {
		v, _, _ := d.Get(k)
		total = addSat(total, 4+w.size(k)+w.size(v))
	}
	return total
}

func (w *reprWalker) set(s *starlark.Set) int64 {
	total := int64(8)
	it := s.Iterate()
	defer it.Done()
	var x starlark.Value
	for total <= w.limit && it.Next(&x) {
		total = addSat(total, 2+w.size(x))
	}
	return total
}

func (w *reprWalker) strct(s *starlarkstruct.Struct) int64 {
	total := int64(len(s.Constructor().String())) + 2
	for _, name := range s.AttrNames() {
		if total > w.limit {
			break
		}
		f, _ := s.Attr(name)
		total = addSat(total, int64(len(name))+3+w.size(f))
	}
	return total
}

// Sizer is a host value that knows a bound of its printed and stored size
// (a histogram, say). Host values that do not implement it count as small.
type Sizer interface {
	SizeBound() int64
}

// intBits is the number of bits of x's magnitude.
func intBits(x starlark.Int) int {
	if _, ok := x.Int64(); ok {
		return 64
	}
	return x.BigInt().BitLen()
}

// allocBytes estimates what a value occupies: its own allocation, not its
// elements' (which exist already).
func allocBytes(v starlark.Value) int64 {
	switch v := v.(type) {
	case starlark.String:
		return int64(len(v)) + headerBytes
	case starlark.Bytes:
		return int64(len(v)) + headerBytes
	case starlark.Int:
		return int64(intBits(v)/8) + headerBytes
	case *starlark.List:
		return seqBytes(int64(v.Len()))
	case starlark.Tuple:
		return seqBytes(int64(len(v)))
	case *starlark.Dict:
		return hashBytes(int64(v.Len()))
	case *starlark.Set:
		return hashBytes(int64(v.Len()))
	}
	return headerBytes
}
