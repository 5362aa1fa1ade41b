// Package srcodec is an event.Codec over a schema registry: event data in
// the Confluent wire format (see registry/serde), Avro, JSON Schema or
// Protobuf, with the schema registered on first use (AutoRegister) or
// taken from the registry (UseLatest).
//
// An encoded event describes its data in its attributes:
//
//	datacontenttype  application/avro | application/json | application/protobuf
//	dataschema       /subjects/<subject>/versions/<version>   (the registry's
//	                 REST path; absolute with RegistryURL)
//	schemaversion    <version>
//
// and the data itself starts with the schema id, so decoding needs no
// attribute: Decode looks the writer's schema up by id (cached) and reads
// the data as the codec's reader schema: AutoRegister's schema, or the one
// ReaderSchema gives. A v2 reader of v1 events gets v2's defaults for the
// fields v1 lacks (Avro schema resolution, JSON Schema "default"s), and a
// v1 reader of v2 events skips what it does not know (Protobuf keeps it in
// the unknown fields). Data the reader's schema cannot read (an Avro
// writer's schema that does not resolve, another format) is an error that
// errors.Is serde.ErrIncompatible, not zero values. A UseLatest codec
// without ReaderSchema reads data exactly as its writer wrote it.
//
// Usage:
//
//	cl, _ := sr.NewClient(sr.URLs("http://localhost:8081"))
//	// a secured registry: HTTPS and basic auth with kafkasec's settings
//	// opts, err := kafkasec.RegistryClient{TLS: kafkasec.TLS{CAFile: "ca.pem"}, Username: u, Password: pw}.SROpts()
//	// cl, _ := sr.NewClient(append(opts, sr.URLs("https://registry:8081"))...)
//	codec := srcodec.AutoRegister(cl, sr.Schema{Type: sr.TypeAvro, Schema: orderAvro})
//	e, err := event.Encode(ctx, codec, "orders", "/shop", "order.placed", order)
//	...
//	o, err := event.Decode[Order](ctx, codec, m.Event)
//
// Decode's errors are *DecodeError. DecodeError.Transient reports whether
// the registry could not be asked (network errors, timeouts, the context,
// 5xx, 408, 429, 401/403): such a failure is the registry's, and
// pubsub.Typed retries it without counting an attempt. Bytes not in the
// wire format, an id the registry does not have (40403), a schema that
// does not parse and data that does not decode are permanent.
//
// The subject is the topic's value subject (TopicNameStrategy, "orders-value")
// unless Subject says otherwise.
package srcodec
