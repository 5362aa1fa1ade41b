package projection

import "fmt"

// queries are the runner's statements for one checkpoint table.
type queries struct {
	ddl                            []string
	migrate                        map[string]string // column -> ALTER TABLE adding it
	insert, lock, get, setPosition string
	// lockGet is lock returning the row as get does, plus a text column
	// ''; lockGetRelaxed's is the setting that makes the commit return
	// before its WAL is flushed (PostgreSQL; on SQLite it is lockGet).
	lockGet, lockGetRelaxed                string
	stop, resume, skip, countSkip, skipped string
	list, endRebuild, switchGen            string
	// The rebuild claim (see rebuild.go): claimRebuild takes a free
	// claim, claimRequested a free one an operator asked for, takeOver
	// one whose lease expired; setRebuild renews the lease with each
	// batch; request files an operator's request.
	claimRebuild, claimRequested, takeOver, setRebuild, request string
	// Topic projections (topics.go): topicMark records a projection's
	// setup (a row with topic '' and partition -1).
	topicMark, offsetRow, offsetGet, offsetSet, offsetList string
}

// columns added after the first release of the checkpoint table; New adds
// them to an older table.
var addedColumns = []string{"rebuild_lease", "rebuild_requested"}

func newQueries(d Dialect, t string) queries {
	f := func(format string) string { return d.rebind(fmt.Sprintf(format, t)) }
	blob, bytes, forUpdate := "BIGINT", "BLOB", ""
	if d == Postgres {
		bytes, forUpdate = "BYTEA", " FOR UPDATE"
	}
	q := queries{
		ddl: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (name TEXT PRIMARY KEY, position %s NOT NULL,
				generation %[2]s NOT NULL, stopped INT NOT NULL, error TEXT NOT NULL, error_position %[2]s NOT NULL,
				rebuild_token TEXT NOT NULL, rebuild_position %[2]s NOT NULL, skipped %[2]s NOT NULL,
				updated_at %[2]s NOT NULL, rebuild_lease %[2]s NOT NULL DEFAULT 0,
				rebuild_requested INT NOT NULL DEFAULT 0)`, t, blob),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_skipped (name TEXT NOT NULL, position %s NOT NULL,
				event_id TEXT NOT NULL, error TEXT NOT NULL, at %[2]s NOT NULL, PRIMARY KEY (name, position))`, t, blob),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_offsets (name TEXT NOT NULL, topic TEXT NOT NULL, part INT NOT NULL,
				k %s NOT NULL, off BIGINT NOT NULL, PRIMARY KEY (name, topic, part, k))`, t, bytes),
		},
		migrate: map[string]string{
			"rebuild_lease":     fmt.Sprintf(`ALTER TABLE %s ADD COLUMN rebuild_lease %s NOT NULL DEFAULT 0`, t, blob),
			"rebuild_requested": fmt.Sprintf(`ALTER TABLE %s ADD COLUMN rebuild_requested INT NOT NULL DEFAULT 0`, t),
		},
		insert: f(`INSERT INTO %s (name, position, generation, stopped, error, error_position, rebuild_token,
			rebuild_position, skipped, updated_at, rebuild_lease, rebuild_requested)
			VALUES (?, 0, 1, 0, '', 0, '', 0, 0, ?, 0, 0) ON CONFLICT (name) DO NOTHING`),
		lock: f(`UPDATE %s SET name = name WHERE name = ?`),
		lockGet: f(`UPDATE %s SET name = name WHERE name = ?
			RETURNING position, generation, stopped, rebuild_token, rebuild_position, rebuild_lease, rebuild_requested, ''`),
		get: f(`SELECT position, generation, stopped, rebuild_token, rebuild_position, rebuild_lease, rebuild_requested
			FROM %s WHERE name = ?`),
		setPosition: f(`UPDATE %s SET position = ?, updated_at = ? WHERE name = ?`),
		stop:        f(`UPDATE %s SET stopped = 1, error = ?, error_position = ? WHERE name = ?`),
		resume:      f(`UPDATE %s SET stopped = 0, error = '', error_position = 0 WHERE name = ?`),
		skip:        f(`INSERT INTO %s_skipped (name, position, event_id, error, at) VALUES (?, ?, ?, ?, ?)`),
		countSkip:   f(`UPDATE %s SET skipped = skipped + 1 WHERE name = ?`),
		skipped:     f(`SELECT position, error FROM %s_skipped WHERE name = ? ORDER BY position`),
		list: f(`SELECT name, position, generation, stopped, error, error_position, rebuild_token, skipped,
			rebuild_position, rebuild_lease, rebuild_requested FROM %s ORDER BY name`),
		claimRebuild: f(`UPDATE %s SET rebuild_token = ?, rebuild_lease = ?, rebuild_position = 0, rebuild_requested = 0
			WHERE name = ? AND rebuild_token = ''`),
		claimRequested: f(`UPDATE %s SET rebuild_token = ?, rebuild_lease = ?, rebuild_position = 0, rebuild_requested = 0
			WHERE name = ? AND rebuild_token = '' AND rebuild_requested = 1`),
		takeOver: f(`UPDATE %s SET rebuild_token = ?, rebuild_lease = ?, rebuild_requested = 0
			WHERE name = ? AND rebuild_token = ? AND rebuild_lease < ?`),
		setRebuild: f(`UPDATE %s SET rebuild_position = ?, rebuild_lease = ? WHERE name = ? AND rebuild_token = ?`),
		request:    f(`UPDATE %s SET rebuild_requested = 1 WHERE name = ? AND rebuild_token = ''`),
		endRebuild: f(`UPDATE %s SET rebuild_token = '', rebuild_position = 0, rebuild_lease = 0 WHERE name = ? AND rebuild_token = ?`),
		switchGen: f(`UPDATE %s SET generation = ?, position = ?, rebuild_token = '', rebuild_position = 0, rebuild_lease = 0,
			stopped = 0, error = '', error_position = 0, updated_at = ? WHERE name = ? AND rebuild_token = ?`),
		topicMark: f(`INSERT INTO %s_offsets (name, topic, part, k, off) VALUES (?, '', -1, '', -1)
			ON CONFLICT (name, topic, part, k) DO NOTHING`),
		offsetRow: f(`INSERT INTO %s_offsets (name, topic, part, k, off) VALUES (?, ?, ?, ?, -1)
			ON CONFLICT (name, topic, part, k) DO NOTHING`),
		offsetGet:  f(`SELECT off FROM %s_offsets WHERE name = ? AND topic = ? AND part = ? AND k = ?`) + forUpdate,
		offsetSet:  f(`UPDATE %s_offsets SET off = ? WHERE name = ? AND topic = ? AND part = ? AND k = ?`),
		offsetList: f(`SELECT topic, part, k, off FROM %s_offsets WHERE name = ? AND part >= 0 ORDER BY topic, part, k`),
	}
	q.lockGetRelaxed = q.lockGet
	if d == Postgres {
		q.lockGetRelaxed = f(`UPDATE %s SET name = name WHERE name = ?
			RETURNING position, generation, stopped, rebuild_token, rebuild_position, rebuild_lease, rebuild_requested,
			set_config('synchronous_commit', 'off', true)`)
	}
	return q
}
