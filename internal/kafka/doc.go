// Package kafka serves the Apache Kafka wire protocol: it accepts
// connections, reads frames, decodes requests with franz-go's kmsg,
// dispatches them through one table of API keys and versions (which is
// also what ApiVersions answers), and writes the responses in request
// order.
//
//	s := kafka.New(kafka.Config{Broker: b, AdvertisedHost: "localhost", AdvertisedPort: 9092})
//	go s.Serve(ln) // PLAINTEXT, advertising AdvertisedHost:AdvertisedPort
//	go s.ServeListener(ln2, kafka.Listener{Name: "SASL_SSL", Protocol: kafka.SASLSSL,
//		AdvertisedHost: "kafka.example.com", AdvertisedPort: 9093, TLS: reloader.ServerConfig()})
//	...
//	s.Close() // stop accepting, answer what was read, close, wait
//
// Listeners (listener.go): each accepted connection keeps its listener;
// Metadata, FindCoordinator and DescribeCluster answer with its
// advertised address. On SSL and SASL_SSL listeners the reader runs the
// TLS handshake first (10 s bound); a verified client certificate makes
// the principal User:<subject DN>, RFC 2253 order as Kafka's default
// principal builder writes it: "User:CN=alice,O=Herald Tests".
//
// Authentication (sasl.go): on SASL_PLAINTEXT and SASL_SSL listeners
// only ApiVersions, SaslHandshake (v0-1) and SaslAuthenticate (v0-2)
// are answered until the client has authenticated (Config.SASL, package
// auth: PLAIN, SCRAM-SHA-256/512, OAUTHBEARER); anything else closes the
// connection, and frames are capped at 512 KiB meanwhile. Handshake v0
// means raw size-prefixed tokens follow, as old clients send them. A
// failure answers SASL_AUTHENTICATION_FAILED with the reason after
// Config.FailedAuthDelay and closes, and counts against the client
// host's Config.FailedAuthPerSecond (sasl_limit.go), past which the
// host's exchanges are refused before the credentials are checked;
// UNSUPPORTED_SASL_MECHANISM (with the enabled list) and
// ILLEGAL_SASL_STATE close too, except on a listener
// without SASL, where both SASL requests answer ILLEGAL_SASL_STATE and
// the connection stays. KIP-368: SaslAuthenticate v1+ answers the
// session lifetime (Config.SessionLifetime, or an OAUTHBEARER token's
// remaining life if sooner); the first request after it ends (a late
// re-authentication too) closes the connection; re-authentication before
// the end renews it and may not change the principal or mechanism. The check is once per
// request, on the reader goroutine, with no allocation.
//
// SCRAM credentials (KIP-554): AlterUserScramCredentials (ALTER on the
// cluster) and DescribeUserScramCredentials (DESCRIBE) change and list
// Config.Credentials, with Kafka's per-user errors.
//
// A request frame (all integers big-endian):
//
//	size            int32    bytes after this field; checked against
//	                         MaxRequestBytes before anything is allocated
//	api key         int16
//	api version     int16
//	correlation id  int32
//	client id       int16 length + bytes, -1 for null
//	tagged fields   flexible versions only
//	body            kmsg-encoded request
//
// A response frame is size, correlation id, tagged fields (flexible
// versions, except ApiVersions whose response header is always v0) and
// the kmsg-encoded body.
//
// Each connection has a reader goroutine and a writer goroutine. The reader
// handles requests one at a time in arrival order; a handler either answers
// at once or finishes its answer in a tracked goroutine (acks=-1 produce
// waiting for fsync, long-poll fetch). The writer takes answer slots in
// request order and waits for each, so answers are never reordered while
// produce requests pipeline and share fsyncs. At most maxInFlight requests
// per connection are read ahead of the writer.
//
// Limits: what one client can make the broker hold is bounded, each by a
// Config field (a `herald serve` flag):
//
//	memory     a frame's body buffer grows as its bytes arrive, so a
//	           size announced but not sent costs nothing; frames over
//	           64 KiB first take their size from a budget shared by all
//	           connections (QueuedMaxRequestBytes, Kafka's
//	           queued.max.request.bytes, default 256 MiB) and give it back
//	           once handled: a reader that finds no room stops reading its
//	           socket until there is. Buffers over 8 MiB go back to the
//	           runtime after use.
//	timeouts   a connection with nothing in flight and no request for
//	           IdleTimeout (connections.max.idle.ms, 10 minutes) is
//	           closed; a long-poll fetch is in flight, so not idle. From a
//	           frame's first byte, the frame must arrive within
//	           RequestReadTimeout (60 s, not counting a wait for the
//	           budget), so a client trickling bytes is closed.
//	fetch      a response holds at most FetchMaxBytes of records
//	           (fetch.max.bytes, 55 MiB) whatever the request's max bytes,
//	           except that the first batch may exceed it (KIP-74); a
//	           partition listed twice is answered once.
//	topics     Metadata auto-creates at most AutoCreatePerRequest topics
//	           per request and AutoCreatePerSecond a second (token bucket;
//	           defaults 100 and 100), only for valid names and when the
//	           request allows it (v4+); the rest are answered
//	           UNKNOWN_TOPIC_OR_PARTITION, which clients retry.
//	accept     EMFILE, ENFILE and other passing accept errors are logged
//	           and retried with a backoff (5 ms doubling to 1 s), as
//	           net/http does; the listener never stops while the port is
//	           open.
//
// Decompression of produced batches is capped in the records package
// (records.SetMaxDecompressed, 64 MiB by default).
//
// Fetch sessions (KIP-227, fetch_session.go): a full fetch with epoch 0
// opens a session of its partitions, and the consumer's incremental
// fetches then list and get only what changed; the cache keeps
// Config.MaxFetchSessions sessions.
//
// A key or version Herald does not serve is answered UNSUPPORTED_VERSION
// where the protocol allows it: ApiVersions with its v0 response, and any
// other request whose response carries a top-level error code at that
// version (DescribeAcls, say); the connection stays open. Bad input: a
// frame over the limit, a negative or tiny size, a key or version that
// cannot be answered so, or a malformed header or body closes that
// connection and is logged. Per-partition problems are error codes in
// the response and the connection stays open. A handler panic is recovered,
// logged, and closes only its connection.
//
// Access: every handler, before it touches a resource (a topic, a group,
// a transactional id, the cluster), asks Server.access, or decide for a
// batch (listings, authorized-operations bitfields). decide is the one
// place a request meets a resource: it asks Config.Authorizer
// (access.AllowAll when nil) with the connection's principal
// (access.Anonymous, the SASL user, or the client certificate's), client host, client id and API key, and
// then calls Config.Observe, the hook for an audit log of decisions. The
// operation each API asks for is Kafka's (each handler's doc comment
// names it); a denial is the resource type's *_AUTHORIZATION_FAILED,
// decided before the resource's existence so that names do not leak, and
// a listing (Metadata of all topics, ListGroups, ListTransactions,
// OffsetFetch of all topics) leaves out what the principal may not
// DESCRIBE. A check allocates nothing: Request and Action are values,
// and a handler on the reader goroutine uses the connection's one-action
// buffer.
//
// ACLs: with Config.ACL (internal/acl, `--authorizer acl`) the ACL
// authorizer is the Authorizer and CreateAcls, DescribeAcls and
// DeleteAcls (create_acls.go, describe_acls.go, delete_acls.go) change
// it; without it they answer SECURITY_DISABLED. Tests name a
// connection's principal after its client id (test_principal.go, set
// only from export_test.go) until SASL authenticates.
//
// Share groups (KIP-932, internal/share): ShareGroupHeartbeat,
// ShareGroupDescribe, ShareFetch, ShareAcknowledge and the share-group
// offset APIs (share_*.go) with Config.Share; GROUP config resources
// (IncrementalAlterConfigs, AlterConfigs, DescribeConfigs) are the share
// groups' configs; ListGroups lists share groups as type "share" and
// DeleteGroups deletes them.
//
// Protected topics (broker.IsProtected): DeleteTopics, DeleteRecords and
// CreatePartitions on __consumer_offsets, __transaction_state,
// __share_group_state and _schemas answer INVALID_TOPIC_EXCEPTION, and so
// does a Produce to the three internal topics ("cannot append to internal topic", as Kafka
// answers): only their coordinators write them, straight to the log. A
// Produce to _schemas is taken only if every record is a schema registry
// record. AlterConfigs on them is allowed, as in Kafka.
//
// Storage errors: a full disk or an I/O error is KAFKA_STORAGE_ERROR for
// Produce (also when fsync fails), CreateTopics and the other admin
// writes, with a message naming the cause and never a server path. An
// OffsetCommit or TxnOffsetCommit whose write fails that way answers
// NOT_COORDINATOR, as Kafka's coordinators map a storage error; clients
// find the coordinator again and retry. The broker logs the first failure
// of a partition at ERROR with the free space and its recovery at INFO,
// and appends resume by themselves once space returns.
package kafka
