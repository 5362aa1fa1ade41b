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
package kafka
