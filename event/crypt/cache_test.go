package crypt

import (
	"fmt"
	"testing"
	"time"
)

// TestCache: the LRU keeps at most max entries, dropping the least
// recently used; an entry past its expiry is gone; a newer generation
// drops everything, and an entry from an older one is not kept.
func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache(3)
	live := &dek{expires: now.Add(time.Minute)}
	key := func(i int) cacheKey { return cacheKey{keyID: fmt.Sprint(i)} }
	for i := range 3 {
		c.put(key(i), live, 0)
	}
	if _, ok := c.get(key(0), now, 0); !ok { // 0 is now the most recent
		t.Fatal("entry 0 missing")
	}
	c.put(key(3), live, 0)
	if _, ok := c.get(key(1), now, 0); ok || c.len() != 3 {
		t.Fatalf("LRU entry 1 kept; len %d", c.len())
	}
	for _, i := range []int{0, 2, 3} {
		if _, ok := c.get(key(i), now, 0); !ok {
			t.Fatalf("entry %d evicted", i)
		}
	}
	if _, ok := c.get(key(0), now.Add(time.Minute), 0); ok {
		t.Fatal("expired entry returned")
	}
	if _, ok := c.get(key(2), now, 1); ok || c.len() != 0 {
		t.Fatal("entries kept across a generation")
	}
	c.put(key(5), live, 0)
	if c.len() != 0 {
		t.Fatal("entry of an older generation kept")
	}
	c.put(key(5), live, 1)
	c.put(cacheKey{keyID: "5", producer: true}, live, 1)
	c.forget("5")
	if c.len() != 0 {
		t.Fatal("forget left entries")
	}
}
