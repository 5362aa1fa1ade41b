// Package registry is Herald's schema registry: event schemas as
// contracts between producers and consumers, with evolution rules. It
// serves Confluent Schema Registry's REST API, so Confluent's serializers,
// franz-go's sr client and registry consoles work unchanged, and it keeps
// its state in a compacted Kafka topic, so it runs against Herald's broker
// or any Kafka cluster.
//
// # Running it
//
//	srv, err := registry.New(ctx, registry.Config{
//		Brokers: []string{"localhost:9092"}, // or Client: an existing *kgo.Client
//		Topic:   "_schemas",                 // the default
//		Listen:  "127.0.0.1:8081",           // the default
//		Logger:  slog.Default(),
//	})
//	if err != nil { ... }   // New has read _schemas back to its end
//	defer srv.Close()
//	err = srv.Start()       // serve on Listen in the background
//	// or: go srv.Serve(ln); or mount srv.Handler() on your own mux
//
// Clients talk to it with any Confluent-compatible client:
//
//	cl, _ := sr.NewClient(sr.URLs("http://localhost:8081"))
//	ss, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: orderAvro})
//
// and encode and decode record values with registry/serde (a serde.Decoder
// reads every version as the reader's schema). heraldtest.WithRegistry
// starts a registry next to an in-process broker for tests.
//
// # Broker-side validation
//
// For a topic with herald.schema.validation=true the broker calls a
// Validator on every record value:
//
//	v := srv.Validator()
//	if err := v.Check(topic, record.Value); err != nil {
//		// reject the batch with INVALID_RECORD
//	}
//
// Check allocates nothing when its snapshot is current.
//
// # Storage
//
// Every change is one record in the compacted, single-partition topic
// (created if missing), keyed as Confluent's registry keys it, so a
// _schemas topic can move between the two; see store.go for the layout. A
// write is produced with acks=all and, once acknowledged, applied to the
// in-memory state; readers never see a change the topic does not hold.
// One registry instance writes a topic: New reads the topic once, then
// trusts its own writes (there is no follower mode yet).
//
// Each write first checks that the topic still exists. If it was deleted
// (Kafka allows that; Herald's broker refuses deletes of _schemas), the
// registry creates it again and writes its whole in-memory state into it
// before the write, so a restart still finds every schema, config and
// mode. Herald's broker takes only well-formed registry records into
// _schemas (see internal/broker.IsProtected).
//
// Ids are global: identical schemas (same type, text up to insignificant
// white space, same references) share an id across subjects, registering
// one again returns its id, and ids are never reused, even after a
// permanent delete.
//
// # REST API
//
//	GET    /schemas/types
//	GET    /schemas                                 ?subjectPrefix= &deleted= &latestOnly=
//	GET    /schemas/ids/{id}                        (+ /schema, /subjects, /versions)
//	GET    /subjects                                ?deleted=true &deletedOnly=true &subjectPrefix=
//	POST   /subjects/{s}                            look a schema up: which version is it?
//	DELETE /subjects/{s}                            soft; ?permanent=true after a soft delete
//	GET    /subjects/{s}/versions                   ?deleted=true
//	POST   /subjects/{s}/versions                   register; {"id":N}
//	GET    /subjects/{s}/versions/{v|latest}        (+ /schema, /referencedby)
//	DELETE /subjects/{s}/versions/{v|latest}        soft; ?permanent=true
//	POST   /compatibility/subjects/{s}/versions     against what the level asks for; ?verbose=true
//	POST   /compatibility/subjects/{s}/versions/{v|latest}
//	GET    PUT DELETE /config, /config/{s}          compatibility level; ?defaultToGlobal=true
//	GET    PUT DELETE /mode, /mode/{s}              READWRITE, READONLY, IMPORT
//
// Subjects are URL-encoded path segments; a trailing slash is accepted;
// unknown JSON fields and query parameters are ignored. Responses are
// application/vnd.schemaregistry.v1+json; errors are
// {"error_code":40401,"message":"..."} with the codes listed in errors.go.
//
// # Security
//
//	srv, err := registry.New(ctx, registry.Config{
//		Brokers:       brokers,
//		Security:      kafkaSec,                     // kafkasec.Config: TLS and SASL to the cluster
//		TLS:           reloader.ServerConfig(),      // HTTPS for Start; client CAs in it: mutual TLS
//		Authenticator: clusterAuthn,                 // basic auth: kafkasec.NewClusterAuthenticator(...)
//		Authorizer:    registry.TopicACLs{ACLs: acls}, // kafkasec.NewClusterACLs(...)
//	})
//
// With an Authenticator every path but /healthz needs credentials (or a
// verified client certificate): 401, a WWW-Authenticate challenge and
// {"error_code":401,...} otherwise. With an Authorizer each route checks
// its subject (authz.go): reads and writes of "orders-value" follow the
// ACLs of topic "orders" under TopicACLs, a denial is 403 with error code
// 40301, and listings show only the subjects the principal may read.
//
// # Compatibility
//
// Levels NONE, BACKWARD (the default), BACKWARD_TRANSITIVE, FORWARD,
// FORWARD_TRANSITIVE, FULL and FULL_TRANSITIVE. BACKWARD checks that the
// new schema reads data written with the latest one, FORWARD that the
// latest reads data written with the new one, FULL both; the transitive
// levels check against every live version. The rules per format live in
// registry/avro, registry/jsonschema and registry/protobuf; a refusal
// (409) lists Confluent-style messages naming the field and the rule:
//
//	{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'note' at path '/fields/2' in the new schema has no default value and is missing in the old schema', additionalInfo:'/fields/2'}
//	{oldSchemaVersion: 2}
//	{oldSchema: '...'}
//	{compatibility: 'BACKWARD'}
//
// Config.LenientJSON lets a JSON Schema add a property to an open content
// model; see registry/jsonschema.
package registry
