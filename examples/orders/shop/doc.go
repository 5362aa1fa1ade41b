// Package shop is what the services of the order-management example
// share and nothing else: the topic names, the event types and their
// payloads, the schemas registered for them, a codec that encodes each
// type with its own registered schema, the catalogue reader, and the
// database opener. The services talk to each other only through the
// topics named here; each owns its own database.
//
// # Topics and events
//
//	topic               key       events (schema format)
//	orders              order-ID  order.placed, order.paid, order.shipped,
//	                              order.cancelled, order.rejected (JSON Schema)
//	inventory           order id  stock.reserved, stock.unavailable, stock.released (JSON Schema)
//	payments            order id  payment.charged, payment.declined, payment.refunded (Avro)
//	shipping            order id  shipment.shipped (JSON Schema)
//	catalog (compacted) sku       product.listed (JSON Schema): event-carried state transfer
//	order-status        order id  order.status (JSON Schema): what notification pushes
//	                              to browsers (the console's SSE endpoint)
//
// The orchestrated saga's commands (inventory-commands, payment-commands,
// shipping-commands) and replies (order-saga-replies) are plain JSON: the
// saga package keeps each reply's data as JSON in the instance.
//
// Every event carries the correlation id of the HTTP request that placed
// its order, and the id of the event that caused it (package event).
//
// Subjects follow TopicRecordNameStrategy: "<topic>-<type>", one schema
// per event type, so that a topic carries several types.
package shop
