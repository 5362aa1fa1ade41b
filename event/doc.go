// Package event is Herald's event envelope: the attributes of CloudEvents
// 1.0 plus correlation id, causation id and schema version, carried as
// Kafka headers so that consumers in any language can read them.
//
// # Wire format
//
// Binary mode (what Herald writes): the record value is the data, the key
// is Event.Key, and each attribute is a header.
//
//	header             attribute         example
//	ce_specversion     specversion       1.0
//	ce_id              id                0190f0c2-7a1e-7c3b-9a55-3c1d2e4f5a6b (UUIDv7)
//	ce_source          source            /orders
//	ce_type            type              com.example.order.created
//	ce_time            time              2024-07-01T12:00:00.123Z (RFC 3339)
//	ce_subject         subject           order-42
//	ce_dataschema      dataschema        https://registry/subjects/orders-value/versions/3
//	content-type       datacontenttype   application/json
//	ce_correlationid   correlationid     id of the first event of the flow
//	ce_causationid     causationid       id of the event that caused this one
//	ce_schemaversion   schemaversion     3
//	ce_<name>          other extensions
//
// Structured mode (read by FromRecord, written by MarshalStructured): the
// record's content-type header is application/cloudevents+json and the
// value is the JSON event, data embedded or in data_base64.
//
// # Usage
//
//	e := event.New("/orders", "com.example.order.created", data)
//	e.Key = orderID            // events with one key keep their order
//	rec := e.Record("orders")  // a *kgo.Record to produce
//	...
//	got, err := event.FromRecord(fetched)
//
// Typed data goes through a Codec (JSON here; Avro, JSON Schema and
// Protobuf with a schema registry in package event/srcodec):
//
//	e, err := event.Encode(ctx, event.JSON, "orders", "/orders", "order.created", Order{ID: "42"})
//	o, err := event.Decode[Order](ctx, event.JSON, e)
//
// A codec whose encoding depends on the event, such as event/crypt's
// encrypting codec (it binds the ciphertext to the event's id and picks
// a key by subject or key), is an EventCodec; give it the event, with
// key and subject set, through EncodeEvent:
//
//	e := event.New("/orders", "order.created", nil)
//	e.Key = customerID
//	e, err := event.EncodeEvent(ctx, codec, "orders", e, Order{ID: "42"})
//
// While a handler handles an event, its context carries it (NewContext);
// Link, which publishers call, makes events published from there share
// the correlation id and name the handled event as their cause.
package event
