package greylist

// Heap bytes per entry of the memory store, measured (TestMemoryEstimate
// fills the store and compares): a triplet is a 48-byte slot and its map
// entry (16-byte key, 4-byte slot number, the map's control bytes and
// free room); an auto-whitelist counter a 40-byte slot and its map entry.
const (
	memBytesPerTriplet = 88
	memBytesPerAWL     = 80
)

// MemoryEstimate is about the heap the memory store takes at its caps,
// for check-config: the slabs never shrink, so a store that was full
// once keeps this much.
func MemoryEstimate(maxTriplets, maxAWL int) int64 {
	if maxTriplets <= 0 {
		maxTriplets = DefaultMaxTriplets
	}
	if maxAWL <= 0 {
		maxAWL = DefaultMaxAWL
	}
	return int64(maxTriplets)*memBytesPerTriplet + int64(maxAWL)*memBytesPerAWL
}
