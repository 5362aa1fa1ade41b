package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/eventstore/internal/benchutil"
	"github.com/heraldhq/herald/eventstore/sqlite"
)

// BenchmarkAppend: 1 event to one of 10,000 streams with the expected
// version, 4 writers, against a raw INSERT loop (4 writers, autocommit)
// into a table of the same columns in the same kind of database.
func BenchmarkAppend(b *testing.B) {
	b.Run("store", func(b *testing.B) { benchutil.Append(b, newStore(b)) })
	b.Run("raw", func(b *testing.B) {
		db, err := sqlite.Open(filepath.Join(b.TempDir(), "raw.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE raw (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL,
			id TEXT NOT NULL, type TEXT NOT NULL, recorded_at INTEGER NOT NULL, headers TEXT NOT NULL, data BLOB)`); err != nil {
			b.Fatal(err)
		}
		benchutil.RawInsert(b, db, `INSERT INTO raw (stream, version, id, type, recorded_at, headers, data) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	})
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
