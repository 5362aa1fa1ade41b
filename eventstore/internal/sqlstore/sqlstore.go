package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Config configures a Store.
type Config struct {
	// Prefix names the tables: Prefix (events), Prefix_streams,
	// Prefix_head, Prefix_snapshots.
	Prefix string
	// MaxEventBytes bounds an event's data; default 1 MiB.
	MaxEventBytes int
	// Hooks run in every append's transaction (see eventstore.TxHook).
	Hooks []eventstore.TxHook
	// Naive gives positions from a sequence without the head lock: the
	// high-water-mark bug, for tests that prove they catch it.
	Naive bool
	// MaxBounded is how many streams with bounds ReadAll applies in Go
	// (0: DefaultMaxBounded); with more, it filters in SQL. Negative:
	// always in SQL. Tests lower it to run the SQL form.
	MaxBounded int
}

// DefaultMaxBounded is the default Config.MaxBounded.
const DefaultMaxBounded = 1000

// Store is the SQL event store.
//
// An append takes its positions from the head row (UPDATE ... SET position
// = position + n) after its stream checks, and holds that row's lock to its
// commit; so appends that write events become visible in position order,
// every position a reader sees is final (nothing can commit later below
// it), and positions have no holes (a rolled-back append gives its
// positions back).
//
// What keeps that fast on PostgreSQL is the dialect's FastAppend (used for
// one-stream appends of a store without hooks): the whole append is one
// pipelined round trip, and its transaction commits asynchronously, so the
// head row is held for microseconds instead of across a WAL flush; a
// durable flush right after the commit (outside the lock, shared by
// concurrent appends like any group commit) comes before the append
// returns. On SQLite, FastAppend runs a one-event append as three
// prepared statements in one transaction, under the writer mutex.
// Multi-stream appends and stores with hooks take the general
// path: statement by statement in a database/sql transaction with an
// ordinary (synchronous) commit.
//
// Stores of an earlier version inserted events without positions and
// numbered them after the commit (the dialect's Sequence). New numbers
// any such rows left behind, and reads that meet one number it.
type Store struct {
	db  *sql.DB
	d   *Dialect
	cfg Config
	q   queries
	// fast runs one-stream appends (see Dialect.FastAppend); nil: the
	// general path only.
	fast func(ctx context.Context, db *sql.DB, in FastAppend) (FastResult, error)
	// durable is a position up to which every event is known durable
	// (see Dialect.Durable): positions are given in commit order, so an
	// event durable at p makes every event below p durable too.
	durable atomic.Int64

	// writer is held across an append's transaction when the dialect
	// has OneWriter. Lock order: writer, then mu.
	writer sync.Mutex

	mu struct {
		sync.Mutex
		wake chan struct{} // closed and replaced at every commit
	}
}

var _ eventstore.Store = (*Store)(nil)

// New creates the tables if needed and returns the store.
func New(ctx context.Context, db *sql.DB, d *Dialect, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "herald_events"
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 1 << 20
	}
	if cfg.MaxBounded == 0 {
		cfg.MaxBounded = DefaultMaxBounded
	}
	if err := CheckIdent(cfg.Prefix); err != nil {
		return nil, err
	}
	for _, q := range d.DDL(cfg.Prefix) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("eventstore: create tables %s on %s: %w", cfg.Prefix, d.Name, err)
		}
	}
	s := &Store{db: db, d: d, cfg: cfg, q: newQueries(d, cfg.Prefix)}
	if d.FastAppend != nil && !cfg.Naive && len(cfg.Hooks) == 0 {
		s.fast = d.FastAppend(cfg.Prefix)
	}
	s.mu.wake = make(chan struct{})
	// Number the events an earlier version left without positions.
	if err := s.sequence(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB returns the store's database.
func (s *Store) DB() *sql.DB { return s.db }

// Notify returns a channel closed at the next commit of an append made
// through this Store value (other processes' appends are not seen).
func (s *Store) Notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.wake
}

func (s *Store) wakeAll() {
	s.mu.Lock()
	close(s.mu.wake)
	s.mu.wake = make(chan struct{})
	s.mu.Unlock()
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, evs ...event.Event) (eventstore.AppendResult, error) {
	res, err := s.AppendMulti(ctx, eventstore.StreamAppend{Stream: stream, Expected: expected, Events: evs})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti implements eventstore.Store.
func (s *Store) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	if err := s.validate(appends); err != nil {
		return nil, err
	}
	if s.d.OneWriter {
		s.writer.Lock()
		defer s.writer.Unlock()
	}
	if s.fast != nil && len(appends) == 1 {
		res, err := s.appendFast(ctx, appends[0])
		if !errors.Is(err, ErrSlowPath) {
			if err != nil {
				return nil, err
			}
			return []eventstore.AppendResult{res}, nil
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("eventstore: append: begin: %w", err)
	}
	results, wrote, err := s.appendTx(ctx, tx, appends)
	if err != nil {
		return nil, errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("eventstore: append: commit (the append may or may not have happened; retrying with the same event ids is safe): %w", err)
	}
	if missingPositions(results) { // a repeat of an append of an earlier version
		if err := s.fillPositions(ctx, results); err != nil {
			return nil, fmt.Errorf("eventstore: append committed, but its positions are not known yet (retry with the same event ids to get them): %w", err)
		}
	}
	if wrote {
		s.wakeAll()
	}
	return results, nil
}

func missingPositions(results []eventstore.AppendResult) bool {
	for _, r := range results {
		if r.LastPosition == 0 {
			return true
		}
	}
	return false
}

// sequence gives positions to committed events that have none.
func (s *Store) sequence(ctx context.Context) error {
	if s.q.sequence == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.sequence); err != nil {
		return fmt.Errorf("eventstore: sequence: %w", err)
	}
	return nil
}

// fillPositions sequences, then reads the positions of the appended
// events into results.
func (s *Store) fillPositions(ctx context.Context, results []eventstore.AppendResult) error {
	if err := s.sequence(ctx); err != nil {
		return err
	}
	for i, r := range results {
		if r.LastPosition != 0 {
			continue
		}
		var first, last sql.NullInt64
		if err := s.db.QueryRowContext(ctx, s.q.positionsOf, r.Stream, r.FirstVersion, r.LastVersion).Scan(&first, &last); err != nil {
			return err
		}
		if !first.Valid || !last.Valid {
			return fmt.Errorf("stream %q versions %d-%d have no positions after sequencing", r.Stream, r.FirstVersion, r.LastVersion)
		}
		results[i].FirstPosition, results[i].LastPosition = first.Int64, last.Int64
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("eventstore: rollback: %w", err)
	}
	return nil
}

func (s *Store) validate(appends []eventstore.StreamAppend) error {
	if len(appends) == 0 {
		return errors.New("eventstore: append: no streams")
	}
	var errs []error
	seen := map[string]bool{}
	for _, a := range appends {
		if err := eventstore.CheckStream(a.Stream); err != nil {
			errs = append(errs, err)
		}
		if seen[a.Stream] {
			errs = append(errs, fmt.Errorf("eventstore: stream %q appears twice in one append", a.Stream))
		}
		seen[a.Stream] = true
		if len(a.Events) == 0 {
			errs = append(errs, fmt.Errorf("eventstore: stream %q: no events to append", a.Stream))
		}
		ids := map[string]bool{}
		for _, e := range a.Events {
			errs = append(errs, s.validateEvent(a.Stream, e, ids))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) validateEvent(stream string, e event.Event, ids map[string]bool) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("eventstore: stream %q: event %q: %w", stream, e.ID, err)
	}
	if len(e.Data) > s.cfg.MaxEventBytes {
		return fmt.Errorf("%w: stream %q: event %q: %d bytes, limit %d", eventstore.ErrTooLarge, stream, e.ID, len(e.Data), s.cfg.MaxEventBytes)
	}
	if ids[e.ID] {
		return fmt.Errorf("eventstore: stream %q: event id %q twice in one append", stream, e.ID)
	}
	ids[e.ID] = true
	return nil
}

// streamState is a stream's row, locked for the append.
type streamState struct {
	version int64
	deleted int // 0 live, 1 soft-deleted, 2 hard-deleted (tombstone)
}

// appendTx runs an append in tx. Stream rows are locked in name order and
// the head row last (unless the dialect locks it first), so two appends
// never wait on each other in a cycle.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, bool, error) {
	if s.d.LockFirst {
		if _, err := tx.ExecContext(ctx, s.q.lockHead); err != nil {
			return nil, false, fmt.Errorf("eventstore: append: lock: %w", err)
		}
	}
	order := make([]int, len(appends))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(appends[a].Stream, appends[b].Stream) })
	results := make([]eventstore.AppendResult, len(appends))
	states := make([]streamState, len(appends))
	total := 0
	for _, i := range order {
		st, res, err := s.prepare(ctx, tx, appends[i])
		if err != nil {
			return nil, false, err
		}
		states[i], results[i] = st, res
		if !res.Duplicate {
			total += len(appends[i].Events)
		}
	}
	if total == 0 {
		return results, false, nil
	}
	recs, err := s.write(ctx, tx, appends, states, results, total)
	if err != nil {
		return nil, false, err
	}
	for _, h := range s.cfg.Hooks {
		if err := h(ctx, tx, recs); err != nil {
			return nil, false, fmt.Errorf("eventstore: append: hook: %w", err)
		}
	}
	return results, true, nil
}

// prepare locks a stream's row, answers a repeated append from what it
// wrote, and checks the expected version.
func (s *Store) prepare(ctx context.Context, tx *sql.Tx, a eventstore.StreamAppend) (streamState, eventstore.AppendResult, error) {
	res := eventstore.AppendResult{Stream: a.Stream}
	if _, err := tx.ExecContext(ctx, s.q.ensureStream, a.Stream); err != nil {
		return streamState{}, res, fmt.Errorf("eventstore: append to %q: %w", a.Stream, err)
	}
	var st streamState
	if err := tx.QueryRowContext(ctx, s.q.lockStream, a.Stream).Scan(&st.version, &st.deleted); err != nil {
		return st, res, fmt.Errorf("eventstore: append to %q: %w", a.Stream, err)
	}
	if st.deleted == 2 {
		return st, res, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, a.Stream)
	}
	if st.version >= 0 {
		dup, ok, err := s.duplicate(ctx, tx, a)
		if err != nil || ok {
			return st, dup, err
		}
	}
	if !a.Expected.Check(st.version) {
		return st, res, &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: st.version}
	}
	return st, res, nil
}

// duplicate looks the append's event ids up in the stream.
func (s *Store) duplicate(ctx context.Context, tx *sql.Tx, a eventstore.StreamAppend) (eventstore.AppendResult, bool, error) {
	res := eventstore.AppendResult{Stream: a.Stream, FirstVersion: -1}
	args := []any{a.Stream}
	for _, e := range a.Events {
		args = append(args, e.ID)
	}
	q := s.d.Rebind(fmt.Sprintf(s.q.findIDs, placeholders(len(a.Events))))
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return res, false, fmt.Errorf("eventstore: append to %q: look up ids: %w", a.Stream, err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var v int64
		var np sql.NullInt64
		if err := rows.Scan(&v, &np); err != nil {
			return res, false, err
		}
		p := np.Int64 // 0 if not sequenced yet: filled after the commit
		if found == 0 {
			res.FirstVersion, res.FirstPosition = v, p
		}
		res.LastVersion, res.LastPosition = v, p
		found++
	}
	if err := rows.Err(); err != nil {
		return res, false, err
	}
	switch found {
	case 0:
		return res, false, nil
	case len(a.Events):
		res.Duplicate = true
		if res.FirstPosition == 0 || res.LastPosition == 0 {
			// Not sequenced yet: filled after the commit.
			res.FirstPosition, res.LastPosition = 0, 0
		}
		return res, true, nil
	}
	return res, false, fmt.Errorf("%w: stream %q: %d of %d", eventstore.ErrPartialDuplicate, a.Stream, found, len(a.Events))
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// write takes positions (under the head row's lock, held to the commit:
// that is what makes position order commit order), inserts the events and
// moves the streams' versions.
func (s *Store) write(ctx context.Context, tx *sql.Tx, appends []eventstore.StreamAppend, states []streamState,
	results []eventstore.AppendResult, total int) ([]eventstore.Recorded, error) {
	pos, err := s.positions(ctx, tx, total)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	recs := make([]eventstore.Recorded, 0, total)
	k := 0
	for i, a := range appends {
		if results[i].Duplicate {
			continue
		}
		first := len(recs)
		for j, e := range a.Events {
			recs = append(recs, eventstore.Recorded{Event: e, Stream: a.Stream,
				Version: states[i].version + 1 + int64(j), Position: pos[k], Recorded: now})
			k++
		}
		last := len(recs) - 1
		results[i] = eventstore.AppendResult{Stream: a.Stream,
			FirstVersion: recs[first].Version, LastVersion: recs[last].Version,
			FirstPosition: recs[first].Position, LastPosition: recs[last].Position}
		if _, err := tx.ExecContext(ctx, s.q.setVersion, recs[last].Version, a.Stream); err != nil {
			return nil, fmt.Errorf("eventstore: append to %q: %w", a.Stream, err)
		}
	}
	if err := s.insert(ctx, tx, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

func (s *Store) positions(ctx context.Context, tx *sql.Tx, n int) ([]int64, error) {
	out := make([]int64, n)
	if s.cfg.Naive {
		for i := range out {
			if err := tx.QueryRowContext(ctx, s.q.naivePos).Scan(&out[i]); err != nil {
				return nil, fmt.Errorf("eventstore: append: position: %w", err)
			}
		}
		return out, nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, s.q.takeHead, n).Scan(&last); err != nil {
		return nil, fmt.Errorf("eventstore: append: position: %w", err)
	}
	for i := range out {
		out[i] = last - int64(n) + 1 + int64(i)
	}
	return out, nil
}

const insertChunk = 500

func (s *Store) insert(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
	for len(recs) > 0 {
		n := min(len(recs), insertChunk)
		args := make([]any, 0, n*8)
		const row = "(?,?,?,?,?,?,?,?),"
		for _, r := range recs[:n] {
			args = append(args, r.Position, r.Stream, r.Version, r.ID, r.Type, r.Recorded.UnixMicro(), encodeHeaders(r.Event), r.Data)
		}
		vals := strings.TrimSuffix(strings.Repeat(row, n), ",")
		if _, err := tx.ExecContext(ctx, s.d.Rebind(s.q.insertEvents+vals), args...); err != nil {
			return fmt.Errorf("eventstore: append: insert events: %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

// appendFast runs a one-stream append through the dialect's FastAppend.
// An append that repeats ids already in the stream goes to the general
// path (ErrSlowPath), which answers with the original result.
func (s *Store) appendFast(ctx context.Context, a eventstore.StreamAppend) (eventstore.AppendResult, error) {
	n := len(a.Events)
	in := FastAppend{Stream: a.Stream, Expected: int64(a.Expected), IDs: make([]string, n), Types: make([]string, n),
		Headers: make([]string, n), Data: make([][]byte, n), Recorded: time.Now().UnixMicro()}
	for i, e := range a.Events {
		in.IDs[i], in.Types[i], in.Headers[i], in.Data[i] = e.ID, e.Type, encodeHeaders(e), e.Data
	}
	res := eventstore.AppendResult{Stream: a.Stream}
	out, err := s.fast(ctx, s.db, in)
	switch {
	case err != nil:
		return res, err
	case out.Deleted == 2:
		return res, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, a.Stream)
	case out.Duplicate:
		return res, ErrSlowPath
	case !out.Wrote:
		return res, &eventstore.ConflictError{Stream: a.Stream, Expected: a.Expected, Actual: out.Version}
	}
	res.FirstVersion, res.LastVersion = out.Version+1, out.Version+int64(n)
	res.FirstPosition, res.LastPosition = out.LastPosition-int64(n)+1, out.LastPosition
	s.markDurable(res.LastPosition)
	s.wakeAll()
	return res, nil
}

// markDurable records that every event up to position p is durable.
func (s *Store) markDurable(p int64) {
	for {
		d := s.durable.Load()
		if p <= d || s.durable.CompareAndSwap(d, p) {
			return
		}
	}
}
