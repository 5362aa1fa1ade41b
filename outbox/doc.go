// Package outbox is the transactional outbox: events are written to a
// table in the same SQL transaction as the business change, and a Relay
// publishes them to Kafka afterwards. Either both the change and its
// events are committed, or neither is.
//
//	store, err := sqlite.New(ctx, db, sqlite.Config{}) // or postgres.New
//
//	tx, err := db.BeginTx(ctx, nil)
//	_, err = tx.ExecContext(ctx, `UPDATE orders SET state = 'paid' WHERE id = ?`, id)
//	e := event.New("/orders", "order.paid", data)
//	e.Key = id // order is kept per key (the aggregate)
//	err = outbox.Write(ctx, tx, store, "orders", e)
//	err = tx.Commit()
//
//	relay, err := outbox.NewRelay(store, kgoClient, outbox.RelayConfig{})
//	go relay.Run(ctx) // one or several, in one process or many
//
// # Guarantees
//
//   - Rows of one key are published in the order they were written.
//   - A relay that dies between publishing and marking loses nothing: its
//     rows are published again (at least once). Consumers deduplicate by
//     event id, e.g. with pubsub/dedup.
//   - With several relays, each row is claimed by one relay at a time
//     (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED; SQLite: a claim
//     lease in the row); a relay publishes a row only if no earlier row of
//     its key is held by another relay.
//
// # Tracing and metrics
//
// Write keeps the trace context of ctx (W3C traceparent and tracestate)
// in the row, and the relay publishes it as record headers, so the trace
// of the request that wrote the row runs on to every consumer. With
// RelayConfig.TracerProvider the relay also starts a producer span per
// row, a child of the stored context, and the record carries that span's
// context instead. RelayConfig.Metrics records pending rows, the oldest
// row's age, publish latency and published rows (see Metrics).
//
// Stores: outbox/sqlite (modernc.org/sqlite, the embedded default) and
// outbox/postgres (pgx through database/sql). Their packages document the
// table layouts.
package outbox
