package call

import "math/bits"

// TotalWeight is the range of StickyPoint: a Split's weights are basis
// points summing to it.
const TotalWeight = 10000

// StickyPoint maps a sticky key to a point in [0, TotalWeight): FNV-1a 64,
// then the splitmix64 finaliser so short, similar keys spread evenly, then
// a multiply-shift into the range. It is stable across processes and
// releases: the balancer places sticky calls by it, and the shadow samples
// sticky calls by it (with a salt of its own).
func StickyPoint(key string) uint32 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	hi, _ := bits.Mul64(h, TotalWeight)
	return uint32(hi)
}
