package shop

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/heraldhq/herald/eventstore"
	eventpg "github.com/heraldhq/herald/eventstore/postgres"
	eventsqlite "github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/outbox"
	outboxpg "github.com/heraldhq/herald/outbox/postgres"
	outboxsqlite "github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/saga"
)

// DB is one service's own database: a SQLite file, or a schema of its
// own in a PostgreSQL database. Queries use $1, $2, ... placeholders,
// which both understand.
type DB struct {
	SQL      *sql.DB
	Postgres bool
	schema   string // "name." in PostgreSQL, "" in SQLite
}

// DBConfig says where the services keep their data.
type DBConfig struct {
	// Dir holds one SQLite file per service (<Dir>/<service>.db) when
	// Postgres is empty.
	Dir string
	// Postgres is a PostgreSQL URL; each service then has the schema
	// <Namespace>_<service> there.
	Postgres  string
	Namespace string // default "shop"
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Open opens service's database.
func (c DBConfig) Open(ctx context.Context, service string) (*DB, error) {
	if c.Postgres == "" {
		return openSQLite(filepath.Join(c.Dir, service+".db"))
	}
	ns := c.Namespace
	if ns == "" {
		ns = "shop"
	}
	schema := ns + "_" + service
	if !identRE.MatchString(schema) {
		return nil, fmt.Errorf("shop: bad schema name %q", schema)
	}
	db, err := sql.Open("pgx", c.Postgres)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", service, err)
	}
	db.SetMaxOpenConns(8)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	return &DB{SQL: db, Postgres: true, schema: schema + "."}, nil
}

// openSQLite opens path in WAL mode; transactions take the write lock when
// they begin (_txlock=immediate), so two never deadlock upgrading.
func openSQLite(path string) (*DB, error) {
	v := url.Values{}
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "busy_timeout(20000)")
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Add("_txlock", "immediate")
	db, err := sql.Open(gatedDriverName, "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Opening a connection costs more than most statements (pragmas, the
	// schema): keep them, and their prepared statements (sqlitegate.go).
	// The number open stays unbounded: a goroutine waiting at the gate
	// holds a connection, and the gate's holder may need another one (a
	// projection reads the store while its transaction is open), so a
	// bound would deadlock.
	db.SetMaxIdleConns(16)
	return &DB{SQL: db}, nil
}

// T is the name of the service's table name: schema-qualified in
// PostgreSQL.
func (d *DB) T(name string) string { return d.schema + name }

// Close closes the database.
func (d *DB) Close() error { return d.SQL.Close() }

// Outbox opens the service's outbox table.
func (d *DB) Outbox(ctx context.Context) (outbox.Store, error) {
	if d.Postgres {
		return outboxpg.New(ctx, d.SQL, outboxpg.Config{Table: d.T("outbox")})
	}
	return outboxsqlite.New(ctx, d.SQL, outboxsqlite.Config{Table: d.T("outbox")})
}

// Dedup opens the service's table of handled event ids.
func (d *DB) Dedup(ctx context.Context) (*dedup.SQL, error) {
	dl := dedup.SQLite
	if d.Postgres {
		dl = dedup.Postgres
	}
	return dedup.NewSQL(ctx, d.SQL, dl, d.T("handled"))
}

// EventStore opens the service's event store, with hooks run in each
// append's transaction.
func (d *DB) EventStore(ctx context.Context, hooks ...eventstore.TxHook) (eventstore.Store, error) {
	if d.Postgres {
		return eventpg.New(ctx, d.SQL, eventpg.Config{Prefix: d.T("events"), Hooks: hooks})
	}
	return eventsqlite.New(ctx, d.SQL, eventsqlite.Config{Prefix: d.T("events"), Hooks: hooks})
}

// Projections returns a projection runner on the service's database.
func (d *DB) Projections(ctx context.Context, store eventstore.Store) (*projection.Runner, error) {
	dl := projection.SQLite
	if d.Postgres {
		dl = projection.Postgres
	}
	return projection.New(ctx, d.SQL, dl, store, projection.Config{Table: d.T("projections")})
}

// Sagas opens the service's saga tables, whose commands go to ob.
func (d *DB) Sagas(ctx context.Context, ob outbox.Store) (*saga.Store, error) {
	dl := saga.SQLite
	if d.Postgres {
		dl = saga.Postgres
	}
	return saga.NewStore(ctx, d.SQL, ob, saga.StoreConfig{Dialect: dl, Prefix: d.T("saga")})
}

// ForUpdate is the row-locking suffix of a SELECT: PostgreSQL's FOR
// UPDATE; nothing in SQLite, whose transactions hold the database's write
// lock from their start.
func (d *DB) ForUpdate() string {
	if d.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// InTx runs f in a transaction and commits it, or rolls back on error.
func (d *DB) InTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
