// Package broker owns Herald's topics: their partitions (each a
// internal/log.Log in <data-dir>/<topic>-<partition>/), their configs, and
// the metadata log that makes both survive restarts.
//
//	b, err := broker.Open(broker.Config{DataDir: dir, AutoCreateTopics: true})
//	if err != nil { ... }
//	defer b.Close()
//	t, err := b.CreateTopic("orders", 3, map[string]string{"retention.ms": "-1"}, false)
//	res, _, err := t.Partition(0).Append(batch, time.Now()) // then Log.WaitDurable(res) for acks=-1
//
// Lookups (Topic, TopicByID, Topics) read an immutable snapshot and take no
// lock, so the produce and fetch paths never wait for an admin change.
// Changes (create, delete, configs, partitions) are serialized by adminMu:
// each is written to the metadata log and fsynced before the new snapshot is
// published.
//
// Topic configs that take effect: retention.ms, retention.bytes,
// segment.bytes, segment.ms, cleanup.policy, delete.retention.ms,
// index.interval.bytes and herald.durability (handed to the log), and
// max.message.bytes and message.timestamp.type (applied on append). Other
// standard Kafka topic configs are validated and stored but have no effect;
// unknown names are INVALID_CONFIG, as in Kafka.
//
// Partition.Append validates a batch completely (CRC included) before the
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
// client (protected.go says more).
//
// Storage errors (IsStorageError: ENOSPC, EIO, a failed log) become
// KAFKA_STORAGE_ERROR with a message that names the cause and no path.
// Each partition keeps a storage health (StorageHealth, for metrics):
// StorageFailed logs the first failure at ERROR with the filesystem's
// free bytes (statfs) and counts the others, StorageOK logs the recovery
// at INFO. The coordinators call both for their own writes.
//
// Errors for clients are *Error values carrying a kerr code and a message;
// Code maps any error to the code and message a response needs.
package broker
