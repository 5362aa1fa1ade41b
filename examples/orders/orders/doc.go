// Package orders is the orders service of the order-management example:
// an HTTP API to place, cancel and look at orders; the Order aggregate,
// event-sourced in its own event store (SQLite or PostgreSQL); its events
// published to the orders topic through the outbox, written in the
// append's own transaction (eventstore.OutboxHook), so an order is
// published if and only if it was stored; and the order-status read
// model (a projection of the store's $all) that GET answers from.
//
//	svc, err := orders.New(ctx, env, db) // env: brokers, codec, saga style
//	go svc.Run(ctx)                        // relay, projection, handlers, saga runner
//	http.ListenAndServe(addr, svc.Handler())
//
// In the choreographed style orders reacts to stock.unavailable
// (reject), stock.released (cancel: the payment was declined),
// payment.charged (paid) and shipment.shipped (shipped). In the
// orchestrated style it runs the order saga (see definition), started
// for each order.placed it reads back from the orders topic.
//
// Every command the aggregate takes is idempotent (a repeat decides
// nothing), so each handler can be redelivered and each saga function
// called again after a crash.
package orders
