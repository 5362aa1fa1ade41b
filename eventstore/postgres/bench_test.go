package postgres

import (
	"context"
	"database/sql"
	"testing"

	"github.com/heraldhq/herald/eventstore/internal/benchutil"
)

// BenchmarkAppend: 1 event to one of 10,000 streams with the expected
// version, 4 writers, against a raw INSERT loop (4 writers, autocommit)
// into a table of the same columns in the same database ("raw", the
// baseline). "raw-indexed" is the same loop into a table that also has
// the indexes any event store needs (a stream's versions unique, its
// event ids looked up): a second reference, beside the baseline. Each
// also reports the WAL written per event (see walPerEvent).
func BenchmarkAppend(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		db, prefix := newDB(b)
		s, err := New(context.Background(), db, Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		walPerEvent(b, db, func() { benchutil.Append(b, s) })
	})
	b.Run("raw", func(b *testing.B) {
		db, prefix := newDB(b)
		if _, err := db.Exec(`CREATE TABLE ` + prefix + `_raw (position BIGSERIAL PRIMARY KEY, stream TEXT NOT NULL,
			version BIGINT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at BIGINT NOT NULL, headers TEXT NOT NULL, data BYTEA)`); err != nil {
			b.Fatal(err)
		}
		walPerEvent(b, db, func() {
			benchutil.RawInsert(b, db, `INSERT INTO `+prefix+`_raw (stream, version, id, type, recorded_at, headers, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`)
		})
	})
	b.Run("raw-indexed", func(b *testing.B) {
		db, prefix := newDB(b)
		for _, q := range []string{`CREATE TABLE ` + prefix + `_raw (position BIGSERIAL PRIMARY KEY, stream TEXT NOT NULL,
			version BIGINT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at BIGINT NOT NULL, headers TEXT NOT NULL, data BYTEA,
			UNIQUE (stream, version))`, `CREATE INDEX ON ` + prefix + `_raw (stream, id)`} {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		walPerEvent(b, db, func() {
			benchutil.RawInsert(b, db, `INSERT INTO `+prefix+`_raw (stream, version, id, type, recorded_at, headers, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`)
		})
	})
}

// walPerEvent runs f and reports the WAL the server wrote meanwhile per
// op, as WAL-B/event (pg_current_wal_insert_lsn before and after: on a
// server that other sessions write to, their WAL counts too).
func walPerEvent(b *testing.B, db *sql.DB, f func()) {
	lsn := func() int64 {
		var n int64
		if err := db.QueryRow(`SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	before := lsn()
	f()
	b.ReportMetric(float64(lsn()-before)/float64(b.N), "WAL-B/event")
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
