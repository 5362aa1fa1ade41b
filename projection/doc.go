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
//     table. A second rebuild of the same projection meanwhile, in any
//     process, gets ErrRebuilding.
//
// # Rebuilds across processes
//
// A rebuild holds a claim in the checkpoint row with a lease
// (Config.RebuildLease) that each batch renews. RequestRebuild files a
// rebuild from a process without the projection's code (herald
// projection rebuild NAME --db DB); Run's per-projection watcher starts
// it within Poll (MaybeRebuild). If the rebuilding process dies, its
// lease expires and a watcher takes the rebuild over, resuming after the
// last committed batch; the old runner, if it was only slow, finds its
// claim gone at its next batch and stops without touching the new
// owner's table.
//
//	err = r.RequestRebuild(ctx, "order_totals") // another process: herald projection rebuild
//	n, ran, err := r.MaybeRebuild(ctx, "order_totals") // what Run does every Poll
//
// # Projections from topics
//
// A TopicProjection is fed by a pubsub router from Kafka topics (events
// other services publish) instead of $all:
//
//	h, err := r.TopicHandler(ctx, projection.TopicProjection{Name: "payments_by_order", Setup: ..., Apply: ...})
//	err = router.Handle("payments", h)
//
// Each message is applied in one transaction with its offset, kept per
// topic, partition and key in Table_offsets (the router orders messages
// per key only); a redelivery at or below the recorded offset is
// acknowledged as Deduplicated without running Apply. A handler error is
// the router's failed attempt (retry, then dead letter).
//
// # Batch handlers
//
// A projection that can write many events at once (sums per key in one
// multi-row upsert, say) sets ApplyBatch as well as Apply: the runner
// then hands it each batch (Config.Batch events live, Config.RebuildBatch
// in a rebuild, an append's events inline) in the batch's transaction.
// If it fails, the batch is rolled back and applied with Apply event by
// event, as below.
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
//	                     stopped, error, error_position, rebuild_token ("" = no rebuild),
//	                     rebuild_position (last event in Name_g<generation+1>),
//	                     skipped, updated_at (unix ms), rebuild_lease (unix ms the claim
//	                     expires), rebuild_requested (0/1)
//	herald_projections_skipped  (name, position) PK, event_id, error, at
//	herald_projections_offsets  (name, topic, part, k) PK, off: the last offset applied of
//	                     key k; a row (name, '', -1, '') marks a topic projection set up
//	<Name>               a view over <Name>_g<generation>
package projection
