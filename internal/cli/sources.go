package cli

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/console"
)

// ConsoleSources are the databases the console's saga and projection
// pages read, named by the flags AddConsoleSourceFlags registers on
// `herald serve` and `herald console`: the same databases, tables and
// defaults as `herald saga --db` and `herald projection --db`.
type ConsoleSources struct {
	saga sagaDB
	proj projectionDB
}

// AddConsoleSourceFlags registers --saga-db, --saga-prefix,
// --projection-db, --projection-table and --projection-events on fl.
func AddConsoleSourceFlags(fl *pflag.FlagSet) *ConsoleSources {
	s := &ConsoleSources{}
	fl.StringVar(&s.saga.dsn, "saga-db", "", "show sagas kept in this database (a SQLite file, or a postgres:// URL) on the console's /sagas pages")
	fl.StringVar(&s.saga.prefix, "saga-prefix", "herald_saga", "prefix of the saga tables in --saga-db")
	fl.StringVar(&s.proj.dsn, "projection-db", "", "show projections kept in this database (a SQLite file, or a postgres:// URL) on the console's /projections page")
	fl.StringVar(&s.proj.table, "projection-table", "herald_projections", "the checkpoint table in --projection-db (projection.Config.Table)")
	fl.StringVar(&s.proj.events, "projection-events", "herald_events", "the event store's table prefix in --projection-db, for the head position")
	return s
}

// Open opens the databases the flags name and sets cfg.Sagas and
// cfg.Projections; closeDBs closes them once the console is closed. With
// neither flag set it does nothing.
func (s *ConsoleSources) Open(ctx context.Context, cfg *console.Config) (closeDBs func() error, err error) {
	var closers []func()
	closeDBs = func() error {
		for _, c := range closers {
			c()
		}
		return nil
	}
	if s == nil {
		return closeDBs, nil
	}
	if s.saga.dsn != "" {
		st, closeDB, err := s.saga.open(ctx)
		if err != nil {
			return nil, errors.Join(err, closeDBs())
		}
		cfg.Sagas, closers = st, append(closers, closeDB)
	}
	if s.proj.dsn != "" {
		r, closeDB, err := s.proj.open(ctx)
		if err != nil {
			return nil, errors.Join(err, closeDBs())
		}
		cfg.Projections, closers = r, append(closers, closeDB)
	}
	return closeDBs, nil
}
