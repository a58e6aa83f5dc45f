package greylist

// The memory store keeps its entries in slabs: fixed-size records in
// chunks that never move, found through a map from a 16-byte hashed key to
// the record's slot number, and threaded on doubly linked lists (slot
// numbers, not pointers) that give the eviction order. Nothing in a chunk
// or in the map holds a pointer, so the garbage collector does not scan
// them, and a growing store never copies what it holds: a new chunk is
// added. A record keeps its slot from insertion to removal, which is what
// lets the sweep and the snapshot walk the slots in batches, releasing
// the lock between batches, and still see every record that stayed.

const (
	slabChunkBits = 12
	slabChunk     = 1 << slabChunkBits // slots per chunk; also the sweep and snapshot batch

	noSlot   int32 = -1 // end of a list, or a slot on no list
	freeSlot int32 = -2 // prev of a slot on the free chain
)

// memKey is a hashed key: a client key, or a triplet (see memKeys).
type memKey = [16]byte

type slot[V any] struct {
	key        memKey
	val        V
	prev, next int32
}

// order is a list of slots, head first.
type order struct {
	head, tail int32
	n          int
}

func newOrder() order { return order{head: noSlot, tail: noSlot} }

type slab[V any] struct {
	index  map[memKey]int32
	chunks []*[slabChunk]slot[V]
	used   int32 // slots handed out so far: every live slot is below it
	free   int32 // first free slot, chained through next
}

func newSlab[V any]() slab[V] {
	return slab[V]{index: map[memKey]int32{}, free: noSlot}
}

func (s *slab[V]) at(i int32) *slot[V] { return &s.chunks[i>>slabChunkBits][i&(slabChunk-1)] }

func (s *slab[V]) len() int { return len(s.index) }

func (s *slab[V]) find(k memKey) (int32, bool) {
	i, ok := s.index[k]
	return i, ok
}

// live says whether slot i (below used) holds a record.
func (s *slab[V]) live(i int32) bool { return s.at(i).prev != freeSlot }

// insert stores a new record, on no list yet; k must not be present.
func (s *slab[V]) insert(k memKey, v V) int32 {
	i := s.free
	if i != noSlot {
		s.free = s.at(i).next
	} else {
		if int(s.used) == len(s.chunks)*slabChunk {
			s.chunks = append(s.chunks, new([slabChunk]slot[V]))
		}
		i = s.used
		s.used++
	}
	*s.at(i) = slot[V]{key: k, val: v, prev: noSlot, next: noSlot}
	s.index[k] = i
	return i
}

// remove frees slot i, which must be on no list.
func (s *slab[V]) remove(i int32) {
	sl := s.at(i)
	delete(s.index, sl.key)
	*sl = slot[V]{prev: freeSlot, next: s.free}
	s.free = i
}

func (s *slab[V]) pushBack(o *order, i int32) {
	sl := s.at(i)
	sl.prev, sl.next = o.tail, noSlot
	if o.tail != noSlot {
		s.at(o.tail).next = i
	} else {
		o.head = i
	}
	o.tail = i
	o.n++
}

func (s *slab[V]) unlink(o *order, i int32) {
	sl := s.at(i)
	if sl.prev != noSlot {
		s.at(sl.prev).next = sl.next
	} else {
		o.head = sl.next
	}
	if sl.next != noSlot {
		s.at(sl.next).prev = sl.prev
	} else {
		o.tail = sl.prev
	}
	sl.prev, sl.next = noSlot, noSlot
	o.n--
}

func (s *slab[V]) moveToBack(o *order, i int32) {
	if o.tail == i {
		return
	}
	s.unlink(o, i)
	s.pushBack(o, i)
}
