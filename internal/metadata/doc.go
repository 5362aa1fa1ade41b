// Package metadata keeps the cluster's topic metadata (names, topic ids,
// partition counts, configs) and its ACLs (create_acls and delete_acls
// records, see ACL; internal/acl gives them meaning) and its client quotas
// (set_quotas records, see Quota; internal/quota gives them meaning) and
// its dynamic broker configs (set_broker_configs records, see
// BrokerConfigs) and consumer group configs (set_group_configs records,
// see GroupConfigs; internal/broker gives both meaning) in an
// append-only log of checksummed records in
// the data dir, with a checksummed snapshot of the same state beside it. The
// log is replayed at start, so a restart finds every topic and config; the
// snapshot is the second copy that `herald repair` rebuilds a damaged log
// from.
//
// # The log
//
// The file <data-dir>/herald-metadata.log is a sequence of frames:
//
//	offset  size  field
//	     0     4  length    bytes of payload (big-endian, at most 64 MiB)
//	     4     4  crc       CRC-32C (Castagnoli) of payload
//	     8     n  payload   one Record as JSON
//
// Every Append is fsynced before it returns. A failed Append is cut back
// out of the file (truncate and fsync), so a change reported as failed does
// not come back at the next start.
//
// # The snapshot
//
// The file <data-dir>/herald-metadata.snapshot holds the whole state after
// the log's first log-bytes bytes. It is rewritten after every Append and at
// every Open, atomically: a temporary file, fsync, rename, fsync of the dir.
//
//	offset  size  field
//	     0     8  magic      "HRLDMSN1"
//	     8     8  log-bytes  length of the log the snapshot covers (big-endian)
//	    16     4  length     bytes of payload (big-endian)
//	    20     4  crc        CRC-32C of bytes 0-19 and the payload
//	    24     n  payload    JSON: {"cluster_id": ..., "topics": [{"name", "id", "partitions", "configs"}], "acls": [ACL...], "quotas": [Quota...],
//	                         "scram": [{"user", "mechanism", "salt", "iterations", "stored_key", "server_key"}]}
//
// # SCRAM credentials
//
// Records set_scram and delete_scram (scram.go) carry the users' SCRAM
// credentials (KIP-554): salt, iterations, StoredKey and ServerKey,
// never a password. State.Scram holds them after replay; compaction and
// the snapshot keep them.
//
// # Recovery rules (Open)
//
//   - A bad frame (cut short, a length past the end or over the limit, a
//     checksum or JSON mismatch) with no valid frame anywhere after it is a
//     torn tail, the mark of a crash in the middle of an Append that was
//     never acknowledged: it is cut, and the cut is logged with the byte
//     counts.
//   - A bad frame followed by a valid frame is damage, not a torn write:
//     Open refuses with a *CorruptError naming the file, the byte position
//     and the `herald repair <data-dir>` command, and changes nothing.
//   - If the snapshot is intact, covers more of the log than is valid, and
//     holds a different state, the log lost acknowledged records (a
//     truncation or damage in its last frames): Open refuses likewise.
//   - A missing log in a dir that holds a snapshot or partition directories,
//     or a log with nothing valid in a dir with partition directories, is
//     refused likewise: starting empty would hide every topic and let a new
//     topic of the same name start on top of old data.
//   - A damaged snapshot beside an intact log is logged and written again
//     from the log; a missing one (a data dir from before snapshots) is
//     written.
//   - A log with many more records than live topics is rewritten, through a
//     temporary file and a rename, as one record per topic.
//
// Every refusal matches errors.Is(err, ErrCorrupt).
//
// # Repair
//
// Repair (the `herald repair` command) takes the data dir's lock, reports
// what it finds, and with Execute renames the damaged log aside
// (herald-metadata.log.damaged-<UTC time>, never deleted) and writes a new
// log and snapshot from: the snapshot plus every valid frame after what it
// covers; or, without a usable snapshot, every valid frame of the log. Topics
// whose partition directories exist but that the rebuilt state lacks are
// recreated with default configs.
//
// Usage:
//
//	ml, st, err := metadata.Open(vfs.Default, dataDir, logger)
//	if errors.Is(err, metadata.ErrCorrupt) { ... } // tell the operator to run herald repair
//	for name, t := range st.Topics { ... }
//	err = ml.Append(metadata.Record{Type: metadata.CreateTopic, Topic: "orders", ID: id, Partitions: 3})
//
//	rep, err := metadata.Repair(vfs.Default, dataDir, metadata.RepairOptions{Execute: true})
package metadata
