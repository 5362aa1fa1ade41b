package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// TestConformanceFilterInSQL runs the suite on a store that applies the
// streams' bounds to $all in Go for at most 2 bounded streams and in SQL
// for more (HiddenInAll has 5).
func TestConformanceFilterInSQL(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		db, err := Open(filepath.Join(t.TempDir(), "events.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(context.Background(), db, dialect, sqlstore.Config{MaxBounded: 2})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
