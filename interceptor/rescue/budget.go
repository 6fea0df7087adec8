package rescue

import "sync/atomic"

// tokenUnit is one token in the bucket's fixed point: a thousandth of a
// token is its resolution, so a BudgetRatio of 0.001 still earns.
const tokenUnit = 1000

// budget is the token bucket that bounds the rescues (gRFC A6's retry
// throttling turned around: calls earn, rescues spend). It takes no lock:
// a full bucket costs earn one atomic load.
type budget struct {
	tokens atomic.Int64 // in thousandths of a token
	earned int64        // per call
	max    int64
}

func newBudget(ratio float64, burst int) *budget {
	b := &budget{earned: int64(ratio*tokenUnit + 0.5), max: int64(burst) * tokenUnit}
	b.tokens.Store(b.max)
	return b
}

// earn adds one call's share.
func (b *budget) earn() { b.add(b.earned) }

// refund gives back a token a rescue took but did not use.
func (b *budget) refund() { b.add(tokenUnit) }

func (b *budget) add(n int64) {
	for {
		t := b.tokens.Load()
		if t >= b.max {
			return
		}
		if b.tokens.CompareAndSwap(t, min(t+n, b.max)) {
			return
		}
	}
}

// take spends a token; it reports false when there is none.
func (b *budget) take() bool {
	for {
		t := b.tokens.Load()
		if t < tokenUnit {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-tokenUnit) {
			return true
		}
	}
}

// available is the number of tokens in the bucket.
func (b *budget) available() float64 { return float64(b.tokens.Load()) / tokenUnit }
