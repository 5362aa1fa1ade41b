package saga

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/sqlbind"
	"github.com/heraldhq/herald/outbox"
)

// Dialect is the SQL flavour of a Store's database.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// Errors of the store and runner.
var (
	ErrNotFound    = errors.New("saga: no such instance")
	ErrExists      = errors.New("saga: instance already exists")
	ErrUnknownType = errors.New("saga: unknown saga type")
	// errConflict: another worker advanced the instance first.
	errConflict = errors.New("saga: instance changed concurrently")
	// errDuplicate: the reply was recorded before.
	errDuplicate = errors.New("saga: duplicate reply")
)

// StoreConfig configures a Store.
type StoreConfig struct {
	Dialect Dialect
	// Prefix names the tables: <Prefix>_instances, <Prefix>_history,
	// <Prefix>_replies. Default herald_saga; may be schema-qualified.
	Prefix string
}

// Store keeps saga instances, their history and the replies seen, in SQL
// (SQLite or PostgreSQL), and writes the commands of each transition to
// an outbox in the same transaction.
//
// One instance is never advanced by two workers at once: a transition is
// stored with UPDATE ... WHERE version = the version it was computed
// from (and PostgreSQL also locks the row with SELECT ... FOR UPDATE); a
// worker that loses the race rolls back, reloads and applies its input
// again. SQLite databases should be opened with _txlock=immediate, so a
// transaction takes the write lock when it begins.
//
// Tables (unix milliseconds in BIGINT columns, 0 for none):
//
//	<p>_instances  id TEXT PK, type, status, step, attempt, attempt_base
//	               (added on open to tables made before it), backoff (0/1),
//	               data TEXT (JSON object), deadline, saga_deadline,
//	               due (indexed: when the timer fires), error, version,
//	               created_at, updated_at
//	<p>_history    seq (auto) PK, instance_id, version (after), at, input
//	               (start, reply, result, timer, abort, retry), event_id,
//	               status, step, note, sent (JSON list of command ids)
//	<p>_replies    event_id TEXT PK, instance_id, at, outcome
//	<p>_requests   seq (auto) PK, instance_id, kind (abort, retry), reason,
//	               at: operator requests that a runner carries out
type Store struct {
	db     *sql.DB
	ob     outbox.Store
	d      Dialect
	prefix string
	// pgWrite[i] is the statement of writePostgres for the parts in bits
	// of i (pgUpdate, pgReply, pgHistory); pgCreate that of
	// createPostgres. Built once, in NewStore, for PostgreSQL.
	pgWrite  [8]string
	pgCreate string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// NewStore returns a store on db that writes commands to ob, creating its
// tables if needed. ob must use the same database. With a nil ob the
// store can be read and take operator requests (Request), as the herald
// saga commands do, but not run sagas.
func NewStore(ctx context.Context, db *sql.DB, ob outbox.Store, cfg StoreConfig) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "herald_saga"
	}
	if !identRE.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("saga: bad table prefix %q", cfg.Prefix)
	}
	if db == nil {
		return nil, errors.New("saga: NewStore needs a database")
	}
	s := &Store{db: db, ob: ob, d: cfg.Dialect, prefix: cfg.Prefix}
	for _, q := range s.ddl() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("saga: create tables: %w", err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if s.d == Postgres {
		s.buildPostgres()
	}
	return s, nil
}

// migrate brings tables made by an earlier version up to date: it adds
// the attempt_base column (0: the first budget of attempts). Two
// processes may open one database at once; a column another added first
// is fine.
func (s *Store) migrate(ctx context.Context) error {
	if s.d == Postgres {
		_, err := s.db.ExecContext(ctx, s.q(`ALTER TABLE %s_instances ADD COLUMN IF NOT EXISTS attempt_base INTEGER NOT NULL DEFAULT 0`))
		if err != nil {
			return fmt.Errorf("saga: migrate: add attempt_base: %w", err)
		}
		return nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT attempt_base FROM %s_instances LIMIT 0`))
	if err == nil {
		return rows.Close()
	}
	if !strings.Contains(err.Error(), "attempt_base") {
		return fmt.Errorf("saga: migrate: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`ALTER TABLE %s_instances ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0`))
	if err != nil && !strings.Contains(err.Error(), "duplicate column") {
		return fmt.Errorf("saga: migrate: add attempt_base: %w", err)
	}
	return nil
}

func (s *Store) ddl() []string {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.d == Postgres {
		serial = "BIGSERIAL PRIMARY KEY"
	}
	idx := strings.ReplaceAll(s.prefix, ".", "_")
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_instances (id TEXT PRIMARY KEY, type TEXT NOT NULL,
			status TEXT NOT NULL, step INTEGER NOT NULL, attempt INTEGER NOT NULL, attempt_base INTEGER NOT NULL DEFAULT 0, backoff INTEGER NOT NULL,
			data TEXT NOT NULL, deadline BIGINT NOT NULL, saga_deadline BIGINT NOT NULL, due BIGINT NOT NULL,
			error TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`, s.prefix),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_instances_due ON %s_instances (due)`, idx, s.prefix),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_instances_status ON %s_instances (status, type)`, idx, s.prefix),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_history (seq %s, instance_id TEXT NOT NULL, version BIGINT NOT NULL,
			at BIGINT NOT NULL, input TEXT NOT NULL, event_id TEXT NOT NULL, status TEXT NOT NULL,
			step INTEGER NOT NULL, note TEXT NOT NULL, sent TEXT NOT NULL)`, s.prefix, serial),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_history_instance ON %s_history (instance_id, seq)`, idx, s.prefix),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_replies (event_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL,
			at BIGINT NOT NULL, outcome TEXT NOT NULL)`, s.prefix),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_requests (seq %s, instance_id TEXT NOT NULL, kind TEXT NOT NULL,
			reason TEXT NOT NULL, at BIGINT NOT NULL)`, s.prefix, serial),
	}
}

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() Dialect { return s.d }

// Prefix returns the prefix of the store's tables.
func (s *Store) Prefix() string { return s.prefix }

// q formats a query for the dialect: %s is the prefix, ? a placeholder.
func (s *Store) q(format string) string {
	q := strings.ReplaceAll(format, "%s", s.prefix)
	if s.d != Postgres {
		return q
	}
	return sqlbind.Numbered(q)
}

const instanceColumns = `id, type, status, step, attempt, attempt_base, backoff, data, deadline, saga_deadline, error, version, created_at, updated_at`

func scanInstance(row interface{ Scan(...any) error }) (Instance, error) {
	var in Instance
	var status, data string
	var backoff int
	var deadline, sagaDeadline, created, updated int64
	err := row.Scan(&in.ID, &in.Type, &status, &in.Step, &in.Attempt, &in.AttemptBase, &backoff, &data, &deadline, &sagaDeadline, &in.Error, &in.Version, &created, &updated)
	if err != nil {
		return Instance{}, err
	}
	in.Status, in.Backoff = Status(status), backoff != 0
	in.Deadline, in.SagaDeadline, in.Created, in.Updated = fromMillis(deadline), fromMillis(sagaDeadline), fromMillis(created), fromMillis(updated)
	if err := json.Unmarshal([]byte(data), &in.Data); err != nil {
		return Instance{}, fmt.Errorf("saga: instance %s: data: %w", in.ID, err)
	}
	return in, nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Get returns instance id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Instance, error) {
	in, err := scanInstance(s.db.QueryRowContext(ctx, s.q(`SELECT `+instanceColumns+` FROM %s_instances WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("saga: get %s: %w", id, err)
	}
	return in, nil
}

// Filter selects instances for List; zero fields select all.
type Filter struct {
	Status Status
	Type   string
	Limit  int // default 100
}

// List returns the instances that match f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Instance, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+instanceColumns+` FROM %s_instances
		WHERE (? = '' OR status = ?) AND (? = '' OR type = ?) ORDER BY created_at DESC, id LIMIT ?`),
		string(f.Status), string(f.Status), f.Type, f.Type, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("saga: list: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("saga: list: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Entry is one line of an instance's history: an input, and what it did.
type Entry struct {
	Seq     int64
	Version int64 // the instance's version after the entry
	At      time.Time
	Input   string // start, reply, result, timer, abort, retry
	EventID string // the reply's event id, if any
	Status  Status
	Step    int
	Note    string
	Sent    []string // ids of the commands written to the outbox
}

// History returns instance id's history, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, version, at, input, event_id, status, step, note, sent
		FROM %s_history WHERE instance_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("saga: history %s: %w", id, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		var status, sent string
		if err := rows.Scan(&e.Seq, &e.Version, &at, &e.Input, &e.EventID, &status, &e.Step, &e.Note, &sent); err != nil {
			return nil, fmt.Errorf("saga: history %s: %w", id, err)
		}
		e.At, e.Status = fromMillis(at), Status(status)
		if err := json.Unmarshal([]byte(sent), &e.Sent); err != nil {
			return nil, fmt.Errorf("saga: history %s: sent: %w", id, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// active returns the running and compensating instances.
func (s *Store) active(ctx context.Context) ([]Instance, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+instanceColumns+` FROM %s_instances WHERE status IN ('running', 'compensating')`))
	if err != nil {
		return nil, fmt.Errorf("saga: active instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("saga: active instances: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Due returns up to n instances whose timer is due at now.
func (s *Store) Due(ctx context.Context, now time.Time, n int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM %s_instances WHERE due > 0 AND due <= ? ORDER BY due LIMIT ?`), now.UnixMilli(), n)
	if err != nil {
		return nil, fmt.Errorf("saga: due timers: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("saga: due timers: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// create stores a new instance and its first commands in one transaction.
func (s *Store) create(ctx context.Context, tr Transition) error {
	return s.retryBusy(ctx, func() error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			in := tr.Instance
			data, err := json.Marshal(in.Data)
			if err != nil {
				return fmt.Errorf("saga: instance %s: data: %w", in.ID, err)
			}
			args := []any{in.ID, in.Type, string(in.Status), in.Step, in.Attempt, in.AttemptBase, b2i(in.Backoff), string(data), millis(in.Deadline),
				millis(in.SagaDeadline), in.Error, in.Version, millis(in.Created), millis(in.Created), millis(in.Due())}
			if s.d == Postgres {
				return s.createPostgres(ctx, tx, tr, args)
			}
			res, err := tx.ExecContext(ctx, s.q(instanceInsert), args...)
			if err != nil {
				return fmt.Errorf("saga: create %s: %w", in.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errors.Join(fmt.Errorf("%w: %q", ErrExists, in.ID), err)
			}
			return s.record(ctx, tx, tr, "start", "")
		})
	})
}

// advance applies f to instance id in one transaction, with its commands
// and history, retrying on a concurrent change. replyID, if set, is the
// id of the reply event behind the input: a reply seen before is ignored.
func (s *Store) advance(ctx context.Context, id, replyID, input string, f func(Instance) (Transition, error)) (Transition, error) {
	return s.advanceReq(ctx, id, replyID, input, 0, f)
}

// advanceReq is advance that also deletes operator request req (if not 0)
// in the same transaction.
func (s *Store) advanceReq(ctx context.Context, id, replyID, input string, req int64, f func(Instance) (Transition, error)) (Transition, error) {
	var tr Transition
	err := s.retryBusy(ctx, func() error {
		var err error
		tr, err = s.advanceOnce(ctx, id, replyID, input, req, f)
		return err
	})
	return tr, err
}

func (s *Store) advanceOnce(ctx context.Context, id, replyID, input string, req int64, f func(Instance) (Transition, error)) (Transition, error) {
	var tr Transition
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if req != 0 {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM %s_requests WHERE seq = ?`), req); err != nil {
				return fmt.Errorf("saga: request %d: %w", req, err)
			}
		}
		in, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		if tr, err = f(in); err != nil {
			return err
		}
		if s.d == Postgres {
			return s.writePostgres(ctx, tx, in.Version, tr, replyID, input)
		}
		if !tr.Ignored {
			if err := s.update(ctx, tx, in.Version, tr.Instance); err != nil {
				return err
			}
		}
		// The reply is recorded last, with what it did, in the same
		// transaction: a reply seen before conflicts and rolls all back.
		if replyID != "" {
			fresh, err := s.markReply(ctx, tx, replyID, id, tr.Note)
			if err != nil {
				return err
			}
			if !fresh {
				return errDuplicate
			}
		}
		if tr.Ignored && input == "timer" {
			return nil // not-yet-due timers are not history
		}
		return s.record(ctx, tx, tr, input, replyID)
	})
	if errors.Is(err, errDuplicate) {
		return Transition{Ignored: true, Note: "ignored: duplicate reply " + replyID}, nil
	}
	return tr, err
}

func (s *Store) load(ctx context.Context, tx *sql.Tx, id string) (Instance, error) {
	q := `SELECT ` + instanceColumns + ` FROM %s_instances WHERE id = ?`
	if s.d == Postgres {
		q += " FOR UPDATE"
	}
	in, err := scanInstance(tx.QueryRowContext(ctx, s.q(q), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("saga: load %s: %w", id, err)
	}
	return in, nil
}

// update stores in if the row is still at version from.
func (s *Store) update(ctx context.Context, tx *sql.Tx, from int64, in Instance) error {
	data, err := json.Marshal(in.Data)
	if err != nil {
		return fmt.Errorf("saga: instance %s: data: %w", in.ID, err)
	}
	res, err := tx.ExecContext(ctx, s.q(instanceUpdate),
		string(in.Status), in.Step, in.Attempt, in.AttemptBase, b2i(in.Backoff), string(data), millis(in.Deadline), millis(in.SagaDeadline),
		millis(in.Due()), in.Error, in.Version, millis(in.Updated), in.ID, from)
	if err != nil {
		return fmt.Errorf("saga: update %s: %w", in.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(errConflict, err)
	}
	return nil
}

// Request files an operator request (Abort or Retry) for instance id; a
// runner of the instance's type carries it out (Runner.Run), and the
// history tells what it did. It fails with ErrNotFound for an unknown id.
func (s *Store) Request(ctx context.Context, id string, in Input) error {
	var kind, reason string
	switch in := in.(type) {
	case Abort:
		kind, reason = "abort", in.Reason
	case Retry:
		kind = "retry"
	default:
		return fmt.Errorf("saga: request %T: want Abort or Retry", in)
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO %s_requests (instance_id, kind, reason, at) VALUES (?, ?, ?, ?)`),
		id, kind, reason, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("saga: request %s of %s: %w", kind, id, err)
	}
	return nil
}

type request struct {
	seq  int64
	id   string
	in   Input
	kind string
}

// requests returns the pending operator requests, oldest first.
func (s *Store) requests(ctx context.Context) ([]request, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, instance_id, kind, reason FROM %s_requests ORDER BY seq LIMIT 100`))
	if err != nil {
		return nil, fmt.Errorf("saga: requests: %w", err)
	}
	defer rows.Close()
	var out []request
	for rows.Next() {
		var r request
		var reason string
		if err := rows.Scan(&r.seq, &r.id, &r.kind, &reason); err != nil {
			return nil, fmt.Errorf("saga: requests: %w", err)
		}
		r.in = Input(Retry{})
		if r.kind == "abort" {
			r.in = Abort{Reason: reason}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// On PostgreSQL every statement is a round trip, so a transition's
// writes other than the outbox's are one statement: data-modifying CTEs,
// each run once, that see the same snapshot. The counts they return say
// whether the UPDATE found the version and the reply was new; if not,
// the caller rolls the whole transaction back, as with separate
// statements.

const (
	instanceInsert = `INSERT INTO %s_instances (` + instanceColumns + `, due)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	historyInsert = `INSERT INTO %s_history (instance_id, version, at, input, event_id, status, step, note, sent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	replyInsert = `INSERT INTO %s_replies (event_id, instance_id, at, outcome) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`
	instanceUpdate = `UPDATE %s_instances SET status = ?, step = ?, attempt = ?, attempt_base = ?, backoff = ?, data = ?,
		deadline = ?, saga_deadline = ?, due = ?, error = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?`
)

// The parts of a transition's statement on PostgreSQL.
const (
	pgUpdate = 1 << iota
	pgReply
	pgHistory
)

func (s *Store) buildPostgres() {
	for i := range s.pgWrite {
		var ctes []string
		count := [2]string{"1", "1"} // rows updated, replies recorded
		if i&pgUpdate != 0 {
			ctes = append(ctes, `u AS (`+instanceUpdate+` RETURNING 1)`)
			count[0] = "(SELECT COUNT(*) FROM u)"
		}
		if i&pgReply != 0 {
			ctes = append(ctes, `r AS (`+replyInsert+` RETURNING 1)`)
			count[1] = "(SELECT COUNT(*) FROM r)"
		}
		if i&pgHistory != 0 {
			ctes = append(ctes, `h AS (`+historyInsert+`)`)
		}
		if len(ctes) > 0 {
			s.pgWrite[i] = s.q(`WITH ` + strings.Join(ctes, ", ") + ` SELECT ` + count[0] + `, ` + count[1])
		}
	}
	s.pgCreate = s.q(`WITH i AS (` + instanceInsert + ` RETURNING 1), h AS (` + historyInsert + `) SELECT COUNT(*) FROM i`)
}

// createPostgres stores a new instance (insert, args) and its history
// entry in one statement, and its commands.
func (s *Store) createPostgres(ctx context.Context, tx *sql.Tx, tr Transition, args []any) error {
	in := tr.Instance
	sent, err := s.writeCommands(ctx, tx, tr)
	if err != nil {
		return err
	}
	args = append(args, in.ID, in.Version, time.Now().UnixMilli(), "start", "", string(in.Status), in.Step, tr.Note, sent)
	var n int
	if err := tx.QueryRowContext(ctx, s.pgCreate, args...).Scan(&n); err != nil {
		return fmt.Errorf("saga: create %s: %w", in.ID, err)
	}
	if n != 1 {
		return fmt.Errorf("%w: %q", ErrExists, in.ID)
	}
	return nil
}

// writePostgres stores transition tr from version from: its commands,
// then in one statement the instance (unless tr is ignored), the reply
// (if replyID is set) and the history entry (unless tr is an ignored
// timer).
func (s *Store) writePostgres(ctx context.Context, tx *sql.Tx, from int64, tr Transition, replyID, input string) error {
	in := tr.Instance
	var (
		parts int
		args  = make([]any, 0, 27)
		now   = time.Now().UnixMilli()
	)
	if !tr.Ignored {
		data, err := json.Marshal(in.Data)
		if err != nil {
			return fmt.Errorf("saga: instance %s: data: %w", in.ID, err)
		}
		parts |= pgUpdate
		args = append(args, string(in.Status), in.Step, in.Attempt, in.AttemptBase, b2i(in.Backoff), string(data), millis(in.Deadline),
			millis(in.SagaDeadline), millis(in.Due()), in.Error, in.Version, millis(in.Updated), in.ID, from)
	}
	if replyID != "" {
		parts |= pgReply
		args = append(args, replyID, in.ID, now, tr.Note)
	}
	if !tr.Ignored || input != "timer" {
		sent, err := s.writeCommands(ctx, tx, tr)
		if err != nil {
			return err
		}
		parts |= pgHistory
		args = append(args, in.ID, in.Version, now, input, replyID, string(in.Status), in.Step, tr.Note, sent)
	}
	if parts == 0 {
		return nil
	}
	var updated, fresh int
	if err := tx.QueryRowContext(ctx, s.pgWrite[parts], args...).Scan(&updated, &fresh); err != nil {
		return fmt.Errorf("saga: store a transition of %s: %w", in.ID, err)
	}
	switch {
	case updated != 1:
		return errConflict
	case fresh != 1:
		return errDuplicate
	}
	return nil
}

// writeCommands writes tr's commands to the outbox and returns their ids,
// as JSON for the history.
func (s *Store) writeCommands(ctx context.Context, tx *sql.Tx, tr Transition) (string, error) {
	sent := make([]string, 0, len(tr.Commands))
	if len(tr.Commands) > 0 && s.ob == nil {
		return "", errors.New("saga: the store has no outbox")
	}
	for _, c := range tr.Commands {
		if err := outbox.Write(ctx, tx, s.ob, c.Topic, c.Event); err != nil {
			return "", fmt.Errorf("saga: instance %s: %w", tr.Instance.ID, err)
		}
		sent = append(sent, c.Event.ID)
	}
	js, _ := json.Marshal(sent) // a []string always marshals
	return string(js), nil
}

// record writes tr's commands to the outbox and its history entry.
func (s *Store) record(ctx context.Context, tx *sql.Tx, tr Transition, input, eventID string) error {
	sent, err := s.writeCommands(ctx, tx, tr)
	if err != nil {
		return err
	}
	in := tr.Instance
	_, err = tx.ExecContext(ctx, s.q(historyInsert),
		in.ID, in.Version, time.Now().UnixMilli(), input, eventID, string(in.Status), in.Step, tr.Note, sent)
	if err != nil {
		return fmt.Errorf("saga: history of %s: %w", in.ID, err)
	}
	return nil
}

// markReply records reply id and its outcome; fresh is false if it was
// recorded before.
func (s *Store) markReply(ctx context.Context, tx *sql.Tx, id, instance, outcome string) (fresh bool, err error) {
	res, err := tx.ExecContext(ctx, s.q(replyInsert), id, instance, time.Now().UnixMilli(), outcome)
	if err != nil {
		return false, fmt.Errorf("saga: record reply %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// orphan records a reply that names no instance, and reports whether it
// was new.
func (s *Store) orphan(ctx context.Context, replyID, instance string) (bool, error) {
	var fresh bool
	err := s.retryBusy(ctx, func() error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			fresh, err = s.markReply(ctx, tx, replyID, instance, "ignored: no such instance")
			return err
		})
	})
	return fresh, err
}

// ReplyOutcome returns what was done with reply event id: "" if it was
// never seen.
func (s *Store) ReplyOutcome(ctx context.Context, id string) (string, error) {
	var out string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT outcome FROM %s_replies WHERE event_id = ?`), id).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return out, err
}

func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("saga: begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("saga: commit: %w", err)
	}
	return nil
}

// retryBusy runs f again while it fails with a concurrent change (or, on
// SQLite, a busy database), up to a limit.
func (s *Store) retryBusy(ctx context.Context, f func() error) error {
	wait := time.Millisecond
	for i := 0; ; i++ {
		err := f()
		if err == nil || i == 100 || !(errors.Is(err, errConflict) || isBusy(err)) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

func isBusy(err error) bool {
	m := err.Error()
	return strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "database is locked") ||
		strings.Contains(m, "could not serialize") || strings.Contains(m, "deadlock detected")
}
