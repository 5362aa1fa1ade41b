// Package stream is stateful stream processing inside a Go service, over
// Kafka topics (Herald's or any Kafka cluster's): a typed topology of
// operators, tables and aggregations in local pebble stores backed by
// compacted changelog topics, event-time windows, joins and complex
// event patterns, scaled out through a consumer group.
//
//	top := stream.NewTopology()
//	lines := stream.Source(top, "lines", stream.String(), stream.String())
//	words := stream.FlatMapValues(lines, func(_, l string) []string { return strings.Fields(l) })
//	byWord := stream.SelectKey(words, func(_, w string) string { return w })
//	counts := stream.Count(stream.GroupByKey(byWord, stream.String(), stream.String()), "counts")
//	counts.ToStream().To("word-counts", stream.String(), stream.Int64())
//
//	app, err := stream.New(top, stream.Config{AppID: "wc", Brokers: brokers, StateDir: "/var/lib/wc"})
//	...
//	err = app.Run(ctx) // until ctx is done
//	n, ok, err := counts.Get(app, "herald") // interactive query, from another goroutine
//
// # Topology
//
// Source reads a topic with a Codec for keys and one for values (JSON,
// String, Bytes, Int64, or Registry over a schema registry). Stream
// methods keep the types (Filter, Branch, Merge, Peek, To); functions
// change them (Map, MapValues, FlatMap, FlatMapValues, SelectKey),
// because Go methods cannot have type parameters. Grouping a stream whose
// keys may have changed repartitions it through the internal topic
// <AppID>-group-<n>-repartition; Repartition does so by name.
//
// Tables: TableOf reads a topic as a table; Count, Reduce and Aggregate
// fold a Grouped stream into one. A Table's Changes stream carries old
// and new values, ToStream the new ones. Windows: WindowedAggregate and
// WindowedCount over Tumbling, Hopping or Sliding windows (Kafka
// Streams' SlidingWindows: a window per record difference of at most the
// size, both ends included), SessionAggregate and
// SessionCount over SessionWindows; each with a grace period, late
// records dropped and counted, results on every update or on close.
// Joins: JoinTable and LeftJoinTable (stream-table), JoinTables, and
// JoinStreams within JoinWindows. Patterns: Detect runs a Pattern (Begin,
// FollowedBy, Next, NotFollowedBy, Times, OneOrMore, Optional, Within,
// AfterMatch) per key.
//
// Punctuate calls a function per task every interval of stream time or
// of the wall clock, and it may emit records.
//
// Topology.Describe prints the graph: subtopologies with their source
// topics, then each processor with its parents, store and sink;
// Topology.Dot gives it as a Graphviz digraph and Topology.Mermaid as a
// Mermaid flowchart. App.Metrics gives each task's records in and out,
// lag, late and skipped records, restored changelog records, dropped
// partial matches and punctuations (count, longest, total);
// App.RestoreProgress each store's restore (records, offsets read of the
// changelog), also logged every 5s while it runs. App.Collector exposes
// both to Prometheus (herald_stream_records_in_total and the like, by
// app, subtopology and partition; see Collector):
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(app.Collector())
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Interactive queries
//
// Table.Get and FetchWindows read the local stores (ErrNotLocal for a
// key another instance owns). Over HTTP, any instance answers for any
// key: serve the App (an http.Handler) where Config.Endpoint says.
//
//	app, _ := stream.New(top, stream.Config{..., Endpoint: "10.0.0.7:8080"})
//	go http.ListenAndServe(":8080", app)
//
//	GET /stores/counts/keys/herald                  -> {"key":"herald","value":42}
//	GET /stores/win/keys/herald/windows?from=0&to=T -> {"key":"herald","windows":[{"start":...,"end":...,"value":...}]}
//
// An instance that does not run the key's task proxies the request to
// the one the group assigned it (each member advertises its Endpoint in
// the group metadata); see ServeHTTP.
//
// # Standby replicas
//
// With Config.Standbys = n, n other instances keep a warm copy of each
// task's stores by tailing its changelogs, so a task that moves to one
// of them (its owner failed or left) restores only what the copy had
// not applied yet. App.Standbys lists the copies and their offsets.
//
// # Runtime
//
// An App is one member of the consumer group AppID. The sources are
// split into subtopologies (sources whose records meet in a join or merge
// are one); a task runs one subtopology for one partition number, with
// its own stores, and the group's assignment decides where tasks run. At
// start the App checks that the topics of each subtopology have one
// partition count (co-partitioning) and creates the internal topics.
//
// Stores cache their writes between commits. A commit produces each
// store's cached keys to its changelog (one record per key, latest
// value), waits for those and every output record to be acknowledged,
// writes the cache and the changelog offset reached (the checkpoint) to
// pebble in one batch, then commits the input offsets. Under ExactlyOnce
// the outputs, changelog records and offsets are one Kafka transaction,
// and pebble is written only once it commits; an aborted transaction
// drops the tasks, which start again from their checkpoints. A task that
// starts (after a restart, or moved by a rebalance) replays its stores'
// changelogs from their checkpoints (read_committed) before it processes
// a record: an empty state dir restores everything.
//
// Rebalances are let through only right after a commit, so a revoked
// task has nothing uncommitted and no transaction spans a rebalance.
//
// # Formats
//
// Part of the format of every store and changelog; do not change. A
// tumbling or hopping window store's changelog is compact,delete with
// retention.ms size+grace+24h: closed windows are deleted locally, not
// tombstoned, and a restore deletes again those it brings back. Each
// member's group metadata carries its endpoint (group.go). A store's
// pebble database:
//
//	0x00 "changelog"   -> uint64 BE: changelog offset to restore from
//	0x01 <store key>   -> value
//
// Store keys (also the changelog record keys) by kind of store:
//
//	table, aggregate   <key bytes>
//	window             'w' start(8, BE ms) <key>      -> aggregate
//	                   'c'                            -> closed(8): last closed window start
//	sliding window     'k' <key>                      -> n(4) {ts(8) len(4) value}* m(4) {start(8) len(4) aggregate}*
//	                   'd' due(8) <key>               -> empty (keys by next expiry)
//	session            'S' len(4) <key> start(8)      -> end(8) aggregate
//	join buffer        len(4) <key> ts(8) seq(8)       -> value
//	pattern            <key bytes>                     -> JSON partial matches
//
// A session keeps its store key while it grows at its end, so a record
// that extends one is one store write and one changelog record; the
// sessions by end, for closing, are a task's index in memory, built from
// the store when the task starts. Session stores written before this
// format ('s' len(4) <key> end(8) start(8) -> aggregate, and an index 'e'
// end(8) start(8) <key> -> empty) need no reset: a task that starts over
// one rewrites each session in the format and deletes its old keys, and
// the changelog records of these writes, produced at the task's first
// commit, leave the changelog in the format once compacted. An App of an
// older version cannot read a store or changelog migrated so: to go
// back, reset the App (delete its changelog topics and state dirs).
//
// Windowed keys written by WindowedCodec are <key> start(8) end(8), BE
// Unix milliseconds.
package stream
