package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var p int64
	if err := s.db.QueryRowContext(ctx, s.q.head).Scan(&p); err != nil {
		return 0, fmt.Errorf("eventstore: head: %w", err)
	}
	return p, nil
}

// Stream implements eventstore.Store.
func (s *Store) Stream(ctx context.Context, stream string) (eventstore.StreamInfo, error) {
	info := eventstore.StreamInfo{Stream: stream, Version: eventstore.NoVersion}
	var deleted int
	var ageMS int64
	err := s.db.QueryRowContext(ctx, s.q.streamInfo, stream).Scan(&info.Version, &deleted,
		&info.Meta.MaxCount, &ageMS, &info.Meta.TruncateBefore)
	if errors.Is(err, sql.ErrNoRows) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("eventstore: stream %q: %w", stream, err)
	}
	info.Meta.MaxAge = time.Duration(ageMS) * time.Millisecond
	info.Deleted = deleted == 1
	if deleted == 2 {
		return info, fmt.Errorf("%w: %q", eventstore.ErrStreamDeleted, stream)
	}
	return info, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, o eventstore.ReadOptions) ([]eventstore.Recorded, error) {
	info, err := s.Stream(ctx, stream)
	if err != nil || info.Version < 0 {
		return nil, err
	}
	lo, hi := visible(info)
	if o.Until > 0 && o.Until-1 < hi {
		hi = o.Until - 1
	}
	from, to := lo, hi
	q := s.q.readFwd
	if o.Direction == eventstore.Backward {
		q = s.q.readBwd
		if o.From >= 0 && o.From < to {
			to = o.From
		}
	} else if o.From > from {
		from = o.From
	}
	minAt := int64(math.MinInt64)
	if info.Meta.MaxAge > 0 {
		minAt = time.Now().Add(-info.Meta.MaxAge).UnixMicro()
	}
	maxAt := int64(math.MaxInt64)
	if !o.Before.IsZero() {
		maxAt = o.Before.UnixMicro()
	}
	limit := int64(math.MaxInt32)
	if o.Max > 0 {
		limit = int64(o.Max)
	}
	args := []any{stream, from, to, minAt, maxAt, limit}
	for attempt := 0; ; attempt++ {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("eventstore: read %q: %w", stream, err)
		}
		recs, err := scanEvents(rows, min(limit, to-from+1))
		if !errors.Is(err, errUnsequenced) || attempt > 0 {
			return recs, err
		}
		if err := s.sequence(ctx); err != nil {
			return nil, err
		}
	}
}

// errUnsequenced: a read found a committed event without a position yet.
var errUnsequenced = errors.New("eventstore: event not sequenced yet")

// visible returns the range of versions the stream's bounds leave.
func visible(info eventstore.StreamInfo) (lo, hi int64) {
	lo, hi = info.Meta.TruncateBefore, info.Version
	if n := info.Meta.MaxCount; n > 0 && hi-n+1 > lo {
		lo = hi - n + 1
	}
	return lo, hi
}

// ReadAll implements eventstore.Store.
//
// Streams' bounds (max count, max age, truncation; a soft delete
// truncates) hide from $all what they hide from ReadStream (see visible).
// Usually few streams have bounds, so ReadAll reads those streams' rows
// first (through the partial index on them), then a plain position range
// of events, and drops in Go the events the bounds hide: about the cost
// of the range scan alone. With more than Config.MaxBounded bounded
// streams it filters in SQL instead (readAll's subquery per event).
//
// Bounds first, then events, in two statements: a bound set between
// them is not applied to this batch, which is then exactly what a read
// made just before the bound was set would have returned (the next batch
// applies it). Events appended between the two statements are shown, as
// they should be: an append only adds versions above the stream version
// that was read, which no bound read with it hides (truncate_before and
// max_count leave every version above it; max_age keeps new events).
//
// A batch holds up to max visible events: when the bounds hide events of
// a full range, ReadAll reads on from the last one, so a short (or
// empty) batch still means the end of $all, as callers expect.
func (s *Store) ReadAll(ctx context.Context, after int64, max int) ([]eventstore.Recorded, error) {
	hint := int64(1024) // no max: grow as needed rather than allocate the cap up front
	if max <= 0 {
		max = math.MaxInt32
	} else {
		hint = int64(max)
	}
	now := time.Now().UnixMicro()
	bs, inGo, err := s.bounds(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read $all after %d: %w", after, err)
	}
	var recs []eventstore.Recorded
	if inGo {
		recs, err = s.readAllInGo(ctx, after, max, hint, bs)
	} else {
		var rows *sql.Rows
		if rows, err = s.db.QueryContext(ctx, s.q.readAll, after, now, max); err == nil {
			recs, _, _, err = scanInto(rows, newRecs(hint), nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read $all after %d: %w", after, err)
	}
	if len(recs) == 0 || s.q.durable == "" || recs[len(recs)-1].Position <= s.durable.Load() {
		return recs, nil
	}
	// What this reader hands out, it must never take back: wait until
	// the commits it saw are durable (see Dialect.Durable).
	var head int64
	var flushed bool
	if err := s.db.QueryRowContext(ctx, s.q.durable).Scan(&head, &flushed); err != nil {
		return nil, fmt.Errorf("eventstore: read $all after %d: wait for durability: %w", after, err)
	}
	s.markDurable(head)
	return recs, nil
}

// readAllInGo reads up to max events after position after that bs leaves
// visible, range by range until it has max of them or reaches the end.
func (s *Store) readAllInGo(ctx context.Context, after int64, max int, hint int64, bs boundSet) ([]eventstore.Recorded, error) {
	out := newRecs(hint)
	for {
		rows, err := s.db.QueryContext(ctx, s.q.readAllPlain, after, max)
		if err != nil {
			return nil, err
		}
		var n int
		if out, n, after, err = scanInto(rows, out, bs); err != nil {
			return nil, err
		}
		if len(out) >= max || n < max { // full, or the end of $all
			return out[:min(len(out), max)], nil
		}
	}
}

// bound is what a stream's bounds leave visible: versions from lo on,
// recorded at or after minAt (unix µs).
type bound struct{ lo, minAt int64 }

// boundSet maps the streams that have bounds to them.
type boundSet map[string]bound

// keep reports whether the bounds leave an event visible.
func (bs boundSet) keep(stream string, version, at int64) bool {
	if len(bs) == 0 {
		return true
	}
	b, ok := bs[stream]
	return !ok || (version >= b.lo && at >= b.minAt)
}

// bounds reads the streams that have bounds, as of now (unix µs). inGo
// is false when there are more than Config.MaxBounded of them: then
// ReadAll filters in SQL.
func (s *Store) bounds(ctx context.Context, now int64) (bs boundSet, inGo bool, err error) {
	if s.cfg.MaxBounded < 0 {
		return nil, false, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.bounded, s.cfg.MaxBounded+1)
	if err != nil {
		return nil, false, fmt.Errorf("bounded streams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var info eventstore.StreamInfo
		var ageMS int64
		if err := rows.Scan(&info.Stream, &info.Version, &info.Meta.MaxCount, &ageMS, &info.Meta.TruncateBefore); err != nil {
			return nil, false, fmt.Errorf("bounded streams: %w", err)
		}
		if len(bs) == s.cfg.MaxBounded {
			return nil, false, nil
		}
		b := bound{minAt: math.MinInt64}
		b.lo, _ = visible(info)
		if ageMS > 0 {
			b.minAt = now - ageMS*1000
		}
		if bs == nil {
			bs = boundSet{}
		}
		bs[info.Stream] = b
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("bounded streams: %w", err)
	}
	return bs, true, nil
}

// newRecs returns an empty result sized for hint events, capped so that a
// large bound allocates nothing up front.
func newRecs(hint int64) []eventstore.Recorded {
	return make([]eventstore.Recorded, 0, max(0, min(hint, 1<<14)))
}

// scanEvents reads event rows; hint is how many there will likely be
// (see newRecs).
func scanEvents(rows *sql.Rows, hint int64) ([]eventstore.Recorded, error) {
	out, _, _, err := scanInto(rows, newRecs(hint), nil)
	return out, err
}

// scanInto appends the event rows that bs keeps (bs may be nil) to out;
// it returns how many rows it read and the position of the last one.
func scanInto(rows *sql.Rows, out []eventstore.Recorded, bs boundSet) (_ []eventstore.Recorded, n int, last int64, _ error) {
	defer rows.Close()
	var hs []event.Header    // reused: decodeEvent's scratch
	var id, typ sql.RawBytes // reused; in the headers too, only errors name the id
	// The scan targets live across rows: Scan's pointers move them to the
	// heap, once here rather than once a row. Each Scan sets the string
	// and bytes anew (database/sql copies), so what a row's event holds
	// is its own.
	var (
		stream, headers string
		version, at     int64
		pos             sql.NullInt64
		data            []byte
	)
	for rows.Next() {
		if err := rows.Scan(&pos, &stream, &version, &id, &typ, &at, &headers, &data); err != nil {
			return nil, n, last, fmt.Errorf("eventstore: scan: %w", err)
		}
		if !pos.Valid {
			return nil, n, last, errUnsequenced
		}
		n++
		last = pos.Int64
		if !bs.keep(stream, version, at) {
			continue
		}
		e, err := decodeEvent(stream, headers, data, &hs)
		if err != nil {
			return nil, n, last, fmt.Errorf("eventstore: event at position %d (%s): %w", pos.Int64, id, err)
		}
		out = append(out, eventstore.Recorded{Event: e, Stream: stream, Version: version, Position: pos.Int64,
			Recorded: time.UnixMicro(at).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, n, last, fmt.Errorf("eventstore: scan: %w", err)
	}
	return out, n, last, nil
}

// encodeHeaders stores an event's attributes (its CloudEvents Kafka
// binary-binding headers) as one text value of length-prefixed strings,
// key then value, back to back:
//
//	<len(k)>:<k><len(v)>:<v>...   e.g. 5:ce_id3:abc7:ce_type1:x
//
// Lengths are decimal byte counts. Part of the stored format; do not
// change.
func encodeHeaders(e event.Event) string {
	b := make([]byte, 0, 256)
	for k, v := range e.Attributes {
		for _, s := range [2]string{k, v} {
			b = strconv.AppendInt(b, int64(len(s)), 10)
			b = append(b, ':')
			b = append(b, s...)
		}
	}
	return string(b)
}

// decodeHeaders reads what encodeHeaders wrote, appending to hs. The
// keys and values are substrings of s: no copies.
func decodeHeaders(s string, hs []event.Header) ([]event.Header, error) {
	for s != "" {
		k, rest, err := cutString(s)
		if err != nil {
			return hs, err
		}
		v, rest, err := cutString(rest)
		if err != nil {
			return hs, err
		}
		hs = append(hs, event.Header{Key: k, Value: v})
		s = rest
	}
	return hs, nil
}

// cutString cuts one <len>:<bytes> off s.
func cutString(s string) (string, string, error) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 10 { // 10 digits: no length of a stored string is longer
		return "", "", errMalformed
	}
	l := 0
	for _, c := range []byte(s[:i]) {
		if c < '0' || c > '9' {
			return "", "", errMalformed
		}
		l = l*10 + int(c-'0')
	}
	rest := s[i+1:]
	if l > len(rest) {
		return "", "", errMalformed
	}
	return rest[:l], rest[l:], nil
}

var errMalformed = errors.New("stored attributes are malformed")

// decodeEvent reads a stored event: its stream (the key), its headers
// column and its data. The attributes share headers' memory; *scratch is
// a buffer for the parsed headers that the caller reuses across rows.
func decodeEvent(stream, headers string, data []byte, scratch *[]event.Header) (event.Event, error) {
	hs, err := decodeHeaders(headers, (*scratch)[:0])
	*scratch = hs
	if err != nil {
		return event.Event{}, err
	}
	return event.FromHeaders(stream, hs, data)
}

// SetMeta implements eventstore.Store.
func (s *Store) SetMeta(ctx context.Context, stream string, m eventstore.StreamMeta) error {
	if err := eventstore.CheckStream(stream); err != nil {
		return err
	}
	if m.MaxCount < 0 || m.MaxAge < 0 || m.TruncateBefore < 0 {
		return fmt.Errorf("eventstore: stream %q: negative bound in %+v", stream, m)
	}
	return s.inTx(ctx, "set meta of "+stream, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q.ensureStream, stream); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.setMeta, m.MaxCount, m.MaxAge.Milliseconds(), m.TruncateBefore, stream)
		return err
	})
}

// Delete implements eventstore.Store.
func (s *Store) Delete(ctx context.Context, stream string, hard bool) error {
	if err := eventstore.CheckStream(stream); err != nil {
		return err
	}
	return s.inTx(ctx, "delete "+stream, func(tx *sql.Tx) error {
		if !hard {
			_, err := tx.ExecContext(ctx, s.q.softDelete, stream)
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.ensureStream, stream); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.hardDelete, stream); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.dropEvents, stream)
		return err
	})
}

// SaveSnapshot implements eventstore.Store.
func (s *Store) SaveSnapshot(ctx context.Context, sn eventstore.Snapshot) error {
	if err := eventstore.CheckStream(sn.Stream); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.saveSnap, sn.Stream, sn.Version, sn.SchemaVersion, sn.Data); err != nil {
		return fmt.Errorf("eventstore: save snapshot of %q: %w", sn.Stream, err)
	}
	return nil
}

// LoadSnapshot implements eventstore.Store.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, bool, error) {
	sn := eventstore.Snapshot{Stream: stream}
	err := s.db.QueryRowContext(ctx, s.q.loadSnap, stream).Scan(&sn.Version, &sn.SchemaVersion, &sn.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return sn, false, nil
	}
	if err != nil {
		return sn, false, fmt.Errorf("eventstore: load snapshot of %q: %w", stream, err)
	}
	return sn, true, nil
}

func (s *Store) inTx(ctx context.Context, what string, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("eventstore: %s: %w", what, err)
	}
	if s.d.LockFirst {
		if _, err := tx.ExecContext(ctx, s.q.lockHead); err != nil {
			return errors.Join(fmt.Errorf("eventstore: %s: %w", what, err), rollback(tx))
		}
	}
	if err := f(tx); err != nil {
		return errors.Join(fmt.Errorf("eventstore: %s: %w", what, err), rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("eventstore: %s: commit: %w", what, err)
	}
	return nil
}
