// Package log is Herald's storage engine: the segmented, append-only log of
// one partition.
//
// # On disk
//
// One directory per partition. Segments are named by the offset of their
// first batch, zero-padded to 20 digits:
//
//	<dir>/00000000000000000000.log        record batches, back to back
//	<dir>/00000000000000000000.index      sparse offset index
//	<dir>/00000000000000000000.timeindex  sparse time index
//	<dir>/00000000000000004096.log        the next segment …
//	<dir>/log-start-offset                the log start offset set by DeleteRecords
//
// A .log file holds Kafka RecordBatch v2 bytes exactly as producers sent
// them (compressed batches stay compressed), with the base offset and leader
// epoch written in by the log (see package records for the batch layout).
// Nothing else is in the file: a batch's own length field and CRC-32C are
// what recovery uses to find and check it.
//
// Index files are written when a segment is closed (rolled, or the log is
// closed cleanly); they are a cache, rebuilt from the .log file when missing,
// when their trailing CRC-32C (over all entries) fails, or when they disagree
// with the .log file. Entries, all big-endian:
//
//	.index:      relativeOffset uint32 | position uint32             (8 bytes)
//	.timeindex:  maxTimestamp int64 | relativeOffset uint32 | position uint32  (16 bytes)
//
// An offset index entry (r, p) says the batch whose base offset is
// segmentBase+r starts at byte p. A time index entry (t, r, p) says no batch
// before or at that batch has a timestamp larger than t. An entry is added
// at most every IndexIntervalBytes bytes.
//
// # Durability
//
// Under Durability{Always: true} an append is acknowledged only after
// fdatasync. One flusher goroutine syncs the active segment for every append
// that is waiting (group commit): while one sync runs, later appends queue up
// and the next sync covers them all. Readers see only synced data, so a
// consumer never reads a record that a crash could take back. A failed
// fdatasync leaves the page cache in an unknown state (it cannot be retried
// safely), so the log refuses further appends until it is reopened, and
// recovery decides what survived.
//
// Under an interval policy appends are acknowledged once written, and the
// flusher syncs every interval.
//
// # Recovery
//
// Open scans the active (last) segment from its last index entry to the end,
// checking every batch's length, magic and CRC. The first torn or corrupt
// batch and everything after it are cut off and reported, with the byte
// count and the offset from which data was lost. Closed segments were synced
// when they were rolled, so only their indexes are checked.
//
// # Usage
//
//	l, err := log.Open(dir, log.DefaultConfig(), log.Options{})
//	if err != nil { ... }
//	defer l.Close()
//	res, err := l.Append(batch)          // durable when it returns, under Always
//	buf, err := l.Read(buf[:0], res.BaseOffset, 1<<20, true)
package log
