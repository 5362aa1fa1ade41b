package postgres

import (
	"context"
	"database/sql"
	"testing"

	"github.com/heraldhq/herald/eventstore/internal/benchutil"
)

// appendRound is the number of appends (and raw inserts) per side and
// iteration of BenchmarkAppend.
const appendRound = 1000

// BenchmarkAppend: 1 event to one of 10,000 streams with the exact
// expected version, 4 writers, against a raw INSERT loop (4 writers,
// autocommit) into a table of the same columns in the same database
// ("raw", the baseline; goal store/raw >= 0.7). "raw-indexed" is the
// same loop into a table that also has the indexes any event store needs
// (a stream's versions unique, its event ids looked up): a second
// reference, beside the baseline.
//
// The 10,000 streams exist before the timing starts, with one event
// each, created by the store's own appends (the raw tables get the same
// first rows); each writer then appends to the streams of its own shard
// in turn, knowing their versions (see benchutil.Shards). The sides run
// in rounds of appendRound operations, alternated within each
// iteration (see benchutil.Paired), so that each ratio compares runs
// made under the same load; run it with -count 5 and take medians. Each
// side also reports the WAL written per event (see walLSN).
func BenchmarkAppend(b *testing.B) {
	db, prefix := newDB(b)
	// database/sql keeps 2 idle connections by default: with 4 writers,
	// every round would open new ones (a PostgreSQL backend each, forked
	// and warmed up), on both sides. A service sets this too.
	db.SetMaxIdleConns(16)
	s, err := New(context.Background(), db, Config{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	sh, err := benchutil.NewStreams(s)
	if err != nil {
		b.Fatal(err)
	}
	cols := `position BIGSERIAL PRIMARY KEY, stream TEXT NOT NULL, version BIGINT NOT NULL, id TEXT NOT NULL,
		type TEXT NOT NULL, recorded_at BIGINT NOT NULL, headers TEXT NOT NULL, data BYTEA`
	raw := rawTable(b, db, prefix+"_raw", `CREATE TABLE `+prefix+`_raw (`+cols+`)`)
	indexed := rawTable(b, db, prefix+"_raw_indexed", `CREATE TABLE `+prefix+`_raw_indexed (`+cols+`, UNIQUE (stream, version))`,
		`CREATE INDEX ON `+prefix+`_raw_indexed (stream, id)`)
	b.Run("paired", func(b *testing.B) {
		benchutil.Paired(b, appendRound, func() (int64, error) { return walLSN(db) }, "WAL-B/ev",
			benchutil.Side{Name: "store", Run: func(n int) error { return benchutil.Append(s, sh, n) }},
			benchutil.Side{Name: "raw", Run: raw.Run},
			benchutil.Side{Name: "raw-indexed", Run: indexed.Run})
	})
}

// rawTable creates a raw table by ddl and fills it with the streams'
// first events.
func rawTable(b *testing.B, db *sql.DB, table string, ddl ...string) *benchutil.Raw {
	for _, q := range ddl {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	r := &benchutil.Raw{DB: db, Insert: `INSERT INTO ` + table + ` (stream, version, id, type, recorded_at, headers, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`}
	if err := r.Fill(); err != nil {
		b.Fatal(err)
	}
	return r
}

// walLSN is the server's WAL insert position in bytes
// (pg_current_wal_insert_lsn: on a server that other sessions write to,
// their WAL counts too).
func walLSN(db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRow(`SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&n)
	return n, err
}

// BenchmarkReadStream: a 10,000-event stream read whole (and decoded),
// against a raw SELECT and scan of the same rows.
func BenchmarkReadStream(b *testing.B) {
	const n = 10000
	db, prefix := newDB(b)
	s, err := New(context.Background(), db, Config{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	benchutil.Fill(b, s, "long", n)
	b.Run("store", func(b *testing.B) { benchutil.ReadStream(b, s, "long", n) })
	b.Run("raw", func(b *testing.B) {
		benchutil.RawScan(b, db, `SELECT position, stream, version, id, type, recorded_at, headers, data
			FROM `+prefix+` WHERE stream = $1 ORDER BY version`, n, "long")
	})
}
