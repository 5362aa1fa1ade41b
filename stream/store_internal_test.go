package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestStoreScanAgainstModel drives a store with random puts, deletes,
// commits and discards, and checks every scan of a random range against
// a map of what the store should hold: the dirty index must give exactly
// the cache's writes in the range, merged with pebble's keys, in order,
// whether it was built before or after the writes, as must the scans of
// a store without it.
func TestStoreScanAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		s, err := openKVStore(t.TempDir(), "m", "m-changelog", 0)
		if err != nil {
			t.Fatal(err)
		}
		if seed%2 == 0 {
			s.indexWrites() // seeds 1 and 3 scan without the index, 1 indexes halfway
		}
		committed, pending := map[string]string{}, map[string]*string{} // pending nil: deleted
		key := func() []byte { return fmt.Appendf(nil, "k%03d", rng.IntN(300)) }
		for op := range 4000 {
			switch r := rng.IntN(100); {
			case r < 45:
				k, v := key(), fmt.Sprint("v", op)
				s.put(k, []byte(v))
				pending[string(k)] = &v
			case r < 60:
				k := key()
				s.delete(k)
				pending[string(k)] = nil
			case r < 62:
				if err := s.commitLocal(); err != nil {
					t.Fatal(err)
				}
				for k, v := range pending {
					if v == nil {
						delete(committed, k)
					} else {
						committed[k] = *v
					}
				}
				clear(pending)
			case r < 63:
				s.discard()
				clear(pending)
			case r < 65:
				_, _, _ = s.get(key()) // caches a clean entry
			case r < 66:
				if seed == 1 && op > 2000 {
					s.indexWrites() // this seed indexes late, over a full cache
				}
			default:
				from, to := key(), key()
				if bytes.Compare(from, to) > 0 {
					from, to = to, from
				}
				if rng.IntN(10) == 0 {
					to = nil
				}
				var got []string
				if err := s.scan(from, to, func(k, v []byte) error {
					got = append(got, string(k)+"="+string(v))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				want := modelRange(committed, pending, string(from), to)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d op %d: scan [%s, %s):\n got %v\nwant %v", seed, op, from, to, got, want)
				}
			}
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
	}
}

func modelRange(committed map[string]string, pending map[string]*string, from string, to []byte) []string {
	all := map[string]string{}
	for k, v := range committed {
		all[k] = v
	}
	for k, v := range pending {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = *v
		}
	}
	var out []string
	for k, v := range all {
		if k >= from && (to == nil || k < string(to)) {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// BenchmarkStoreScan scans a range of 2 keys in a store whose write
// cache holds size dirty entries: with the dirty index the time grows
// with log(size), not size.
func BenchmarkStoreScan(b *testing.B) {
	for _, size := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s, err := openKVStore(b.TempDir(), "b", "b-changelog", 0)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.close() }()
			s.indexWrites() // as a session store does
			for i := range size {
				s.put(fmt.Appendf(nil, "k%08d", i), []byte("v"))
			}
			from, to := []byte("k00000500"), []byte("k00000502")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				n := 0
				_ = s.scan(from, to, func(_, _ []byte) error { n++; return nil })
				if n != 2 {
					b.Fatalf("scanned %d keys, want 2", n)
				}
			}
		})
	}
}
