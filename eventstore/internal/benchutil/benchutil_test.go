package benchutil

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
)

// TestShardsTake: each writer takes every stream of its shard once per
// cycle, and no stream of another writer's, so that no two writers ever
// append to the same stream.
func TestShardsTake(t *testing.T) {
	var sh Shards
	seen := make([]int, Streams)
	for w := range Writers {
		first, _ := sh.take(w)
		seen[first]++
		for range (Streams+Writers-1-w)/Writers - 1 {
			k, _ := sh.take(w)
			if k%Writers != w {
				t.Fatalf("writer %d took stream %d of writer %d", w, k, k%Writers)
			}
			seen[k]++
		}
		if k, _ := sh.take(w); k != first {
			t.Fatalf("writer %d: after a cycle took stream %d, want %d again", w, k, first)
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("stream %d taken %d times in a cycle, want 1", k, n)
		}
	}
}

// TestAppendConflictFails: Append appends with the versions NewStreams
// and earlier Appends left, and fails (rather than counting) an append
// whose expected version is wrong.
func TestAppendConflictFails(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 streams")
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "events.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	s, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := NewStreams(s)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	if err := Append(s, sh, n); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT stream, version FROM herald_events_streams`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got, sum := 0, int64(0)
	for rows.Next() {
		var stream string
		var v int64
		if err := rows.Scan(&stream, &v); err != nil {
			t.Fatal(err)
		}
		k, err := strconv.Atoi(strings.TrimPrefix(stream, "bench-"))
		if err != nil || k < 0 || k >= Streams || sh.versions[k] != v {
			t.Fatalf("stream %s at version %d: not tracked so (%v)", stream, v, err)
		}
		got++
		sum += v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != Streams || sum != n {
		t.Fatalf("%d streams whose versions add up to %d, want %d adding up to %d (one per append)", got, sum, Streams, n)
	}
	// Every writer's next stream is ahead of the store: parallel hands
	// its operations to whichever goroutine asks first, so with only
	// writer 0's ahead, the other writers could take all Writers
	// operations and the append would rightly succeed.
	for w := range Writers {
		sh.versions[sh.next[w]*Writers+w]++
	}
	var conflict *eventstore.ConflictError
	if err := Append(s, sh, Writers); !errors.As(err, &conflict) {
		t.Fatalf("append at a stale version: %v, want a conflict", err)
	}
}
