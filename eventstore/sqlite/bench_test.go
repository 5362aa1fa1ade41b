package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/eventstore/internal/benchutil"
	"github.com/heraldhq/herald/eventstore/sqlite"
)

// appendRound is the number of appends (and raw inserts) per side and
// iteration of BenchmarkAppend.
const appendRound = 1000

// BenchmarkAppend: 1 event to one of 10,000 streams with the exact
// expected version, 4 writers, against a raw INSERT loop (4 writers,
// autocommit) into a table of the same columns in the same database
// file ("raw", the baseline; goal store/raw >= 0.7). "raw-indexed" is
// the same loop into a table that also has the indexes any event store
// needs (a stream's versions unique, its event ids looked up): a second
// reference, beside the baseline.
//
// The 10,000 streams exist before the timing starts, with one event
// each, created by the store's own appends (through a second handle on
// the file with synchronous=OFF, as fsyncing each would take most of the
// run; see fillStreams), and the raw tables get the same first rows;
// each writer then appends to the streams of its own shard
// in turn, knowing their versions (see benchutil.Shards). The sides run
// in rounds of appendRound operations, alternated within each
// iteration (see benchutil.Paired), so that each ratio compares runs
// made under the same load; run it with -count 5 and take medians.
func BenchmarkAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.db")
	sh := fillStreams(b, path)
	db, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := sqlite.New(context.Background(), db, sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	cols := `position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, id TEXT NOT NULL,
		type TEXT NOT NULL, recorded_at INTEGER NOT NULL, headers TEXT NOT NULL, data BLOB`
	raw := rawTable(b, db, "raw", `CREATE TABLE raw (`+cols+`)`)
	indexed := rawTable(b, db, "raw_indexed", `CREATE TABLE raw_indexed (`+cols+`, UNIQUE (stream, version))`,
		`CREATE INDEX raw_indexed_id ON raw_indexed (stream, id)`)
	b.Run("paired", func(b *testing.B) {
		benchutil.Paired(b, appendRound, nil, "",
			benchutil.Side{Name: "store", Run: func(n int) error { return benchutil.Append(s, sh, n) }},
			benchutil.Side{Name: "raw", Run: raw.Run},
			benchutil.Side{Name: "raw-indexed", Run: indexed.Run})
	})
}

// fillStreams creates the benchmark's streams in the SQLite file at path
// by the store's appends, through a handle that does not fsync (the
// rows are the same as with sqlite.Open's handle; only their durability
// differs, which the fill does not need).
func fillStreams(b *testing.B, path string) *benchutil.Shards {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := sqlite.New(context.Background(), db, sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sh, err := benchutil.NewStreams(s)
	if err != nil {
		b.Fatal(err)
	}
	return sh
}

// rawTable creates a raw table by ddl and fills it with the streams'
// first events.
func rawTable(b *testing.B, db *sql.DB, table string, ddl ...string) *benchutil.Raw {
	for _, q := range ddl {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	r := &benchutil.Raw{DB: db, Insert: `INSERT INTO ` + table + ` (stream, version, id, type, recorded_at, headers, data) VALUES (?, ?, ?, ?, ?, ?, ?)`}
	if err := r.Fill(); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkReadStream: a 10,000-event stream read whole (and decoded),
// against a raw SELECT and scan of the same rows.
func BenchmarkReadStream(b *testing.B) {
	const n = 10000
	s := newStore(b)
	benchutil.Fill(b, s, "long", n)
	db := s.(interface{ DB() *sql.DB }).DB()
	b.Run("store", func(b *testing.B) { benchutil.ReadStream(b, s, "long", n) })
	b.Run("raw", func(b *testing.B) {
		benchutil.RawScan(b, db, `SELECT position, stream, version, id, type, recorded_at, headers, data
			FROM herald_events WHERE stream = ? ORDER BY version`, n, "long")
	})
}
