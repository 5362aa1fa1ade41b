package sqlstore

import (
	"fmt"
	"strings"
)

// queries are the store's statements for one table prefix, rebound for
// the dialect. findIDs and insertEvents are completed per call.
type queries struct {
	lockHead, takeHead, naivePos, head          string
	ensureStream, lockStream, setVersion        string
	findIDs, insertEvents                       string
	streamInfo, readFwd, readBwd, readAll       string
	readAllPlain, bounded                       string
	setMeta, softDelete, hardDelete, dropEvents string
	saveSnap, loadSnap                          string
	sequence, positionsOf, durable              string
}

// BoundedCond is the condition on a streams table row that its stream
// has bounds: the condition of the partial index that the dialects
// create on it (see Dialect.DDL) so that ReadAll finds these rows
// without a scan.
const BoundedCond = "truncate_before > 0 OR max_count > 0 OR max_age_ms > 0"

// Columns of the events table that reads scan, in order.
const eventCols = "position, stream, version, id, type, recorded_at, headers, data"

// eventColsOf is eventCols qualified by a table alias.
func eventColsOf(alias string) string {
	return strings.ReplaceAll(alias+"."+eventCols, ", ", ", "+alias+".")
}

func newQueries(d *Dialect, p string) queries {
	f := func(format string) string { return d.Rebind(fmt.Sprintf(format, p)) }
	q := queries{
		lockHead: f(`UPDATE %s_head SET position = position WHERE id = 0`),
		takeHead: f(`UPDATE %s_head SET position = position + ? WHERE id = 0 RETURNING position`),
		head:     f(`SELECT position FROM %s_head WHERE id = 0`),
		ensureStream: f(`INSERT INTO %s_streams (stream, version, deleted, max_count, max_age_ms, truncate_before)
			VALUES (?, -1, 0, 0, 0, 0) ON CONFLICT (stream) DO NOTHING`),
		lockStream: f(`SELECT version, deleted FROM %s_streams WHERE stream = ?`) + d.ForUpdate,
		setVersion: f(`UPDATE %s_streams SET version = ?, deleted = 0 WHERE stream = ?`),
		// findIDs is completed with the id placeholders.
		findIDs:      fmt.Sprintf(`SELECT version, position FROM %s WHERE stream = ? AND id IN (%%s) ORDER BY version`, p),
		insertEvents: fmt.Sprintf(`INSERT INTO %s (%s) VALUES `, p, eventCols),
		streamInfo:   f(`SELECT version, deleted, max_count, max_age_ms, truncate_before FROM %s_streams WHERE stream = ?`),
		readFwd: d.Rebind(fmt.Sprintf(`SELECT %s FROM %s WHERE stream = ? AND version >= ? AND version <= ? AND recorded_at >= ? AND recorded_at < ?
			ORDER BY version LIMIT ?`, eventCols, p)),
		readBwd: d.Rebind(fmt.Sprintf(`SELECT %s FROM %s WHERE stream = ? AND version >= ? AND version <= ? AND recorded_at >= ? AND recorded_at < ?
			ORDER BY version DESC LIMIT ?`, eventCols, p)),
		// readAll hides what the stream's bounds hide from ReadStream
		// (see visible); its second parameter is now in unix µs. The
		// bounds are a correlated subquery, not a join: PostgreSQL
		// estimates a join's filter as very selective and plans a
		// parallel scan that costs ~40x more per page of a large table;
		// with the subquery it keeps the position index scan with LIMIT.
		readAll: d.Rebind(fmt.Sprintf(`SELECT %s FROM %s e
			WHERE e.position > ? AND (SELECT e.version >= s.truncate_before
				AND (s.max_count = 0 OR e.version > s.version - s.max_count)
				AND (s.max_age_ms = 0 OR e.recorded_at >= ? - s.max_age_ms * 1000)
				FROM %[2]s_streams s WHERE s.stream = e.stream)
			ORDER BY e.position LIMIT ?`, eventColsOf("e"), p)),
		// readAllPlain is readAll without the bounds: ReadAll applies
		// them in Go (see Store.ReadAll) when few streams have any.
		readAllPlain: d.Rebind(fmt.Sprintf(`SELECT %s FROM %s WHERE position > ? ORDER BY position LIMIT ?`, eventCols, p)),
		// bounded lists the streams with bounds (the dialect's DDL
		// creates a partial index with the same condition); its
		// parameter is a LIMIT.
		bounded: f(`SELECT stream, version, max_count, max_age_ms, truncate_before FROM %s_streams
			WHERE ` + BoundedCond + ` LIMIT ?`),
		setMeta:    f(`UPDATE %s_streams SET max_count = ?, max_age_ms = ?, truncate_before = ? WHERE stream = ?`),
		softDelete: f(`UPDATE %s_streams SET deleted = 1, truncate_before = version + 1 WHERE stream = ? AND deleted = 0`),
		hardDelete: f(`UPDATE %s_streams SET deleted = 2 WHERE stream = ?`),
		dropEvents: f(`DELETE FROM %s WHERE stream = ?`),
		saveSnap: f(`INSERT INTO %s_snapshots (stream, version, schema_version, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (stream) DO UPDATE SET version = excluded.version, schema_version = excluded.schema_version, data = excluded.data`),
		loadSnap: f(`SELECT version, schema_version, data FROM %s_snapshots WHERE stream = ?`),
	}
	if d.Sequence != nil {
		q.sequence = d.Sequence(p)
	}
	if d.Durable != nil {
		q.durable = d.Durable(p)
	}
	q.positionsOf = f(`SELECT min(position), max(position) FROM %s WHERE stream = ? AND version >= ? AND version <= ?`)
	if d.NaivePositions != nil {
		q.naivePos = "SELECT " + d.NaivePositions(p)
	}
	return q
}
