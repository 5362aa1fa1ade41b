// Package broker owns Herald's topics: their partitions (each a
// internal/log.Log in <data-dir>/<topic>-<partition>/), their configs, and
// the metadata log that makes both survive restarts.
//
//	b, err := broker.Open(broker.Config{DataDir: dir, AutoCreateTopics: true})
//	if err != nil { ... }
//	defer b.Close()
//	t, err := b.CreateTopic("orders", 3, map[string]string{"retention.ms": "-1"}, false)
//	a, err := t.Partition(0).Append(batch, time.Now(), broker.AckAll)
//	if err == nil && a.Wait { err = a.Durable() } // durable and visible
//
// # The partition API
//
// A Partition's methods are the only way to its log; its *log.Log is not
// exported. Every path goes down through them and back once:
//
//   - Append takes a produced batch: max.message.bytes, the batch's shape,
//     schema and _schemas checks, then, for a batch with a producer id,
//     the producer state's Check (sequence, epoch, transaction; held
//     across the append) and Done, with the log's own validation (CRC,
//     LogAppendTime stamp, compacted keys) in between. The Appended it
//     returns says whether the answer must wait (Wait) and waits
//     (Durable, which leads the group-commit fsync itself).
//   - Write takes a batch the broker built (coordinator records,
//     transaction markers); its sync starts at once, Durable waits for it.
//   - Read returns whole batches with the high watermark, last stable
//     offset, log start and (read_committed) aborted transactions, taken
//     in that order in one call.
//
// The durability decision is made once, from the topic's effective config
// (herald.durability, defaulting to the broker's): the log's flush policy
// and Appended.Wait both come from it; the protocol layer only says what
// the producer asked for (Ack). The producer state (txn.Manager) plugs in
// through the ProducerState interface (Broker.SetProducerState), so the
// broker never imports the transaction package.
//
// Lookups (Topic, TopicByID, Topics) read an immutable snapshot and take no
// lock, so the produce and fetch paths never wait for an admin change.
// Changes (create, delete, configs, partitions) are serialized by adminMu:
// each is written to the metadata log and fsynced before the new snapshot is
// published.
//
// Creating a topic or adding partitions opens the new partitions without
// adminMu (the name is reserved first), so one create of 100,000
// partitions does not hold up the others; it logs its progress every few
// seconds (as does Open, over all topics). Partitions open 16 at a time,
// and the data dir is synced once for all of them rather than once each.
// CreateTopicWithin and CreatePartitionsWithin return after the
// request's timeout at the latest: REQUEST_TIMED_OUT for a create still
// running, which then completes in the background (create.go).
//
// Every partition's segment files go through one descriptor cache
// (log.FileCache) of Config.MaxOpenFiles files, by default the soft
// RLIMIT_NOFILE less a quarter (at least 256) for connections and other
// files; idle files are closed and reopened on use, so the number of
// partitions is not bounded by the descriptor limit. RaiseFileLimit, called
// at start by the server, raises the soft limit to the hard one and logs
// both.
//
// The data dir is locked (vfs.LockDir: an flock on <data-dir>/herald.lock,
// which names the holder's pid) from Open to Close, so a second broker, in
// this process or another, and `herald repair` refuse to use it. The dir is
// created 0700 and the broker's own files in it 0600. Open refuses damaged
// metadata (errors.Is(err, metadata.ErrCorrupt)); see package metadata for
// the rules and for Repair.
//
// Creating a topic, and adding partitions, is atomic across failures and
// crashes: the new partitions are opened first and the metadata record is
// appended last, so until that record is fsynced the change does not
// exist. A failure removes the new partitions and returns
// KAFKA_STORAGE_ERROR; a crash leaves at most new, empty directories,
// which are logged at start and removed by the next create of the name. A
// directory in the way of a new partition that holds records (a delete
// that crashed before removing it, or data whose metadata was lost) is
// never deleted: it is renamed to <dir>.orphaned.<unix nanos> and logged.
// The other way round, a topic whose partition directory is missing at Open
// is refused (naming the directory) rather than restarted empty at offset
// 0, which would hand out acknowledged offsets again.
//
// Topic configs that take effect: retention.ms, retention.bytes,
// segment.bytes, segment.ms, cleanup.policy, delete.retention.ms,
// index.interval.bytes and herald.durability (handed to the log), and
// max.message.bytes and message.timestamp.type (applied on append). Other
// standard Kafka topic configs are validated and stored but have no effect;
// unknown names are INVALID_CONFIG, as in Kafka.
//
// Append validates a batch completely (CRC included) before the
// append time of a LogAppendTime topic is stamped into it, so a corrupt
// batch is CORRUPT_MESSAGE whatever the timestamp type.
//
// Protected topics: IsProtected names __consumer_offsets,
// __transaction_state (the coordinators write them directly to the log)
// and RegistryTopic (_schemas); the protocol handlers refuse to delete
// them, delete their records or add partitions (RefuseProtected) and to
// produce to the internal ones (RefuseProduce). Append takes a batch for
// _schemas only if every record is a well-formed schema registry record:
// the registry writes through the Kafka protocol, embedded or standalone,
// and without authentication the broker cannot tell it from another
// client (protected.go says more). On a compacted topic
// (cleanup.policy has compact) Append refuses a batch holding a record
// with a null key with INVALID_RECORD, as Kafka does; an empty key is a
// key.
//
// Storage errors (IsStorageError: ENOSPC, EIO, a failed log) become
// KAFKA_STORAGE_ERROR with a message that names the cause and no path
// (the cause stays reachable with errors.As for IsStorageError). Each
// partition keeps a storage health (StorageHealth, for metrics), updated
// by its own Append, Write and Durable: the first failure is logged at
// ERROR with the filesystem's free bytes (statfs) and the others
// counted, and the recovery is logged at INFO.
//
// StartVerify checks every partition's log in the background after start,
// one partition at a time and paced (Log.Verify), and logs each damaged
// range at ERROR with topic, partition, offsets, file and byte range. The
// operator's choice (VerifyConfig.OnCorruption, `herald serve
// --on-corruption`) is "serve": fetches of the damaged offsets answer
// CORRUPT_MESSAGE and everything else serves, or "stop": the broker shuts
// down with the report.
//
// Errors for clients are *Error values carrying a kerr code and a message;
// Code maps any error to the code and message a response needs.
package broker
