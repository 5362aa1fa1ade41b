// Package eventstore keeps a service's state as events: streams named by
// the user ("order-42"), each an ordered list of event.Event with versions
// from 0, and one global position over all streams ($all) in commit
// order. Backends: eventstore/sqlite (embedded default) and
// eventstore/postgres; eventstoretest is the conformance suite both pass,
// for a third backend to reuse.
//
//	store, err := sqlite.New(ctx, db, sqlite.Config{})
//	res, err := store.Append(ctx, "order-42", eventstore.NoStream, placed)
//	_, err = store.Append(ctx, "order-42", eventstore.Exact(res.LastVersion), paid)
//	var conflict *eventstore.ConflictError
//	if errors.As(err, &conflict) { /* conflict.Actual is the stream's version */ }
//	recs, err := store.ReadStream(ctx, "order-42", eventstore.ReadOptions{})
//	recs, err = store.ReadAll(ctx, checkpoint, 500)
//
// # Appends
//
// Append is atomic for its events and checks an expectation first: Any,
// NoStream, StreamExists or Exact(version); a miss is a *ConflictError
// with the stream's actual version. Repeating an append whose event ids
// are all in the stream already writes nothing and returns the first
// result (Duplicate set), so a caller that lost the reply retries safely.
// AppendMulti appends to several streams in one transaction, each with its
// own expectation. An event must pass event.Validate and be under the
// store's size limit (ErrTooLarge); nothing of a refused append is
// written.
//
// # $all without gaps
//
// ReadAll(after) returns events with positions above after, in position
// order, and a position once seen is final: no event ever commits later
// with a lower one, so a reader that keeps the last position it handled
// as its checkpoint never skips an event. The SQL backends give positions
// under one head row's lock held to the commit; see eventstore/postgres
// for how PostgreSQL keeps that lock off the WAL flush.
//
// # Reads, metadata, deletes
//
// ReadStream reads forward or backward from a version, up to a version
// (Until) or a time (Before: a temporal query). SetMeta bounds what reads
// return (MaxCount, MaxAge, TruncateBefore) without renumbering, in
// ReadStream and in $all alike (ReadAll checks each event against its stream's
// bounds, so a projection rebuilt later does not see them either). Delete
// soft-deletes (hidden; the next append continues the versions) or
// hard-deletes (events removed, a tombstone refuses reads and appends with
// ErrStreamDeleted).
//
// # Aggregates, snapshots, upcasting, subscriptions, publication
//
// Aggregate[S, C] is load → Decide → append with the loaded version →
// retry on conflict, with optional snapshots tagged with the state's
// schema version (a snapshot of another version is ignored). Upcasters,
// applied by WithUpcasters, turn old event versions into current ones on
// read; stored events are never rewritten. Subscribe reads $all from a
// checkpoint, catching up then following live; it only reads, so a slow
// subscriber never holds up a writer. OutboxHook writes each appended
// event to the outbox (package outbox) in the append's transaction, keyed
// by stream, for a relay to publish to Kafka: no dual write.
package eventstore
