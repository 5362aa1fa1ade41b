package stream

// dirtyIndex orders a store's dirty cache entries by key, so that a range
// scan merges only the cached writes inside its range with pebble's,
// instead of walking (and sorting) the whole write cache: session
// windows and stream-stream joins scan a small range on every record,
// while the cache holds every write since the last commit.
//
// It is a skip list of the cache's dirty entries, kept by the stores
// whose processors scan per record (kvStore.indexWrites): the others pay
// nothing on their writes. A commit or a discard, which end the dirty
// marks, empties it. kvStore.mu guards it.
//
// Invariant: the nodes reachable from head are exactly the cache's dirty
// entries, each pointing at its *dirtyValue in the cache map, in
// ascending key order on every level.
type dirtyIndex struct {
	head  [ixMaxLevel]*ixNode
	level int    // levels in use, 1..ixMaxLevel
	rnd   uint64 // xorshift state for node levels
}

// ixMaxLevel bounds the skip list's height: with a branching factor of
// 4, ample for any write cache that fits in memory.
const ixMaxLevel = 16

type ixNode struct {
	key  string
	d    *dirtyValue
	next []*ixNode // next[i] is the following node on level i
}

func newDirtyIndex() *dirtyIndex { return &dirtyIndex{level: 1, rnd: 0x9e3779b97f4a7c15} }

// reset empties the index. Cursors over the old nodes stay valid: they
// walk the old list, which nothing changes any more.
func (ix *dirtyIndex) reset() {
	ix.head = [ixMaxLevel]*ixNode{}
	ix.level = 1
}

// randomLevel draws a node's height: level l+1 with probability 4^-l.
func (ix *dirtyIndex) randomLevel() int {
	x := ix.rnd
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	ix.rnd = x
	l := 1
	for ; l < ixMaxLevel && x&3 == 0; x >>= 2 {
		l++
	}
	return l
}

// insert adds key with its cache entry d, or points an existing key's
// node at d.
func (ix *dirtyIndex) insert(key string, d *dirtyValue) {
	var prev [ixMaxLevel]*ixNode // the last node before key on each level; nil: the head
	var p *ixNode
	for lv := ix.level - 1; lv >= 0; lv-- {
		for n := ix.nextOf(p, lv); n != nil && n.key < key; n = n.next[lv] {
			p = n
		}
		prev[lv] = p
	}
	if n := ix.nextOf(p, 0); n != nil && n.key == key {
		n.d = d
		return
	}
	lvl := ix.randomLevel()
	ix.level = max(ix.level, lvl)
	nn := &ixNode{key: key, d: d, next: make([]*ixNode, lvl)}
	for lv := range lvl {
		if prev[lv] == nil {
			nn.next[lv], ix.head[lv] = ix.head[lv], nn
		} else {
			nn.next[lv], prev[lv].next[lv] = prev[lv].next[lv], nn
		}
	}
}

// nextOf is the node after p on level lv (p nil: the head's).
func (ix *dirtyIndex) nextOf(p *ixNode, lv int) *ixNode {
	if p == nil {
		return ix.head[lv]
	}
	return p.next[lv]
}

// seek returns the first node whose key is at least key, nil if none.
func (ix *dirtyIndex) seek(key string) *ixNode {
	var p *ixNode
	for lv := ix.level - 1; lv >= 0; lv-- {
		for n := ix.nextOf(p, lv); n != nil && n.key < key; n = n.next[lv] {
			p = n
		}
	}
	return ix.nextOf(p, 0)
}
