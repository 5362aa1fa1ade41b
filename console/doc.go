// Package console is Herald's web console and HTTP API: an http.Handler
// that talks to a Kafka cluster only through the Kafka protocol (franz-go)
// and to a schema registry only through its REST API, so it works in front
// of Herald or any Kafka cluster. `herald serve` serves it on
// 127.0.0.1:8080 (--http-listen); `herald console --brokers ...` serves it
// alone.
//
//	c, err := console.New(console.Config{
//		Brokers:     []string{"localhost:9092"},
//		RegistryURL: "http://localhost:8081", // optional
//	})
//	if err != nil { ... }
//	defer c.Close()
//	http.ListenAndServe("127.0.0.1:8080", c)
//
// Secured: Config.Security (a kafkasec.Config) for its Kafka clients,
// Config.Registry for HTTPS and basic auth to the registry, and
// Config.Authenticator for HTTP basic auth on every path but /healthz and
// /readyz (serve it over TLS; a client certificate verified by the
// listener's mutual TLS also gets in). The console acts on the cluster
// with its own identity, whoever logged in.
//
// Pages (server-rendered html/template, assets embedded, one small script
// for live updates; every page works without it):
//
//	/                          overview: cluster, brokers, topics
//	/topics                    topics, and a form to create one
//	/topics/{t}                partitions, offsets, sizes (DescribeLogDirs), configs, delete
//	/topics/{t}/messages       message browser: from the end, the beginning, an offset or
//	                           a time; filters key, header (name or name=value), text, regex,
//	                           JSONPath ($.order.status=paid);
//	                           values decoded through the registry (Avro, JSON Schema,
//	                           Protobuf) as JSON, others as JSON, text or hex; CloudEvents
//	                           headers marked; long values cut with a download link;
//	                           ?live=1 tails the topic over SSE
//	/groups, /groups/{g}       state, members, assignments, committed offsets and lag per
//	                           partition (live over SSE); reset offsets with a dry-run preview
//	/schemas, /schemas/{s}     subjects, versions, diff of two versions, compatibility level,
//	                           check a draft against the latest version
//	/trace, /trace/{id}        flow trace: the causal graph (SVG) of every event of a
//	                           correlation id, or of the flow of any event's id, with the
//	                           time between hops and the groups that have processed each
//	                           event (needs Config.Tracer: herald serve's correlation index)
//	/sagas, /sagas/{id}        with Config.Sagas: instances by state and type; an instance's
//	                           steps and timings, history, events sent and received, a link
//	                           to its flow trace; retry (stuck) and abort (running) requests
//	/projections               with Config.Projections: position, head, lag, state (running,
//	                           stopped at a poisoned event with its error, rebuilding), and
//	                           rebuild requests
//
// Retry, abort and rebuild store a request that the services' runners
// carry out within their poll interval, as `herald saga retry|abort` and
// `herald projection rebuild` do; the form must repeat the id or name.
// The overview shows produced records per second and the mean fsync
// latency as sparklines, and a group's page its total lag over time, from
// a history sampled every Config.SampleInterval (5s) into fixed rings;
// the script redraws them without a reload. Config.Metrics (a Prometheus
// gatherer, herald serve's registry) is served at /metrics and feeds the
// fsync line; /metrics adds the console's own HTTP request metrics, and
// without Config.Metrics serves those, the cluster's offsets and group
// lag as last sampled, and the Go runtime's.
//
// HTTP API:
//
//	GET  /healthz                          200 while the process serves
//	GET  /readyz                           200 once the cluster answers (and Config.Ready)
//	GET  /topics/{t}/events?from=F         Server-Sent Events, event "record", data a Record
//	GET  /topics/{t}/records?from=F&...    {"records": [Record...]}, the browser's query
//	POST /topics/{t}/records               produce, REST Proxy v3's body and answer
//	POST /v3/clusters/{c}/topics/{t}/records   the same at REST Proxy v3's path
//	GET  /api/trace/{id}                   the flow trace as JSON (Trace)
//	GET  /api/history                      the overview's series (History)
//	GET  /api/groups/{g}/lag/history       a group's total lag samples ([]Point)
//	GET  /metrics                          Prometheus text format (see above)
//
// The event stream: F is end (default), beginning, an offset (each
// partition's) or a time. Every event's id is a Cursor, "0:6,1:0": for
// each partition the offset the stream reads next. An EventSource that
// reconnects sends it back as Last-Event-ID, and the stream resumes after
// the last event the client got, on every partition, missing nothing.
// With max_rate=N the stream is for a person watching (the live tail):
// once a second it sends at most the newest N records a partition, and a
// "skipped" event ({"partition", "from", "to"}) for the ones it leaves out,
// reading only what it sends.
//
// Produce bodies are one or more JSON objects:
//
//	{"partition_id": 0, "headers": [{"name": "h", "value": "dmFsdWU="}],
//	 "key": {"type": "STRING", "data": "o-1"},
//	 "value": {"type": "JSON", "data": {"id": "o-1"}}}
//
// with types BINARY (base64), STRING, JSON, or AVRO, JSONSCHEMA and PROTOBUF
// (encoded with the subject's latest schema, "subject" or the topic's
// -key/-value; PROTOBUF data in protojson, "message" naming the type);
// each gets {"error_code": 200, "partition_id": ..., "offset": ...}.
//
// Safety: forms carry a token the console checks, and cross-origin
// unsafe requests from browsers are refused (http.CrossOriginProtection).
// The console has no authentication: keep it on loopback or behind a proxy
// that authenticates.
package console
