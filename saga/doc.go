// Package saga runs long business processes that span services, each
// owning its data, as sagas: steps in order, and when a step fails, the
// completed steps undone by compensating actions in reverse order, never
// by a distributed transaction.
//
// # Declaring a saga
//
//	def := saga.Definition{Name: "order", Timeout: time.Hour, Steps: []saga.Step{
//		{Name: "stock",
//			Action:       saga.Action{Topic: "inventory", Command: "stock.reserve", Success: "stock.reserved", Failure: "stock.unavailable"},
//			Compensation: saga.Action{Topic: "inventory", Command: "stock.release", Success: "stock.released"}},
//		{Name: "payment", Timeout: 30 * time.Second, Retry: saga.RetryPolicy{MaxAttempts: 3},
//			Action:       saga.Action{Topic: "payments", Command: "payment.charge", Success: "payment.charged", Failure: "payment.declined"},
//			Compensation: saga.Action{Topic: "payments", Command: "payment.refund", Success: "payment.refunded"}},
//		{Name: "shipping", Action: saga.Action{Func: ship}}, // or a function, called in process
//	}}
//	store, err := saga.NewStore(ctx, db, outboxStore, saga.StoreConfig{Dialect: saga.SQLite})
//	r, err := saga.NewRunner(saga.Config{Store: store, Brokers: seeds, Group: "order-saga", ReplyTopics: []string{"order-replies"}})
//	err = r.Register(def) // refuses a step missing a compensation, here, not at run time
//	go relay.Run(ctx)     // an outbox.Relay on outboxStore publishes the commands
//	go r.Run(ctx)         // replies, timers, function calls
//	_, err = r.Start(ctx, "order", "order-42", order)
//
// A command is an event (package event) sent through the outbox: its id
// is "<instance>/<step>/<do|undo>/<attempt>", its key, subject and
// correlation id are the instance id, and it carries the extensions
// sagatype and sagastep. A service answers with an event whose
// correlation id is the instance id (a pubsub handler that publishes with
// its ctx does so, and sets the causation id to the command's id); its
// type says success or failure. Every step but the last needs a
// compensation, or NoCompensation.
//
// # Transitions
//
// An instance moves by a pure function of its state and one input (a
// reply, a function's result, a timer, abort, retry) to a new state plus
// effects: commands for the outbox and function calls. Statuses:
//
//	running ──all steps done──────────────────────────────▶ done
//	   │ failure reply, retries exhausted, saga timeout, abort
//	   ▼
//	compensating ──each compensation, in reverse──────────▶ compensated
//	   │ a compensation failed CompensationRetry.MaxAttempts times
//	   ▼
//	stuck (Error says why) ──Runner.Retry: a fresh retry budget──▶ compensating
//
// A failure reply is a decision: no retry, the steps before it are
// compensated. A timeout or a function error is retried by the step's
// RetryPolicy; when the attempts run out after a timeout the step itself
// is compensated too (its action may have taken effect), so compensations
// must tolerate undoing what never happened.
//
// # Guarantees
//
//   - A transition, its history entry and its commands are written in one
//     SQL transaction (outbox.Write): a crash can neither lose a command
//     nor send a different one; a command published twice by the relay
//     keeps its id, so an idempotent consumer (pubsub/dedup) runs it once.
//   - One instance is never advanced by two workers at once, in one
//     process or many: the UPDATE checks the version it read (PostgreSQL
//     also locks the row); the loser reloads and applies its input again.
//   - Replies are recorded by event id in the same transaction: a
//     duplicate, a late reply, one for a finished saga and one for no
//     instance are recorded with what was done and change nothing.
//   - Timers are rows: each instance's next deadline is stored (due);
//     Run polls for due ones, in whichever process runs after a restart.
//   - Func actions are called at least once per attempt (see below).
//
// # Function actions: at least once, with an idempotency key
//
// A Func is called after the transition that asks for it is stored, and
// its result is stored by another. A process that stops between the
// function's effect and the store of its result leaves the instance
// waiting for it, and the next Run calls it again: at least once per
// attempt. Each call's ctx carries an idempotency key (IdempotencyKey),
// the same for every call of one attempt and shaped like a command's id,
// "<instance>/<step>/<do|undo>/<attempt>". A function that records the
// key with its effect in one transaction takes effect once:
//
//	func debit(ctx context.Context, d saga.Data) (json.RawMessage, error) {
//		key, _ := saga.IdempotencyKey(ctx)
//		tx, err := db.BeginTx(ctx, nil)
//		...
//		res, err := tx.ExecContext(ctx, `INSERT INTO debits (key, account, amount) VALUES (?, ?, ?)
//			ON CONFLICT (key) DO NOTHING`, key, acct, amount)
//		if n, _ := res.RowsAffected(); n == 1 { // not done before
//			_, err = tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - ? WHERE id = ?`, amount, acct)
//		}
//		return nil, tx.Commit()
//	}
//
// A new attempt (after a timeout or an error) has a new key, as a retried
// command has a new id.
//
// Tables are documented on Store. Operators see and act on instances with
// `herald saga list|show|retry|abort --db DB`; retry and abort are
// requests stored in the database (Store.Request), carried out by a
// runner of the instance's type.
//
// # Choreography
//
// With no coordinator, each service reacts to the previous event. React
// makes a pubsub handler of a Reaction: the business change and the
// events that follow commit in one transaction through the outbox,
// linked to the handled event (same correlation id, causation id = its
// id); a Reaction that returns a *Failed emits its compensation events
// instead. ReactTx is the same reaction for dedup.SQL.InTx: the handled
// event's id is recorded in that transaction too, so a redelivered event
// changes nothing and emits nothing. A Tracker follows such a process
// from outside, deriving each instance's state from its events by
// correlation id (a redelivered event is seen once):
//
//	h := saga.React(db, outboxStore, func(ctx context.Context, tx *sql.Tx, e event.Event) ([]saga.Emit, error) {
//		if declined(e) {
//			return nil, &saga.Failed{Reason: "declined", Compensate: []saga.Emit{{Topic: "shop", Event: declinedEvent}}}
//		}
//		return []saga.Emit{{Topic: "shop", Event: chargedEvent}}, nil
//	})
//	tr, err := saga.NewTracker(saga.TrackerConfig{Start: []string{"order.placed"}, Complete: []string{"order.shipped"}, ...})
//	go tr.Follow(ctx, client)
//	p, ok := tr.Get("order-42") // Status, and the events seen
package saga
