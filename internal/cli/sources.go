package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	// streamApps are the --stream-app values: name=URL.
	streamApps []string
}

// AddConsoleSourceFlags registers --saga-db, --saga-prefix,
// --projection-db, --projection-table, --projection-events and the
// repeatable --stream-app on fl.
func AddConsoleSourceFlags(fl *pflag.FlagSet) *ConsoleSources {
	s := &ConsoleSources{}
	fl.StringVar(&s.saga.dsn, "saga-db", "", "show sagas kept in this database (a SQLite file, or a postgres:// URL) on the console's /sagas pages")
	fl.StringVar(&s.saga.prefix, "saga-prefix", "herald_saga", "prefix of the saga tables in --saga-db")
	fl.StringVar(&s.proj.dsn, "projection-db", "", "show projections kept in this database (a SQLite file, or a postgres:// URL) on the console's /projections page")
	fl.StringVar(&s.proj.table, "projection-table", "herald_projections", "the checkpoint table in --projection-db (projection.Config.Table)")
	fl.StringVar(&s.proj.events, "projection-events", "herald_events", "the event store's table prefix in --projection-db, for the head position")
	fl.StringSliceVar(&s.streamApps, "stream-app", nil, "show a stream app's topology on the console's /streams pages: name=http://host:port, the base URL of its HTTP handler (repeatable, or comma separated)")
	return s
}

// StreamApps parses the --stream-app values (name=URL) into the map
// console.Config.StreamApps takes; nil without any.
func (s *ConsoleSources) StreamApps() (map[string]string, error) {
	if s == nil || len(s.streamApps) == 0 {
		return nil, nil
	}
	apps := make(map[string]string, len(s.streamApps))
	for _, v := range s.streamApps {
		name, u, ok := strings.Cut(v, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--stream-app %q: want name=http://host:port", v)
		}
		if _, dup := apps[name]; dup {
			return nil, fmt.Errorf("--stream-app %q: app %s named twice", v, name)
		}
		apps[name] = u
	}
	return apps, nil
}

// Open opens the databases the flags name and sets cfg.Sagas and
// cfg.Projections, and cfg.StreamApps from --stream-app; closeDBs closes
// the databases once the console is closed. With no flag set it does
// nothing.
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
	apps, err := s.StreamApps()
	if err != nil {
		return nil, err
	}
	if apps != nil {
		cfg.StreamApps = apps
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
