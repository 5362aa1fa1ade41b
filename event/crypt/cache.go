package crypt

import (
	"container/list"
	"crypto/cipher"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// dek is one unwrapped data-encryption key, ready to seal or open.
type dek struct {
	aead    cipher.AEAD
	keyID   string
	version string // the KEK version, decimal, as on the wire
	wrapped string // the wrapped DEK, base64, as on the wire
	expires time.Time

	// Nonces, for a DEK this process made (producer side): a random
	// 4-byte prefix, fixed per DEK, and a counter. A DEK is made by one
	// process and sealed with only there, so counter nonces never repeat
	// under it: no birthday bound as with random nonces.
	prefix  [4]byte
	counter atomic.Uint64
}

// nonce appends the DEK's next nonce to b.
func (d *dek) nonce(b []byte) []byte {
	b = append(b, d.prefix[:]...)
	return binary.BigEndian.AppendUint64(b, d.counter.Add(1))
}

// cacheKey names a cached DEK. A consumer entry is keyed by the wrapped
// DEK as it came (an event's own strings: building the key allocates
// nothing); a producer entry, the DEK new events of a key id use, has
// producer set and only keyID.
type cacheKey struct {
	keyID, version, wrapped string
	producer                bool
}

type cacheEntry struct {
	key cacheKey
	dek *dek
}

// cache is a bounded LRU of DEKs with an expiry each. Safe for concurrent
// use. It is never held while the keyring is called.
type cache struct {
	max int // entries, > 0
	mu  struct {
		sync.Mutex
		gen uint64    // the keyring's Generation the entries are from
		lru list.List // of *cacheEntry, most recently used first
		m   map[cacheKey]*list.Element
	}
}

func newCache(max int) *cache {
	c := &cache{max: max}
	c.mu.m = make(map[cacheKey]*list.Element)
	return c
}

// get returns the live entry of k. gen is the keyring's current
// generation: when it moved, every entry is dropped first.
func (c *cache) get(k cacheKey, now time.Time, gen uint64) (*dek, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncGenLocked(gen)
	el, ok := c.mu.m[k]
	if !ok {
		return nil, false
	}
	ent := el.Value.(*cacheEntry)
	if !now.Before(ent.dek.expires) {
		c.removeLocked(el)
		return nil, false
	}
	c.mu.lru.MoveToFront(el)
	return ent.dek, true
}

// put adds or replaces k's entry, evicting the least recently used past
// the bound. An entry from an older generation than the cache's is not
// kept.
func (c *cache) put(k cacheKey, d *dek, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncGenLocked(gen)
	if gen != c.mu.gen {
		return
	}
	if el, ok := c.mu.m[k]; ok {
		el.Value.(*cacheEntry).dek = d
		c.mu.lru.MoveToFront(el)
		return
	}
	c.mu.m[k] = c.mu.lru.PushFront(&cacheEntry{key: k, dek: d})
	for c.mu.lru.Len() > c.max {
		c.removeLocked(c.mu.lru.Back())
	}
}

// forget drops every entry of key id.
func (c *cache) forget(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.mu.m {
		if k.keyID == keyID {
			c.removeLocked(el)
		}
	}
}

// len is the number of entries.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.lru.Len()
}

// syncGenLocked drops every entry if gen is newer than the entries'.
// mu must be held.
func (c *cache) syncGenLocked(gen uint64) {
	if gen <= c.mu.gen {
		return
	}
	c.mu.gen = gen
	c.mu.lru.Init()
	clear(c.mu.m)
}

// removeLocked drops one entry. mu must be held.
func (c *cache) removeLocked(el *list.Element) {
	delete(c.mu.m, el.Value.(*cacheEntry).key)
	c.mu.lru.Remove(el)
}
