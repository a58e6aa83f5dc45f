package dnsx

import (
	"math"
	"net"
	"net/netip"
	"unsafe"
)

// The cache is bounded in bytes, not entries (docs/HOSTILE.md): one name
// whose TXT answer is 64 KB costs as much heap as thousands of A answers,
// and a wildcard on a hostile domain hands out any number of such names.
// Each entry is charged an estimate of the heap it keeps alive, which
// TestCacheWeightMatchesHeap holds within a factor of 2 of the measured heap.
const (
	// entryOverhead is what otter spends per entry besides the answer: its
	// node (list and expiry links, weight, state, key, value pointer: 96
	// bytes as allocated) and the entry's share of the hash table.
	entryOverhead = 128
	// answerSize is the answer struct as allocated (its size class).
	answerSize = 128
	// stringHeader is a string's header in a slice of strings.
	stringHeader = int(unsafe.Sizeof(""))
	mxSize       = int(unsafe.Sizeof(net.MX{}))
	addrSize     = int(unsafe.Sizeof(netip.Addr{}))
)

// heapBytes estimates the heap that caching a under a key of the name's
// length keeps alive. server and errText are not counted: the server
// string is the configured one, shared by every answer, and failures are
// never cached.
func (a *answer) heapBytes(nameLen int) int {
	n := entryOverhead + answerSize + nameLen
	n += cap(a.strs) * stringHeader
	for _, s := range a.strs {
		n += allocSize(len(s))
	}
	n += cap(a.mx) * mxSize
	for _, mx := range a.mx {
		n += allocSize(len(mx.Host))
	}
	n += cap(a.addrs) * addrSize
	return n
}

// allocSize rounds a string's length up as the allocator would, roughly:
// to 16 bytes for small strings, to the 8 KiB page for large ones, whose
// rounding (up to 8 KiB each) is what lets a 56 KiB string cost 64 KiB.
func allocSize(n int) int {
	const page = 8 << 10
	switch {
	case n == 0:
		return 0
	case n <= 32<<10:
		return (n + 15) &^ 15
	default:
		return (n + page - 1) &^ (page - 1)
	}
}

// weigher charges an entry its estimated heap, and at least floor: a
// positive CacheSize bounds the count of entries that way (see Config).
func weigher(floor uint32) func(k key, a *answer) uint32 {
	return func(_ key, a *answer) uint32 { return max(a.weight, floor) }
}

// entryFloor is the least charge of an entry so that at most size entries
// fit in budget bytes; 0 without a count bound.
func entryFloor(budget int64, size int) uint32 {
	if size <= 0 {
		return 0
	}
	return uint32(min(budget/int64(size), math.MaxUint32))
}
