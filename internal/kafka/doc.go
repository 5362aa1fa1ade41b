// Package kafka serves the Apache Kafka wire protocol: it accepts
// connections, reads frames, decodes requests with franz-go's kmsg,
// dispatches them through one table of API keys and versions (which is
// also what ApiVersions answers), and writes the responses in request
// order.
//
//	s := kafka.New(kafka.Config{Broker: b, AdvertisedHost: "localhost", AdvertisedPort: 9092})
//	go s.Serve(ln)
//	...
//	s.Close() // stop accepting, answer what was read, close, wait
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
// Bad input: a frame over the limit, a negative or tiny size, an unknown
// API key, an unsupported version (except ApiVersions, answered with the
// v0 UNSUPPORTED_VERSION response) or a malformed header or body closes
// that connection and is logged. Per-partition problems are error codes in
// the response and the connection stays open. A handler panic is recovered,
// logged, and closes only its connection.
//
// Protected topics (broker.IsProtected): DeleteTopics, DeleteRecords and
// CreatePartitions on __consumer_offsets, __transaction_state and
// _schemas answer INVALID_TOPIC_EXCEPTION, and so does a Produce to the
// two internal topics ("cannot append to internal topic", as Kafka
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
