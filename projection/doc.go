// Package projection builds read models from an event store's $all: each
// projection's handler writes its table in a SQL transaction that also
// moves the projection's checkpoint, so a crash never applies an event
// twice or skips one.
//
//	r, err := projection.New(ctx, db, projection.SQLite, store, projection.Config{})
//	err = r.Register(ctx, projection.Projection{
//		Name:  "order_totals", // the view readers query
//		Setup: func(ctx context.Context, tx *sql.Tx, table string) error { ... CREATE TABLE table ... },
//		Apply: func(ctx context.Context, tx *sql.Tx, table string, e eventstore.Recorded) error { ... },
//	})
//	go r.Run(ctx)                         // async, one goroutine per projection
//	st, err := r.Status(ctx)              // position, lag, stopped, error
//	n, err := r.Rebuild(ctx, "order_totals")
//
// # Lifecycles
//
//   - Async: Run (or Step, one batch) applies batches of events, each in
//     one transaction with the checkpoint. Status reports the lag behind
//     the store's head.
//   - Inline: Runner.Inline returns an eventstore.TxHook that applies the
//     appended events in the append's own transaction (read model and
//     store in one database); a handler error fails the append.
//   - Rebuild: replays $all from the start into the next generation's
//     table (Name_g2, Name_g3, ...) while the live projection keeps
//     serving the old one, then in one transaction catches up, points the
//     view Name at the new table, moves the checkpoint and drops the old
//     table. A second rebuild of the same projection meanwhile gets
//     ErrRebuilding.
//
// # Poisoned events
//
// A handler error rolls its batch back; the batch is then applied event
// by event under savepoints, each failing event retried Retries times.
// With OnPoison Stop (the default) the projection stops at the event:
// Status shows its position and error, the other projections go on, and
// Resume retries it. With Skip the event is recorded in Table_skipped
// (see Skipped) and the projection goes on.
//
// # Tables
//
//	herald_projections   name PK, position (last applied), generation (table Name_g<generation>),
//	                     stopped, error, error_position, rebuild_token, rebuild_position,
//	                     skipped, updated_at (unix ms)
//	herald_projections_skipped  (name, position) PK, event_id, error, at
//	<Name>               a view over <Name>_g<generation>
package projection
