// Package corrindex is the broker's correlation index: it finds every
// event of a business flow (the CloudEvents records that share a
// ce_correlationid, as the event package writes them) across all topics
// without scanning them, for the console's flow trace.
//
//	x, err := corrindex.Open(corrindex.Config{Dir: filepath.Join(dataDir, broker.CorrelationIndexDir), Broker: b})
//	if err != nil { ... }
//	defer x.Close()
//	evs, err := x.Trace(ctx, "order-42")        // a correlation id
//	evs, err = x.Trace(ctx, "evt-payment-7")    // or any event's own id: its flow
//
// # Design
//
// Where the index is fed. An indexer goroutine tails every partition (its
// high watermark is an atomic load) and indexes the records past each
// partition's next offset, instead of the produce path indexing each batch
// as it appends it. Reading headers means decoding records, and
// decompressing compressed batches: on the produce path that would cost
// every producer latency and throughput whether or not anybody ever
// traces. Tailing keeps produce unchanged; the index trails the log by at
// most Config.Interval (200ms) in steady state, and Trace first runs a
// catch-up pass, so a lookup never misses a record below the high
// watermark. The indexer reads what consumers read (the high watermark,
// durable under durability always), so it never indexes a record a crash
// can take back, except under durability none/interval (see recovery).
//
// What is stored. One pebble store per broker, in the data dir's
// correlation-index directory; pebble is already a dependency (stream's
// stores), keeps memory bounded (an 8 MiB block cache and 4 MiB memtables
// whatever the index's size), compresses, recovers its own state after a
// crash from its write-ahead log, and answers a prefix scan in a few
// block reads. The alternative, an append-only file per partition with an
// in-memory map, needs memory in proportion to the ids, or per-segment
// sorted files woven into the storage engine's roll, retention and
// compaction; the store stays outside the storage engine instead. The
// keys (big endian; part of the on-disk format, see keys.go):
//
//	epoch [4] | 'c' | fnv64a(ce_correlationid) [8] | pid [4] | offset [8]  ->  ""
//	epoch [4] | 'i' | fnv64a(ce_id)            [8] | pid [4] | offset [8]  ->  ""
//	epoch [4] | 'p' | topic id [16] | partition [4]                        ->  pid [4]
//	epoch [4] | 'w' | pid [4]                                              ->  next offset to index [8]
//
// The epoch goes up every 2^20 entries and at every open. Keys that began
// with the hash would land all over the key space, so every flush would
// overlap every table on disk and each compaction would rewrite the
// level below, and that write traffic competes with the logs' fdatasyncs
// for the disk; with the epoch first, a flushed table lies after every
// table already written and pebble moves it down instead of rewriting.
// The price is a seek per epoch per lookup: 20 for 10 million records.
//
// A flow's entries are one prefix scan per epoch; the records are then read back
// (one batch read each) and their headers compared with the id, so hash
// collisions and stale entries are filtered out rather than shown. A pid
// names a partition by its topic's id, so a topic deleted and created
// again under the same name starts a fresh partition in the index.
//
// Recovery. A pass commits its entries and the partition's next offset in
// one pebble batch (every 4 MiB of entries). The store has no write-ahead
// log: a batch lands whole in one memtable, and a memtable is flushed
// whole, so after a crash the store holds a prefix of the batches, each
// with its next offset, and the next pass indexes the records after it
// again (setting a key again is harmless); Close flushes. If the log lost
// an unsynced tail that had been indexed (durability none or interval),
// the next offset is moved back to the high watermark and the new records
// there are indexed; the stale entries fail the read-back check. An index
// that does not open is removed and rebuilt from the logs
// (internal/server), as it is derived data.
//
// Producers' cost. Background passes read at most 8 MiB of log a
// partition and then idle three times as long as they took, so the
// indexer takes about a quarter of a core at most; under a sustained
// produce rate above what that indexes, the index falls behind (a Trace
// catches up first) rather than slow producers. What remains is the
// indexer's reads and decoding and pebble's flushes, which share the CPU
// and the disk with the broker: BenchmarkProduceIndexed measures it between batches and
// BenchmarkProduceIndexedFullLoad at full load (one broker, the index
// opened and closed around alternate blocks);
// `herald serve --correlation-index=false` turns the index off.
//
// Retention. Entries of records below their partition's log start
// (retention, DeleteRecords) and of deleted topics are skipped when read
// back at once, and removed by a sweep every Config.SweepInterval (10
// minutes), which reads the whole index once off the produce path.
//
// Costs, measured by `make bench-trace` (10,000,000 records in 3-event
// flows over 3 topics, 2 cores shared with other work): indexing at about
// 375,000 records a second, the store at 579 MiB; a trace in 6.7 ms
// (about 40 seeks over 20 epochs, then 3 batch reads) against 3.9 s for a
// scan of every record's headers, about 580 times faster. Records without
// CloudEvents headers cost the indexer a decode and nothing in the store.
// Structured-mode CloudEvents (the attributes in a JSON value) are not
// indexed: the SDK writes binary mode.
//
// Thread safety: every method may be called concurrently. passMu
// serializes indexing passes and sweeps; mu guards the partition table
// and is taken under passMu (docs/lock-order.md); no pebble write runs
// under mu.
package corrindex
